package e2e

import (
	"archive/tar"
	"bytes"
	"cmp"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/dataplane-aggregator/dpa/internal/image"
)

// TestImage builds dpa's container image from the binary under test the way `make image-tar`
// does, checks every file and config field against image.DPA, starts the server from the
// image's filesystem as the image's user, and holds the Dockerfile — the recipe for
// `docker build`, which cannot run here — to the same definition.
func TestImage(t *testing.T) {
	t.Run("dockerfile", testDockerfile)

	created, err := image.Epoch(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	opts := image.Options{Binary: dpaBin, Version: "v0.0.0-e2e", Revision: "0123abc", Created: created}
	tag := image.Repository + ":" + opts.Version
	img := buildImage(t, opts, tag)

	t.Run("config", func(t *testing.T) {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
			t.Errorf("platform %s/%s, want linux/%s (the binary's)", cf.OS, cf.Architecture, runtime.GOARCH)
		}
		if !cf.Created.Equal(created) {
			t.Errorf("created %s, want %s", cf.Created, created)
		}
		compareConfig(t, "the image", cf.Config, image.DPA.Config(opts.Version, opts.Revision))
	})

	t.Run("files", func(t *testing.T) {
		entries := layerEntries(t, img)
		var got []string
		for _, e := range entries {
			got = append(got, e.path)
		}
		var want []string
		for _, f := range image.DPA.Files {
			want = append(want, f.Path)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("the layer holds\n  %q\nwant image.DPA.Files\n  %q", got, want)
		}
		for i, f := range image.DPA.Files {
			checkEntry(t, entries[i], f, created)
		}
		checkUserExists(t, entries, image.DPA.User)
	})

	t.Run("reproducible", func(t *testing.T) {
		// buildImage showed the tarball holds what Build makes: comparing Build's is enough.
		again, err := image.Build(opts)
		if err != nil {
			t.Fatal(err)
		}
		d1, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		d2, err := again.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if d1 != d2 {
			t.Errorf("two builds from the same binary: digests %s and %s", d1, d2)
		}
	})

	t.Run("runs from its filesystem", func(t *testing.T) {
		testImageRuns(t, img)
	})
}

// buildImage builds through the package as cmd/dpa-image does, writes the tarball, and
// returns the image read back from it (so every check sees what `docker load` would).
func buildImage(t *testing.T, opts image.Options, tag string) v1.Image {
	t.Helper()
	built, err := image.Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dpa-image.tar")
	if err := image.Write(file, tag, built); err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(file, &ref)
	if err != nil {
		t.Fatalf("reading the tarball back by its tag %s: %v", tag, err)
	}
	want, err := built.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := img.Digest(); err != nil || got != want {
		t.Fatalf("the tarball holds image %s (%v), Build made %s", got, err, want)
	}
	return img
}

// compareConfig reports every field of got that differs from want, then anything else.
func compareConfig(t *testing.T, what string, got, want v1.Config) {
	t.Helper()
	for _, c := range []struct {
		field     string
		got, want any
	}{
		{"User", got.User, want.User},
		{"Entrypoint", got.Entrypoint, want.Entrypoint},
		{"Cmd", got.Cmd, want.Cmd},
		{"WorkingDir", got.WorkingDir, want.WorkingDir},
		{"ExposedPorts", got.ExposedPorts, want.ExposedPorts},
		{"Volumes", got.Volumes, want.Volumes},
		{"Env", got.Env, want.Env},
		{"Labels", got.Labels, want.Labels},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: %s is %#v, image.DPA says %#v", what, c.field, c.got, c.want)
		}
	}
	if !t.Failed() && !reflect.DeepEqual(got, want) {
		t.Errorf("%s: config\n  %+v\nimage.DPA says\n  %+v", what, got, want)
	}
}

// layerEntry is one entry of the image's layer: its header and its content's hash.
type layerEntry struct {
	path string
	hdr  *tar.Header
	sum  [sha256.Size]byte
	data []byte // small files only
}

func layerEntries(t *testing.T, img v1.Image) []layerEntry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var entries []layerEntry
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries
		}
		if err != nil {
			t.Fatal(err)
		}
		e := layerEntry{path: "/" + strings.TrimSuffix(h.Name, "/"), hdr: h}
		sum := sha256.New()
		w := io.Writer(sum)
		var small strings.Builder
		if h.Size < 1<<20 {
			w = io.MultiWriter(sum, &small)
		}
		if _, err := io.Copy(w, tr); err != nil {
			t.Fatal(err)
		}
		copy(e.sum[:], sum.Sum(nil))
		e.data = []byte(small.String())
		entries = append(entries, e)
	}
}

// checkEntry holds one layer entry to its File: type, mode, owner, time and exact bytes.
func checkEntry(t *testing.T, e layerEntry, f image.File, created time.Time) {
	t.Helper()
	h := e.hdr
	if isDir := h.Typeflag == tar.TypeDir; isDir != (f.Kind == image.Dir) {
		t.Errorf("%s: tar type %q, want a directory: %v", f.Path, h.Typeflag, f.Kind == image.Dir)
	}
	if h.Mode != f.Mode || h.Uid != f.UID || h.Gid != f.GID {
		t.Errorf("%s: mode %#o owner %d:%d, want %#o %d:%d", f.Path, h.Mode, h.Uid, h.Gid, f.Mode, f.UID, f.GID)
	}
	if !h.ModTime.Equal(created) {
		t.Errorf("%s: mtime %s, want %s", f.Path, h.ModTime, created)
	}
	var source string
	switch f.Kind {
	case image.Dir:
		return
	case image.Embedded:
		source = filepath.Join(repo, "internal/image/rootfs", f.Path)
	case image.Binary:
		source = dpaBin
	case image.CABundle:
		source = image.DefaultCABundle
	}
	if want := fileSum(t, source); e.sum != want {
		t.Errorf("%s differs from %s", f.Path, source)
	}
}

func fileSum(t *testing.T, file string) [sha256.Size]byte {
	t.Helper()
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		t.Fatal(err)
	}
	return [sha256.Size]byte(h.Sum(nil))
}

// checkUserExists asserts the config's numeric user and group are in the image's
// /etc/passwd and /etc/group (what names the process, and HOME, in a container).
func checkUserExists(t *testing.T, entries []layerEntry, user string) {
	t.Helper()
	uid, gid, ok := strings.Cut(user, ":")
	if !ok {
		t.Fatalf("user %q is not uid:gid", user)
	}
	files := map[string]string{}
	for _, e := range entries {
		files[e.path] = string(e.data)
	}
	for _, c := range []struct {
		file   string
		fields []int // the fields of a line that must equal want
		want   []string
	}{
		{"/etc/passwd", []int{2, 3}, []string{uid, gid}},
		{"/etc/group", []int{2}, []string{gid}},
	} {
		found := false
		for line := range strings.Lines(files[c.file]) {
			parts := strings.Split(strings.TrimSpace(line), ":")
			match := true
			for i, field := range c.fields {
				match = match && field < len(parts) && parts[field] == c.want[i]
			}
			found = found || match
		}
		if !found {
			t.Errorf("the image's %s has no entry for %v (user %s)\n%s", c.file, c.want, user, files[c.file])
		}
	}
}

// testImageRuns starts the server the image describes, from the image's own filesystem, and
// checks it runs as the image's user and writes only where the image lets it.
func testImageRuns(t *testing.T, img v1.Image) {
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg := cf.Config
	root := shortTempDir(t)
	asRoot := os.Geteuid() == 0
	extract(t, img, root, asRoot)

	port := freePort(t)
	args := append(slices.Clone(cfg.Cmd), "--secure-port="+strconv.Itoa(port), "--bind-address=127.0.0.1")
	cmd := exec.Command(cfg.Entrypoint[0], args...)
	cmd.Env = slices.Clone(cfg.Env)
	cmd.Dir = cfg.WorkingDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	wantUID, wantGID := os.Getuid(), os.Getgid()
	if asRoot {
		// As a container runtime would: the image's root, the image's user, no supplementary
		// groups.
		uid, gid := parseUser(t, cfg.User)
		cmd.SysProcAttr.Chroot = root
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		wantUID, wantGID = uid, gid
	} else {
		// Without root there is no chroot and no change of user: the extracted binary runs
		// directly, with the image's paths (binary, working dir, data and plugins dirs, TMPDIR)
		// moved under root, and the files it writes are owned by whoever runs the test.
		cmd.Path = filepath.Join(root, cfg.Entrypoint[0])
		cmd.Args = append(cmd.Args, "--data-dir="+filepath.Join(root, image.DataDir),
			"--plugins-dir="+filepath.Join(root, image.PluginsDir))
		cmd.Dir = filepath.Join(root, cfg.WorkingDir)
		for i, kv := range cmd.Env {
			if v, ok := strings.CutPrefix(kv, "TMPDIR="); ok {
				cmd.Env[i] = "TMPDIR=" + filepath.Join(root, v)
			}
		}
	}
	log := &syncBuffer{b: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-done
		}
	})

	dataDir := filepath.Join(root, image.DataDir)
	url := fmt.Sprintf("https://127.0.0.1:%d/readyz", port)
	eventually(t, 90*time.Second, "dpa started from the image to be ready", func() (bool, string) {
		select {
		case err := <-done:
			t.Fatalf("dpa exited during start-up: %v\n%s", err, log)
		default:
		}
		return ready(url, filepath.Join(dataDir, "pki", "ca.crt"))
	})

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if wantUID == 0 {
		t.Errorf("the image's user %q is root", cfg.User)
	}
	for line := range strings.Lines(string(status)) {
		if ids, ok := strings.CutPrefix(line, "Uid:"); ok {
			// real, effective, saved and filesystem uid
			for _, id := range strings.Fields(ids) {
				if id != strconv.Itoa(wantUID) {
					t.Errorf("dpa runs with uids %s, want %d for all", strings.Join(strings.Fields(ids), " "), wantUID)
					break
				}
			}
		}
	}
	if asRoot {
		if got, err := os.Readlink(fmt.Sprintf("/proc/%d/root", cmd.Process.Pid)); err != nil || got != root {
			t.Errorf("dpa's root is %q (%v), want %s", got, err, root)
		}
	}
	checkWrites(t, root, wantUID, wantGID)

	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Errorf("dpa exited with %v after SIGTERM\n%s", err, log)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("dpa did not stop within 30s of SIGTERM\n%s", log)
	}
}

func parseUser(t *testing.T, user string) (uid, gid int) {
	t.Helper()
	u, g, _ := strings.Cut(user, ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if err1 != nil || err2 != nil {
		t.Fatalf("user %q is not numeric uid:gid", user)
	}
	return uid, gid
}

// ready asks url for 200, trusting only the CA dpa wrote into its data dir.
func ready(url, caFile string) (bool, string) {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return false, err.Error()
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return false, caFile + " holds no certificate yet"
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		return false, err.Error()
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, resp.Status
}

// checkWrites asserts that everything not in the image is under the data dir or /tmp (the
// image works with a read-only root filesystem) and is owned by the image's user.
func checkWrites(t *testing.T, root string, uid, gid int) {
	t.Helper()
	inImage := map[string]bool{"/": true}
	for _, f := range image.DPA.Files {
		inImage[f.Path] = true
	}
	written := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		inside := path.Join("/", filepath.ToSlash(rel))
		if inImage[inside] {
			return nil
		}
		written++
		if !strings.HasPrefix(inside, image.DataDir+"/") && !strings.HasPrefix(inside, "/tmp/") {
			t.Errorf("dpa wrote %s, outside %s and /tmp", inside, image.DataDir)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st := info.Sys().(*syscall.Stat_t); int(st.Uid) != uid || int(st.Gid) != gid {
			t.Errorf("%s is owned by %d:%d, want %d:%d", inside, st.Uid, st.Gid, uid, gid)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if written == 0 {
		t.Errorf("dpa wrote nothing under %s", image.DataDir)
	}
}

// extract unpacks the image's filesystem into root with every entry's mode and, as root,
// its owner.
func extract(t *testing.T, img v1.Image, root string, chown bool) {
	t.Helper()
	// The image's / is 0755 and root's: the image's user must be able to walk it.
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.Mkdir(p, 0o700)
		case tar.TypeReg:
			err = writeEntry(p, tr)
		default:
			t.Fatalf("%s: unexpected tar entry type %q", h.Name, h.Typeflag)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, h.FileInfo().Mode()&(fs.ModePerm|fs.ModeSticky|fs.ModeSetuid|fs.ModeSetgid)); err != nil {
			t.Fatal(err)
		}
		if chown {
			if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func writeEntry(p string, r io.Reader) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// --- The Dockerfile: the second recipe, checked without building it. ---

// dockerInstruction is one instruction of the Dockerfile, continuation lines joined.
type dockerInstruction struct {
	cmd, args string
	line      int
}

func testDockerfile(t *testing.T) {
	stages := dockerfileStages(t)
	final := stages[len(stages)-1]

	t.Run("final stage", func(t *testing.T) {
		if final[0].args != "scratch" {
			t.Errorf("line %d: the final stage is FROM %s, want scratch (image.DPA has no base)", final[0].line, final[0].args)
		}
		compareConfig(t, "the Dockerfile", dockerfileConfig(t, final), image.DPA.Config("${VERSION}", "${REVISION}"))
	})

	t.Run("rootfs", func(t *testing.T) {
		from := rootfsStage(t, final)
		stage := dockerfileStage(t, stages, from)
		installs := dockerfileInstalls(t, stage)
		var got, want []string
		for _, in := range installs {
			got = append(got, in.path)
		}
		for _, f := range image.DPA.Files {
			want = append(want, f.Path)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("stage %s installs\n  %q\nwant image.DPA.Files\n  %q", from, got, want)
		}
		// Where the Dockerfile's build stage finds each kind of file.
		sources := map[image.Kind]func(p string) string{
			image.Dir:      func(string) string { return "" },
			image.Embedded: func(p string) string { return "internal/image/rootfs" + p },
			image.Binary:   func(string) string { return "/out/dpa" },
			// The golang image's own Debian ca-certificates.
			image.CABundle: func(string) string { return image.DefaultCABundle },
		}
		for i, f := range image.DPA.Files {
			in, src := installs[i], sources[f.Kind](f.Path)
			if in.dir != (f.Kind == image.Dir) || in.mode != f.Mode || in.uid != f.UID || in.gid != f.GID || in.src != src {
				t.Errorf("line %d: %s: directory %v, mode %#o, owner %d:%d, from %q; image.DPA says directory %v, mode %#o, owner %d:%d, from %q",
					in.line, f.Path, in.dir, in.mode, in.uid, in.gid, in.src, f.Kind == image.Dir, f.Mode, f.UID, f.GID, src)
			}
		}
		build := dockerfileRuns(stage)
		for _, want := range []string{"CGO_ENABLED=0 go build -trimpath", "-o /out/dpa ./cmd/dpa"} {
			if !strings.Contains(build, want) {
				t.Errorf("stage %s does not build the static binary with %q", from, want)
			}
		}
	})

	t.Run("base images", func(t *testing.T) {
		goTag, nodeTag := "", ""
		for _, st := range stages {
			ref, _, _ := strings.Cut(st[0].args, " ")
			if tag, ok := strings.CutPrefix(ref, "golang:"); ok {
				goTag = tag
			}
			if tag, ok := strings.CutPrefix(ref, "node:"); ok {
				nodeTag = tag
			}
		}
		gomod, err := os.ReadFile(filepath.Join(repo, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		goLine := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
		if goLine == nil {
			t.Fatal("go.mod has no go line")
		}
		if goTag == "" || nodeTag == "" {
			t.Fatalf("the Dockerfile has no golang:<version> or no node:<version> stage")
		}
		if v, _, _ := strings.Cut(goTag, "-"); v != string(goLine[1]) {
			t.Errorf("the Dockerfile builds with golang:%s, go.mod says go %s", goTag, goLine[1])
		}
		v, err := tagVersion(nodeTag)
		if err != nil {
			t.Fatalf("node:%s: %v", nodeTag, err)
		}
		reqs := nodeRequirements(t)
		for _, pkg := range slices.Sorted(maps.Keys(reqs)) {
			rng := reqs[pkg]
			ok, err := satisfies(v, rng)
			if err != nil {
				t.Errorf("%s: engines.node %q: %v", pkg, rng, err)
			} else if !ok {
				t.Errorf("node:%s does not satisfy %s's engines.node %q", nodeTag, pkg, rng)
			}
		}
	})

	t.Run("npm ranges", testSatisfies)
}

// dockerfileStages parses the Dockerfile into its stages, each starting with its FROM.
// Comment lines are dropped, also inside continuations, as Docker does.
func dockerfileStages(t *testing.T) [][]dockerInstruction {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]dockerInstruction
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(string(b), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if body, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		in := dockerInstruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("line %d: %s before the first FROM", in.line, in.cmd)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	if len(stages) == 0 {
		t.Fatal("the Dockerfile has no FROM")
	}
	return stages
}

// dockerfileStage is the stage FROM … AS name.
func dockerfileStage(t *testing.T, stages [][]dockerInstruction, name string) []dockerInstruction {
	t.Helper()
	for _, st := range stages {
		if f := strings.Fields(st[0].args); len(f) == 3 && strings.EqualFold(f[1], "AS") && f[2] == name {
			return st
		}
	}
	t.Fatalf("the Dockerfile has no stage %q", name)
	return nil
}

// rootfsStage is the stage whose /rootfs the final stage copies, its one COPY.
func rootfsStage(t *testing.T, final []dockerInstruction) string {
	t.Helper()
	var copies []string
	for _, in := range final {
		if in.cmd == "COPY" {
			copies = append(copies, in.args)
		}
	}
	if len(copies) == 1 {
		if f := strings.Fields(copies[0]); len(f) == 3 && strings.HasPrefix(f[0], "--from=") && f[1] == "/rootfs/" && f[2] == "/" {
			return strings.TrimPrefix(f[0], "--from=")
		}
	}
	t.Fatalf("the final stage copies %q, want one COPY --from=<stage> /rootfs/ /", copies)
	return ""
}

// dockerfileRuns is the text of a stage's RUN instructions.
func dockerfileRuns(stage []dockerInstruction) string {
	var b strings.Builder
	for _, in := range stage {
		if in.cmd == "RUN" {
			b.WriteString(in.args + "\n")
		}
	}
	return b.String()
}

// dockerfileConfig reads the image config the final stage sets.
func dockerfileConfig(t *testing.T, final []dockerInstruction) (cfg v1.Config) {
	t.Helper()
	add := func(m *map[string]struct{}, k string) {
		if *m == nil {
			*m = map[string]struct{}{}
		}
		(*m)[k] = struct{}{}
	}
	for _, in := range final[1:] {
		switch in.cmd {
		case "ARG": // the build arguments its labels name
		case "COPY": // see rootfsStage
		case "USER":
			cfg.User = in.args
		case "ENTRYPOINT":
			cfg.Entrypoint = jsonArgs(t, in)
		case "CMD":
			cfg.Cmd = jsonArgs(t, in)
		case "WORKDIR":
			cfg.WorkingDir = in.args
		case "EXPOSE":
			for _, p := range strings.Fields(in.args) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				add(&cfg.ExposedPorts, p)
			}
		case "VOLUME":
			vols := strings.Fields(in.args)
			if strings.HasPrefix(in.args, "[") {
				vols = jsonArgs(t, in)
			}
			for _, v := range vols {
				add(&cfg.Volumes, v)
			}
		case "ENV":
			for _, kv := range keyValues(t, in) {
				k, _, _ := strings.Cut(kv, "=")
				// A key set again replaces its value in place, as Docker does.
				if i := slices.IndexFunc(cfg.Env, func(e string) bool { return strings.HasPrefix(e, k+"=") }); i >= 0 {
					cfg.Env[i] = kv
				} else {
					cfg.Env = append(cfg.Env, kv)
				}
			}
		case "LABEL":
			for _, kv := range keyValues(t, in) {
				k, v, _ := strings.Cut(kv, "=")
				if cfg.Labels == nil {
					cfg.Labels = map[string]string{}
				}
				cfg.Labels[k] = v
			}
		default:
			t.Errorf("line %d: %s in the final stage has no counterpart in image.DPA", in.line, in.cmd)
		}
	}
	return cfg
}

func jsonArgs(t *testing.T, in dockerInstruction) []string {
	t.Helper()
	var args []string
	if err := json.Unmarshal([]byte(in.args), &args); err != nil {
		t.Errorf("line %d: %s %s: want the JSON form (%v)", in.line, in.cmd, in.args, err)
	}
	return args
}

// keyValues splits ENV or LABEL arguments into key=value words; double quotes group and are
// removed.
func keyValues(t *testing.T, in dockerInstruction) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	quoted, inWord := false, false
	for _, r := range in.args + " " {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case (r == ' ' || r == '\t') && !quoted:
			if inWord {
				words = append(words, w.String())
			}
			w.Reset()
			inWord = false
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	for _, kv := range words {
		if !strings.Contains(kv, "=") {
			t.Errorf("line %d: %s %q: want key=value", in.line, in.cmd, kv)
		}
	}
	return words
}

// dockerInstall is one `install` command of a RUN that writes under /rootfs.
type dockerInstall struct {
	path     string // in the image
	dir      bool
	mode     int64
	uid, gid int
	src      string // "" for a directory
	line     int
}

// dockerfileInstalls reads the install commands (`install [-d] -m MODE -o UID -g GID [SRC] DST`)
// of a stage's RUN instructions that write the image's root filesystem, /rootfs.
func dockerfileInstalls(t *testing.T, stage []dockerInstruction) []dockerInstall {
	t.Helper()
	var out []dockerInstall
	for _, in := range stage {
		if in.cmd != "RUN" {
			continue
		}
		for _, command := range strings.Split(in.args, "&&") {
			words := strings.Fields(command)
			if len(words) == 0 || words[0] != "install" {
				continue
			}
			inst := dockerInstall{line: in.line}
			var operands []string
			given := 0
			for i := 1; i < len(words); i++ {
				w := words[i]
				if w == "-d" {
					inst.dir = true
					continue
				}
				if w != "-m" && w != "-o" && w != "-g" {
					operands = append(operands, w)
					continue
				}
				if i++; i == len(words) {
					t.Fatalf("line %d: %q: %s without a value", in.line, command, w)
				}
				var err error
				switch given++; w {
				case "-m":
					inst.mode, err = strconv.ParseInt(words[i], 8, 64)
				case "-o":
					inst.uid, err = strconv.Atoi(words[i])
				case "-g":
					inst.gid, err = strconv.Atoi(words[i])
				}
				if err != nil {
					t.Fatalf("line %d: %q: %s %s: %v", in.line, command, w, words[i], err)
				}
			}
			if given != 3 {
				t.Errorf("line %d: %q: give -m, -o and -g (numeric), so nothing depends on defaults", in.line, command)
			}
			if len(operands) == 0 {
				t.Fatalf("line %d: %q: no destination", in.line, command)
			}
			p, ok := strings.CutPrefix(operands[len(operands)-1], "/rootfs/")
			if !ok {
				continue
			}
			inst.path = "/" + p
			switch {
			case inst.dir && len(operands) == 1:
			case !inst.dir && len(operands) == 2:
				inst.src = operands[0]
			default:
				t.Fatalf("line %d: %q: want install -d … DIR or install … SRC DST", in.line, command)
			}
			out = append(out, inst)
		}
	}
	return out
}

// nodeRequirements are the engines.node ranges of plugin/package.json and of every package
// its lock installs (npm run build needs the dev dependencies too), keyed by package.
func nodeRequirements(t *testing.T) map[string]string {
	t.Helper()
	var pkg struct {
		Engines map[string]string `json:"engines"`
	}
	readJSON(t, filepath.Join(repo, "plugin", "package.json"), &pkg)
	reqs := map[string]string{}
	if r := pkg.Engines["node"]; r != "" {
		reqs["plugin/package.json"] = r
	}
	var lock struct {
		Packages map[string]struct {
			Engines json.RawMessage `json:"engines"`
		} `json:"packages"`
	}
	readJSON(t, filepath.Join(repo, "plugin", "package-lock.json"), &lock)
	for name, p := range lock.Packages {
		var engines map[string]string
		// npm checks only the object form; a list (an old form some packages still publish)
		// names no range npm enforces.
		if json.Unmarshal(p.Engines, &engines) == nil && engines["node"] != "" {
			reqs["package-lock.json "+cmp.Or(name, "(root)")] = engines["node"]
		}
	}
	if len(reqs) == 0 {
		t.Fatal("no engines.node in plugin/package.json or its lock")
	}
	return reqs
}

func readJSON(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// semver is major.minor.patch.
type semver [3]int

// newest stands for a part a floating tag leaves open: node:22 is the newest 22.x release.
const newest = 1 << 20

var noUpperBound = semver{math.MaxInt}

func (a semver) less(b semver) bool { return slices.Compare(a[:], b[:]) < 0 }

// tagVersion is the node version an image tag such as "22-bookworm" or "22.15.0" pulls.
func tagVersion(tag string) (semver, error) {
	v, _, _ := strings.Cut(tag, "-")
	parts := strings.Split(v, ".")
	if len(parts) > 3 {
		return semver{}, fmt.Errorf("%q is not a version", v)
	}
	s := semver{newest, newest, newest}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return semver{}, fmt.Errorf("%q is not a version", v)
		}
		s[i] = n
	}
	return s, nil
}

var operatorSpace = regexp.MustCompile(`(>=|<=|>|<|=|\^|~)\s+`)

// satisfies reports whether v is in an npm range: alternatives joined by ||, each a
// space-separated list of comparators (<, <=, >, >=, =, ^, ~ or none) on versions that may be
// partial or use x/* wildcards — the forms engines fields use.
func satisfies(v semver, rng string) (bool, error) {
	for _, alt := range strings.Split(rng, "||") {
		in := true
		for _, c := range strings.Fields(operatorSpace.ReplaceAllString(alt, "$1")) {
			lo, hi, err := bounds(c)
			if err != nil {
				return false, err
			}
			in = in && !v.less(lo) && v.less(hi)
		}
		if in {
			return true, nil
		}
	}
	return false, nil
}

// bounds turns one comparator into the versions it allows, [lo, hi).
func bounds(c string) (lo, hi semver, err error) {
	op := strings.TrimRight(c, "0123456789.xX*v")
	p, given, err := partial(strings.TrimPrefix(c[len(op):], "v"))
	if err != nil {
		return lo, hi, fmt.Errorf("%q: %w", c, err)
	}
	// next is the lowest version above every version p's given parts match.
	next := func(part int) semver {
		if part < 0 {
			return noUpperBound
		}
		n := p
		n[part]++
		for i := part + 1; i < 3; i++ {
			n[i] = 0
		}
		return n
	}
	switch op {
	case "", "=":
		return p, next(given - 1), nil
	case ">=":
		return p, noUpperBound, nil
	case ">":
		return next(given - 1), noUpperBound, nil
	case "<":
		return semver{}, p, nil
	case "<=":
		return semver{}, next(given - 1), nil
	case "~":
		return p, next(min(given-1, 1)), nil
	case "^":
		part := 0 // the first non-zero given part stays fixed
		for part < given-1 && p[part] == 0 {
			part++
		}
		return p, next(part), nil
	}
	return lo, hi, fmt.Errorf("unknown operator %q in %q", op, c)
}

// partial parses "22", "22.15", "22.x" or "*": the missing or wildcard parts are 0, and
// given counts the parts before the first one.
func partial(s string) (v semver, given int, err error) {
	if s == "" {
		return v, 0, nil
	}
	for i, p := range strings.Split(s, ".") {
		if p == "x" || p == "X" || p == "*" {
			break
		}
		if i == 3 {
			return v, 0, fmt.Errorf("%q has more than three parts", s)
		}
		if v[i], err = strconv.Atoi(p); err != nil {
			return v, 0, fmt.Errorf("%q is not a version", s)
		}
		given = i + 1
	}
	return v, given, nil
}

func testSatisfies(t *testing.T) {
	for _, c := range []struct {
		tag, rng string
		want     bool
	}{
		{"22", ">= 22.15.0", true},
		{"22.14.0", ">= 22.15.0", false},
		{"20", ">= 22.15.0", false},
		{"22", "^20.19.0 || ^22.13.0 || >=24", true},
		{"23.1.0", "^20.19.0 || ^22.13.0 || >=24", false},
		{"22.12.0", "^18.14.0 || ^20.0.0 || ^22.0.0 || >=24.0.0", true},
		{"22", "18 || 20 || >=22", true},
		{"21.0.0", "18 || 20 || >=22", false},
		{"22", "6.* || 8.* || >= 10.*", true},
		{"9.1.0", "6.* || 8.* || >= 10.*", false},
		{"14.17.0", ">=16 || 14 >=14.17", true},
		{"14.16.0", ">=16 || 14 >=14.17", false},
		{"22", ">=v12.22.7", true},
		{"22", "*", true},
		{"8.0.0", ">8.0.0", false},
		{"13.7.0", "^10 || ^12 || ^13.7 || ^14 || >=15.0.1", true},
		{"13.6.0", "^10 || ^12 || ^13.7 || ^14 || >=15.0.1", false},
		{"22.15.3", "~22.15", true},
		{"22.16.0", "~22.15", false},
		{"0.3.1", "^0.3.0", true},
		{"0.4.0", "^0.3.0", false},
		{"22", "<=22", true},
		{"22", "<22.20", false},
	} {
		v, err := tagVersion(c.tag)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := satisfies(v, c.rng); err != nil || got != c.want {
			t.Errorf("node %s in %q: %v (%v), want %v", c.tag, c.rng, got, err, c.want)
		}
	}
}
