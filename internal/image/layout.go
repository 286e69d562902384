// Package image defines dpa's container image once — the files of its layer and its config —
// and builds it with go-containerregistry, without a container engine. The repository's
// Dockerfile is the second recipe for the same image; test/e2e holds it to DPA.
package image

import (
	"embed"
	"maps"
	"slices"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Paths in the image.
const (
	BinaryPath = "/usr/local/bin/dpa"
	DataDir    = "/var/lib/dpa"
	// PluginsDir is where backend plugins are mounted, as in Grafana's image.
	PluginsDir = "/var/lib/grafana/plugins"
	// ConfigDir is the mount point for configuration (TLS, tokens, CAs; see the Helm chart).
	ConfigDir    = "/etc/dpa"
	CABundlePath = "/etc/ssl/certs/ca-certificates.crt"
)

const (
	// Repository is the image's name without a tag, as the Helm chart's image.repository.
	Repository = "dataplane-aggregator/dpa"
	// NonRoot is the uid and gid dpa runs as: distroless' "nonroot", which the chart's
	// securityContext names too.
	NonRoot = 65532
	// DefaultCABundle is the build host's CA bundle (Debian's ca-certificates), copied to
	// CABundlePath unless Options.CABundle names another.
	DefaultCABundle = "/etc/ssl/certs/ca-certificates.crt"
)

// Labels a build sets from its Options; the others are fixed in DPA.Labels.
const (
	LabelVersion  = "org.opencontainers.image.version"
	LabelRevision = "org.opencontainers.image.revision"
)

// Kind is what a File is, and for a regular file where its bytes come from.
type Kind int

const (
	// Dir is a directory.
	Dir Kind = iota
	// Embedded is a file of this package's rootfs/ directory, at the same path (the Dockerfile
	// copies the same file from the build context).
	Embedded
	// Binary is the dpa executable (Options.Binary).
	Binary
	// CABundle is the PEM bundle of trusted CAs (Options.CABundle).
	CABundle
)

// File is one entry of the image's layer.
type File struct {
	Path string // absolute
	Kind Kind
	// Mode is the permission bits plus the sticky bit, as tar headers, chmod and install -m
	// write them (0o1777 for /tmp).
	Mode     int64
	UID, GID int
}

// Layout is an image: the files of its layer, each parent before its children, and its
// config. There is one layer: everything besides the binary is about 220 KB, so a layer of
// its own would save a pull next to nothing, and one layer is what the Dockerfile's single
// COPY of its root filesystem makes too.
type Layout struct {
	Files        []File
	User         string
	Entrypoint   []string
	Cmd          []string
	WorkingDir   string
	ExposedPorts []string
	Volumes      []string
	Env          []string
	// Labels are the fixed labels; Config adds LabelVersion and LabelRevision.
	Labels map[string]string
}

//go:embed rootfs
var rootfs embed.FS

// DPA is dpa's image. There is no org.opencontainers.image.licenses label: the repository has
// no LICENSE file to name.
var DPA = Layout{
	Files: []File{
		{Path: "/etc", Kind: Dir, Mode: 0o755},
		{Path: "/etc/passwd", Kind: Embedded, Mode: 0o644},
		{Path: "/etc/group", Kind: Embedded, Mode: 0o644},
		{Path: ConfigDir, Kind: Dir, Mode: 0o755},
		{Path: "/etc/ssl", Kind: Dir, Mode: 0o755},
		{Path: "/etc/ssl/certs", Kind: Dir, Mode: 0o755},
		{Path: CABundlePath, Kind: CABundle, Mode: 0o644},
		{Path: "/tmp", Kind: Dir, Mode: 0o1777},
		{Path: "/usr", Kind: Dir, Mode: 0o755},
		{Path: "/usr/local", Kind: Dir, Mode: 0o755},
		{Path: "/usr/local/bin", Kind: Dir, Mode: 0o755},
		{Path: BinaryPath, Kind: Binary, Mode: 0o755},
		{Path: "/var", Kind: Dir, Mode: 0o755},
		{Path: "/var/lib", Kind: Dir, Mode: 0o755},
		// The data dir holds the CA key and the admin token: for dpa's user alone.
		{Path: DataDir, Kind: Dir, Mode: 0o700, UID: NonRoot, GID: NonRoot},
		{Path: "/var/lib/grafana", Kind: Dir, Mode: 0o755},
		{Path: PluginsDir, Kind: Dir, Mode: 0o755, UID: NonRoot, GID: NonRoot},
	},
	User:       strconv.Itoa(NonRoot) + ":" + strconv.Itoa(NonRoot),
	Entrypoint: []string{BinaryPath},
	Cmd: []string{"serve", "--data-dir=" + DataDir, "--bind-address=0.0.0.0",
		"--plugins-dir=" + PluginsDir},
	WorkingDir:   DataDir,
	ExposedPorts: []string{"6443/tcp"},
	Volumes:      []string{DataDir},
	Env:          []string{"PATH=/usr/local/bin", "TMPDIR=/tmp"},
	Labels: map[string]string{
		"org.opencontainers.image.title":  "dpa",
		"org.opencontainers.image.source": "https://github.com/dataplane-aggregator/dpa",
	},
}

// Config is the image config of one build of l: its fields plus the version and revision
// labels.
func (l Layout) Config(version, revision string) v1.Config {
	labels := maps.Clone(l.Labels)
	labels[LabelVersion] = version
	labels[LabelRevision] = revision
	return v1.Config{
		User:         l.User,
		Entrypoint:   slices.Clone(l.Entrypoint),
		Cmd:          slices.Clone(l.Cmd),
		WorkingDir:   l.WorkingDir,
		ExposedPorts: set(l.ExposedPorts),
		Volumes:      set(l.Volumes),
		Env:          slices.Clone(l.Env),
		Labels:       labels,
	}
}

func set(keys []string) map[string]struct{} {
	m := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		m[k] = struct{}{}
	}
	return m
}
