package image

import (
	"archive/tar"
	"bytes"
	"cmp"
	"crypto/x509"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Options are the inputs of one build.
type Options struct {
	// Binary is a static Linux dpa executable (CGO_ENABLED=0): the image has no libc.
	Binary string
	// CABundle is a PEM file of trusted CAs; DefaultCABundle when empty.
	CABundle string
	// Version (required) and Revision become the image's version and revision labels.
	Version, Revision string
	// Created is every file's modification time and the image's creation time (see Epoch);
	// the zero time means the Unix epoch.
	Created time.Time
}

// Epoch is the time a reproducible build stamps on the image: SOURCE_DATE_EPOCH (seconds
// since 1970, as reproducible-builds.org defines it) when getenv has it, else the Unix epoch.
func Epoch(getenv func(string) string) (time.Time, error) {
	s := getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds since 1970", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

// Build makes DPA's image around o.Binary. The same inputs give the same digest.
func Build(o Options) (v1.Image, error) {
	if o.Version == "" {
		return nil, errors.New("a version is required (the " + LabelVersion + " label)")
	}
	created := o.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	created = created.UTC()

	bin, err := os.Open(o.Binary)
	if err != nil {
		return nil, err
	}
	defer bin.Close()
	arch, err := staticLinuxELF(bin)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Binary, err)
	}
	caFile := cmp.Or(o.CABundle, DefaultCABundle)
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w (install ca-certificates or choose another bundle)", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", caFile)
	}

	data, err := DPA.layer(created, bin, ca)
	if err != nil {
		return nil, err
	}
	// The layer is gzipped once and kept: computing its digest and writing the tarball would
	// otherwise each compress the binary again.
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer, History: v1.History{
		Created:   v1.Time{Time: created},
		CreatedBy: "dpa-image (internal/image)",
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: created}
	cf.OS = "linux"
	cf.Architecture = arch
	cf.Config = DPA.Config(o.Version, o.Revision)
	return mutate.ConfigFile(img, cf)
}

// Write saves img as a `docker load` tarball tagged tag. path is replaced only once the
// tarball is complete.
func Write(path, tag string, img v1.Image) error {
	t, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if err := tarball.WriteToFile(tmp.Name(), t, img); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// goarch maps the ELF machines Go builds for Linux servers to image architectures.
var goarch = map[elf.Machine]string{
	elf.EM_X86_64:  "amd64",
	elf.EM_AARCH64: "arm64",
	elf.EM_RISCV:   "riscv64",
	elf.EM_S390:    "s390x",
}

// staticLinuxELF returns the architecture of a static Linux executable and refuses anything
// else: a scratch image has no dynamic loader to run it with.
func staticLinuxELF(r io.ReaderAt) (string, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return "", fmt.Errorf("not an ELF executable: %w", err)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return "", fmt.Errorf("not an executable (ELF type %s)", f.Type)
	}
	if f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		return "", fmt.Errorf("not a Linux executable (OS ABI %s)", f.OSABI)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			interp, _ := io.ReadAll(p.Open())
			return "", fmt.Errorf("dynamically linked (interpreter %s), but the image has no libc: build dpa with CGO_ENABLED=0",
				strings.TrimRight(string(interp), "\x00"))
		}
	}
	arch, ok := goarch[f.Machine]
	if !ok {
		return "", fmt.Errorf("unsupported machine %s", f.Machine)
	}
	return arch, nil
}

// layer is the uncompressed tar of l's files, every entry stamped with mtime.
func (l Layout) layer(mtime time.Time, bin *os.File, ca []byte) ([]byte, error) {
	st, err := bin.Stat()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(int(st.Size()) + len(ca) + 64<<10)
	tw := tar.NewWriter(&buf)
	for _, f := range l.Files {
		h := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     strings.TrimPrefix(f.Path, "/"),
			Mode:     f.Mode,
			Uid:      f.UID,
			Gid:      f.GID,
			ModTime:  mtime,
		}
		var body io.Reader
		switch f.Kind {
		case Dir:
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		case Embedded:
			b, err := rootfs.ReadFile("rootfs" + f.Path)
			if err != nil {
				return nil, err
			}
			h.Size, body = int64(len(b)), bytes.NewReader(b)
		case Binary:
			h.Size, body = st.Size(), io.NewSectionReader(bin, 0, st.Size())
		case CABundle:
			h.Size, body = int64(len(ca)), bytes.NewReader(ca)
		default:
			return nil, fmt.Errorf("%s: unknown kind %d", f.Path, f.Kind)
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if body != nil {
			if _, err := io.Copy(tw, body); err != nil {
				return nil, fmt.Errorf("%s: %w", f.Path, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
