package server

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// StorageOptions selects where DataPlaneService objects live.
type StorageOptions struct {
	// DataDir holds the default SQLite file and kine's unix socket (--data-dir, set by ApplyTo).
	DataDir string
	// DSN is a kine datastore endpoint: "" (SQLite in DataDir), sqlite://path, postgres://…,
	// mysql://…
	DSN string
	// EtcdServers, when set, bypasses kine and talks to an external etcd cluster.
	EtcdServers  []string
	EtcdCAFile   string
	EtcdCertFile string
	EtcdKeyFile  string
	// PollInterval: with kine on a database several replicas share (PostgreSQL, MySQL), how
	// often this replica looks for changes other replicas made (kine itself looks every 1 s;
	// 0 leaves it at that).
	PollInterval time.Duration
	// MaxObjectBytes bounds the body of a write to the resource API (413 beyond), below what
	// the storage takes: kine's gRPC takes 2 MiB, etcd 1.5 MiB by default. A larger object
	// used to reach the storage and fail with a 500.
	MaxObjectBytes int64
}

// DefaultMaxObjectBytes is 1 MiB: a DataPlaneService is a few KiB.
const DefaultMaxObjectBytes = 1 << 20

// NewStorageOptions: SQLite in the data dir; on a shared database, a look for other
// replicas' changes every 100 ms.
func NewStorageOptions() *StorageOptions {
	return &StorageOptions{PollInterval: 100 * time.Millisecond, MaxObjectBytes: DefaultMaxObjectBytes}
}

// AddFlags adds --storage, --storage-poll-interval and the --etcd-* flags.
func (o *StorageOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.DSN, "storage", o.DSN, "kine datastore: empty for SQLite in --data-dir, or postgres://…, mysql://…, sqlite://path")
	fs.DurationVar(&o.PollInterval, "storage-poll-interval", o.PollInterval, "with --storage on PostgreSQL or MySQL (shared by replicas): how often this replica looks for other replicas' changes — one small query each time (0: kine's 1s)")
	fs.Int64Var(&o.MaxObjectBytes, "max-object-bytes", o.MaxObjectBytes, "largest body of a write to the resource API (413 beyond); keep it below the storage's limit (kine 2 MiB, etcd --max-request-bytes, 1.5 MiB by default)")
	fs.StringSliceVar(&o.EtcdServers, "etcd-servers", o.EtcdServers, "external etcd endpoints (https://host:2379,…) instead of kine")
	fs.StringVar(&o.EtcdCAFile, "etcd-cafile", o.EtcdCAFile, "CA bundle for --etcd-servers")
	fs.StringVar(&o.EtcdCertFile, "etcd-certfile", o.EtcdCertFile, "client certificate for --etcd-servers")
	fs.StringVar(&o.EtcdKeyFile, "etcd-keyfile", o.EtcdKeyFile, "client key for --etcd-servers")
}

// Validate checks that kine and etcd are not both chosen, and the etcd
// files.
func (o *StorageOptions) Validate() []error {
	var errs []error
	if o.DSN != "" && len(o.EtcdServers) > 0 {
		errs = append(errs, fmt.Errorf("--storage and --etcd-servers are mutually exclusive"))
	}
	for _, s := range o.EtcdServers {
		if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--etcd-servers: %q is not an http(s) URL", s))
		}
	}
	for flag, f := range map[string]string{"--etcd-cafile": o.EtcdCAFile, "--etcd-certfile": o.EtcdCertFile, "--etcd-keyfile": o.EtcdKeyFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", flag, err))
		}
	}
	if o.MaxObjectBytes <= 0 || o.MaxObjectBytes > 3<<20 {
		errs = append(errs, fmt.Errorf("--max-object-bytes %d: want 1 to %d (the API server's own limit; the storage's is lower)", o.MaxObjectBytes, 3<<20))
	}
	if o.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("--storage-poll-interval %s must not be negative", o.PollInterval))
	}
	return errs
}

// ApplyTo sets the storage phase's options; the default SQLite file lives in the data dir.
func (o *StorageOptions) ApplyTo(c *Config) error {
	c.Storage = *o
	c.Storage.DataDir = c.DataDir
	c.ServerRun.MaxRequestBodyBytes = o.MaxObjectBytes
	return nil
}

// ReplicaOptions name this replica among several on one storage.
type ReplicaOptions struct {
	// Name names this replica's entries in the status of Plugin objects ("": the hostname).
	Name string
}

// AddFlags adds --replica-name.
func (o *ReplicaOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Name, "replica-name", o.Name, "this replica's name in the status of Plugin objects (default: the hostname); replicas on one storage need distinct names")
}

// Validate: a name fits in an object's status and has no spaces or control characters.
func (o *ReplicaOptions) Validate() []error {
	if len(o.Name) > 253 || strings.IndexFunc(o.Name, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return []error{fmt.Errorf("--replica-name %q must be at most 253 characters without spaces or control characters", o.Name)}
	}
	return nil
}

// ApplyTo sets the replica name, the hostname by default.
func (o *ReplicaOptions) ApplyTo(c *Config) error {
	c.ReplicaName = o.Name
	if c.ReplicaName == "" {
		c.ReplicaName, _ = os.Hostname()
		if c.ReplicaName == "" {
			c.ReplicaName = "dpa"
		}
	}
	return nil
}
