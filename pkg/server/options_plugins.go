package server

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"
)

// PluginOptions: where backend plugins come from and how their processes are watched.
type PluginOptions struct {
	Dir            string
	Addresses      map[string]string
	RescanInterval time.Duration
	Lazy           bool
	ProbeInterval  time.Duration
	ProbeTimeout   time.Duration
	// MaxMessageBytes bounds one gRPC message to or from a plugin.
	MaxMessageBytes int
	// LogLevel is the lowest level of plugin log lines forwarded into dpa's log.
	LogLevel string
}

// DefaultPluginMaxMessageBytes bounds one plugin gRPC message.
const DefaultPluginMaxMessageBytes = 64 << 20

// NewPluginOptions: rescan every 10 s, probe every 30 s with a 5 s deadline, 64 MiB
// messages, plugin warnings and errors in dpa's log.
func NewPluginOptions() *PluginOptions {
	return &PluginOptions{
		RescanInterval:  10 * time.Second,
		ProbeInterval:   30 * time.Second,
		ProbeTimeout:    5 * time.Second,
		MaxMessageBytes: DefaultPluginMaxMessageBytes,
		LogLevel:        "warn",
	}
}

// AddFlags adds the --plugin* flags and --lazy-plugins.
func (o *PluginOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Dir, "plugins-dir", o.Dir, "backend plugins in Grafana's layout: DIR/<plugin>/plugin.json and its gpx_ executable")
	fs.StringToStringVar(&o.Addresses, "plugin-address", o.Addresses, "use an already running plugin: <plugin-id>=<host:port|unix socket path> (repeatable)")
	fs.DurationVar(&o.RescanInterval, "plugins-rescan-interval", o.RescanInterval, "how often --plugins-dir is read again: installed plugins start, changed ones (executable or plugin.json) are upgraded without dropping calls, removed ones stop (0: only on SIGHUP)")
	fs.BoolVar(&o.Lazy, "lazy-plugins", o.Lazy, "start plugin processes on their first request instead of at start-up")
	fs.DurationVar(&o.ProbeInterval, "plugin-probe-interval", o.ProbeInterval, "how often each running plugin is probed; one that does not answer is Available=False (PluginNotResponding)")
	fs.DurationVar(&o.ProbeTimeout, "plugin-probe-timeout", o.ProbeTimeout, "how long a plugin may take to answer a probe")
	fs.IntVar(&o.MaxMessageBytes, "plugin-max-message-bytes", o.MaxMessageBytes, "largest gRPC message to or from a plugin; a larger plugin answer fails its call")
	fs.StringVar(&o.LogLevel, "plugin-log-level", o.LogLevel, "lowest level of plugin log lines forwarded into dpa's log (plugins are told it in GF_PLUGIN_LOG_LEVEL); dpa logs every data-plane request itself")
}

// Validate checks durations, the message size and the log level.
func (o *PluginOptions) Validate() []error {
	var errs []error
	for flag, d := range map[string]time.Duration{
		"--plugins-rescan-interval": o.RescanInterval,
		"--plugin-probe-interval":   o.ProbeInterval,
		"--plugin-probe-timeout":    o.ProbeTimeout,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %s must not be negative", flag, d))
		}
	}
	if o.MaxMessageBytes < 0 {
		errs = append(errs, fmt.Errorf("--plugin-max-message-bytes %d must not be negative", o.MaxMessageBytes))
	}
	if _, err := o.logLevel(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

func (o *PluginOptions) logLevel() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return l, fmt.Errorf("--plugin-log-level: %w", err)
	}
	return l, nil
}

// ApplyTo sets the plugin host's options; the run-time parts (socket dir, environment,
// logger, tracer) are the plugins phase's.
func (o *PluginOptions) ApplyTo(c *Config) error {
	lvl, err := o.logLevel()
	if err != nil {
		return err
	}
	max := o.MaxMessageBytes
	if max == 0 {
		max = DefaultPluginMaxMessageBytes
	}
	c.Plugins.PluginsDir = o.Dir
	c.Plugins.Addresses = o.Addresses
	c.Plugins.Lazy = o.Lazy
	c.Plugins.PluginLogLevel = lvl
	c.Plugins.ProbeInterval = o.ProbeInterval
	c.Plugins.ProbeTimeout = o.ProbeTimeout
	c.Plugins.RescanInterval = o.RescanInterval
	// A plugin's answer larger than this fails its call (ResourceExhausted → 502) instead of
	// being buffered up to go-plugin's 2 GiB.
	c.Plugins.GRPCDialOptions = []grpc.DialOption{grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(max), grpc.MaxCallSendMsgSize(max))}
	return nil
}

// ProvisioningOptions: Grafana provisioning files (datasources, apps, access control).
type ProvisioningOptions struct {
	Dir string
	// StackID > 0 serves org 1's provisioned datasources and apps in namespace stacks-<id>.
	StackID int64
}

// AddFlags adds --provisioning and --stack-id.
func (o *ProvisioningOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Dir, "provisioning", o.Dir, "Grafana provisioning directory (datasources/*.yaml, plugins/*.yaml, access-control/*.yaml); reloaded on SIGHUP and on change")
	fs.Int64Var(&o.StackID, "stack-id", o.StackID, "serve org 1's provisioned datasources and apps in namespace stacks-<id> instead of default (a Grafana Cloud stack; other orgs are then an error)")
}

// Validate checks the stack id.
func (o *ProvisioningOptions) Validate() []error {
	if o.StackID < 0 {
		return []error{fmt.Errorf("--stack-id %d must not be negative", o.StackID)}
	}
	return nil
}

// ApplyTo sets the provisioning phase's options.
func (o *ProvisioningOptions) ApplyTo(c *Config) error {
	c.Provisioning = *o
	return nil
}
