// Package pluginhost runs Grafana backend plugins for dpa: the host side of
// the Grafana plugin protocol (hashicorp go-plugin over gRPC).
//
// It discovers plugins in a Grafana-style plugins directory
// (<dir>/plugin.json), starts backend plugin executables with the SDK's
// go-plugin handshake, restarts them with exponential backoff when they exit,
// connects to already running plugins (standalone/debug mode) and hands out
// the raw pluginv2 gRPC clients through Get.
//
// Lifecycle:
//
//	h, err := pluginhost.New(opts) // discovery, no processes yet
//	h.Start(ctx)                   // non-blocking; eager start in background (or Lazy)
//	p, err := h.Get(ctx, "my-datasource")
//	p.QueryData(ctx, req)          // pluginv2 clients
//	h.Stop(ctx)                    // graceful, parallel, bounded by ctx; no restarts after
//
// Get never blocks for long: when the plugin is (re)starting it waits at
// most Options.StartWait (and never past ctx), then returns an
// *backendplugin.UnavailableError carrying a RetryAfter hint.
package pluginhost

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
)

// Options configure a Host. Only PluginsDir or Addresses is required.
type Options struct {
	// PluginsDir holds one directory per plugin, each with a plugin.json.
	PluginsDir string

	// SocketDir is where plugins create their go-plugin unix sockets
	// (PLUGIN_UNIX_SOCKET_DIR). Keep it short: a socket path must stay below
	// ~104 bytes, so New rejects a SocketDir longer than MaxSocketDirLen.
	// When empty, a private temporary directory is created and removed by
	// Stop.
	SocketDir string

	// Addresses maps plugin IDs to the address of an already running plugin
	// (standalone/debug mode, like Grafana's GF_PLUGIN_GRPC_ADDRESS_<ID>):
	// "host:port", ":port" (localhost), "unix:///path" or an absolute unix
	// socket path. Such plugins are never executed; the host only
	// (re)connects to them.
	Addresses map[string]string

	// GrafanaVersion is passed to plugins as GF_VERSION (default
	// DefaultGrafanaVersion).
	GrafanaVersion string

	// Env is added to every plugin's environment (GF_PLUGIN_*, tracing
	// GF_INSTANCE_OTLP_*, ...). It is applied last, so it can override the
	// defaults. The host's own environment is never passed on.
	Env map[string]string

	// Logger receives host logs and plugin logs (attribute plugin=<id>).
	// Default slog.Default().
	Logger *slog.Logger

	// PluginLogLevel is the lowest level of plugin log lines (their stderr)
	// forwarded to Logger; default Info. SDK plugins log every request at
	// Info ("Plugin Request Completed"): use slog.LevelWarn to drop those.
	// Lines below the level are discarded before any JSON decoding. The
	// effective level is also passed to plugins as GF_PLUGIN_LOG_LEVEL
	// (PluginLogLevelEnv) so that plugins honouring it do not write them.
	PluginLogLevel slog.Level

	// RestartBackoff bounds the delay before restarting an exited plugin
	// (doubling from Min up to Max; default 100ms to 30s).
	RestartBackoff Backoff

	// StableAfter is how long a plugin must stay up for the backoff to reset
	// to RestartBackoff.Min (default 30s).
	StableAfter time.Duration

	// Lazy defers starting a plugin process until the first Get for it.
	// By default (false) Start launches every backend plugin in the
	// background.
	Lazy bool

	// StartTimeout bounds one start attempt: process start plus go-plugin
	// handshake, or the connection to a standalone address (default 30s).
	StartTimeout time.Duration

	// StartWait is the longest Get waits for a start attempt in progress
	// before it returns an *backendplugin.UnavailableError (default 2s).
	StartWait time.Duration

	// TracerProvider creates the gRPC client spans (otelgrpc). Nil: no client
	// spans; the caller's trace context still travels to the plugin.
	TracerProvider trace.TracerProvider

	// Propagator injects the trace context into gRPC metadata (default W3C
	// trace context plus baggage, like Grafana).
	Propagator propagation.TextMapPropagator

	// GRPCDialOptions are appended to the host's own dial options.
	GRPCDialOptions []grpc.DialOption

	// ProbeInterval is how often a running plugin is probed (default 30s, as
	// kube-aggregator re-checks an APIService); ProbeTimeout bounds one probe
	// (default 5s). A process that does not answer in time (hung, stopped) is
	// reported as not responding until a probe succeeds again.
	ProbeInterval time.Duration
	ProbeTimeout  time.Duration

	// RescanInterval is how often Start's watcher reads PluginsDir again to
	// follow installs, upgrades and removals (see Rescan); 0 turns the
	// watcher off (Rescan can still be called, e.g. on SIGHUP).
	RescanInterval time.Duration
}

// Backoff is an exponential backoff range.
type Backoff struct {
	Min time.Duration
	Max time.Duration
}

// Defaults.
const (
	DefaultGrafanaVersion = backendplugin.GrafanaVersion
	DefaultBackoffMin     = 100 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultStableAfter    = 30 * time.Second
	DefaultStartTimeout   = 30 * time.Second
	DefaultStartWait      = 2 * time.Second
	DefaultProbeInterval  = 30 * time.Second
	DefaultProbeTimeout   = 5 * time.Second

	// MaxSocketDirLen leaves room for go-plugin's "/plugin<random>" socket
	// name within the 104-byte unix socket path limit (macOS; Linux: 108).
	MaxSocketDirLen = 85
)

func (o *Options) setDefaults() {
	if o.GrafanaVersion == "" {
		o.GrafanaVersion = DefaultGrafanaVersion
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RestartBackoff.Min <= 0 {
		o.RestartBackoff.Min = DefaultBackoffMin
	}
	if o.RestartBackoff.Max <= 0 {
		o.RestartBackoff.Max = DefaultBackoffMax
	}
	if o.RestartBackoff.Max < o.RestartBackoff.Min {
		o.RestartBackoff.Max = o.RestartBackoff.Min
	}
	if o.StableAfter <= 0 {
		o.StableAfter = DefaultStableAfter
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.StartWait <= 0 {
		o.StartWait = DefaultStartWait
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = DefaultProbeInterval
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = DefaultProbeTimeout
	}
	if o.Propagator == nil {
		o.Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
}
