// Command dpa-image writes dpa's container image as a `docker load` tarball without a
// container engine: the image internal/image defines, around a static dpa binary. It prints
// the image's digest.
//
//	dpa-image -binary bin/dpa -o bin/dpa-image.tar -tag dataplane-aggregator/dpa:v0.1.0 \
//	  -version v0.1.0 -revision "$(git rev-parse --short HEAD)"
//
// File times and the creation time are SOURCE_DATE_EPOCH, else 1970: the same binary gives
// the same digest.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/dataplane-aggregator/dpa/internal/image"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "dpa-image:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dpa-image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o image.Options
	fs.StringVar(&o.Binary, "binary", "bin/dpa", "the static dpa executable (CGO_ENABLED=0)")
	fs.StringVar(&o.CABundle, "ca-bundle", image.DefaultCABundle, "PEM bundle of trusted CAs, installed at "+image.CABundlePath)
	fs.StringVar(&o.Version, "version", "", "the image's version label, e.g. v0.1.0 (required)")
	fs.StringVar(&o.Revision, "revision", "", "the image's revision label: the commit the binary was built from")
	out := fs.String("o", "bin/dpa-image.tar", "the tarball to write")
	tag := fs.String("tag", "", "the image's tag (default "+image.Repository+":<version>)")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *tag == "" {
		*tag = image.Repository + ":" + o.Version
	}
	var err error
	if o.Created, err = image.Epoch(os.Getenv); err != nil {
		return err
	}
	img, err := image.Build(o)
	if err != nil {
		return err
	}
	if err := image.Write(*out, *tag, img); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	id, err := img.ConfigName()
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s: %s (docker load; image ID %s)\n", *out, *tag, id)
	fmt.Fprintln(stdout, digest)
	return nil
}
