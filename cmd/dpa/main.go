// Command dpa is the Data Plane Aggregator: a Kubernetes-style API server for
// DataPlaneService objects and a data plane in front of Grafana backend plugins.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/klog/v2"

	"github.com/dataplane-aggregator/dpa/pkg/dataplane"
	"github.com/dataplane-aggregator/dpa/pkg/server"
	"github.com/dataplane-aggregator/dpa/pkg/ui"
	"github.com/dataplane-aggregator/dpa/pkg/version"
)

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		// The request path allocates per call; a larger GC target measurably raised data-plane
		// throughput (docs/benchmarks.md). GOGC and GOMEMLIMIT still override it.
		debug.SetGCPercent(400)
	}
	if err := newRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "dpa",
		Short:         "Data Plane Aggregator: a Kubernetes-style data plane for Grafana backend plugins",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(newServeCommand(), &cobra.Command{
		Use:   "version",
		Short: "Print the dpa version",
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), version.Version)
		},
	})
	return root
}

func newServeCommand() *cobra.Command {
	var (
		opts           server.Options
		logLevel       string
		logFormat      string
		pluginLogLevel string
		timeouts       map[string]string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the API server and data plane",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(logLevel, logFormat)
			if err != nil {
				return err
			}
			opts.Logger = logger
			if opts.Timeouts, err = parseTimeouts(timeouts); err != nil {
				return err
			}
			if err := opts.PluginLogLevel.UnmarshalText([]byte(pluginLogLevel)); err != nil {
				return fmt.Errorf("--plugin-log-level: %w", err)
			}
			srv, err := server.New(opts)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return srv.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.DataDir, "data-dir", "./data", "directory for the SQLite store, TLS material, admin token and kubeconfig")
	f.StringVar(&opts.BindAddress, "bind-address", "127.0.0.1", "IP address to serve HTTPS on (0.0.0.0 for all interfaces)")
	f.IntVar(&opts.SecurePort, "secure-port", 6443, "HTTPS port (0 picks a free port)")
	f.StringSliceVar(&opts.TLSSANs, "tls-san", nil, "extra DNS names or IPs for the generated serving certificate")
	f.StringVar(&opts.TokenAuthFile, "token-auth-file", "", "Kubernetes static token CSV (token,user,uid,\"group1,group2\") for more users")
	f.StringVar(&opts.DelegateURL, "delegate-url", "", "reverse-proxy requests that dpa does not serve to this URL")
	f.StringSliceVar(&opts.DelegateStripHeaders, "delegate-strip-header", nil, "more request headers to remove before the delegate, besides the identity headers always removed (a trailing * matches a prefix; repeatable)")
	f.StringVar(&opts.Storage.DSN, "storage", "", "kine datastore: empty for SQLite in --data-dir, or postgres://…, mysql://…, sqlite://path")
	f.DurationVar(&opts.Storage.PollInterval, "storage-poll-interval", 100*time.Millisecond, "with --storage on PostgreSQL or MySQL (shared by replicas): how often this replica looks for other replicas' changes — one small query each time (0: kine's 1s)")
	f.StringSliceVar(&opts.Storage.EtcdServers, "etcd-servers", nil, "external etcd endpoints (https://host:2379,…) instead of kine")
	f.StringVar(&opts.Storage.EtcdCAFile, "etcd-cafile", "", "CA bundle for --etcd-servers")
	f.StringVar(&opts.Storage.EtcdCertFile, "etcd-certfile", "", "client certificate for --etcd-servers")
	f.StringVar(&opts.Storage.EtcdKeyFile, "etcd-keyfile", "", "client key for --etcd-servers")
	f.StringVar(&opts.PluginsDir, "plugins-dir", "", "backend plugins in Grafana's layout: DIR/<plugin>/plugin.json and its gpx_ executable")
	f.StringToStringVar(&opts.PluginAddresses, "plugin-address", nil, "use an already running plugin: <plugin-id>=<host:port|unix socket path> (repeatable)")
	f.DurationVar(&opts.PluginsRescanInterval, "plugins-rescan-interval", 10*time.Second, "how often --plugins-dir is read again: installed plugins start, changed ones (executable or plugin.json) are upgraded without dropping calls, removed ones stop (0: only on SIGHUP)")
	f.BoolVar(&opts.LazyPlugins, "lazy-plugins", false, "start plugin processes on their first request instead of at start-up")
	f.StringVar(&opts.ProvisioningDir, "provisioning", "", "Grafana provisioning directory (datasources/*.yaml, plugins/*.yaml); reloaded on SIGHUP and on change")
	f.Int64Var(&opts.StackID, "stack-id", 0, "serve org 1's provisioned datasources and apps in namespace stacks-<id> instead of default (a Grafana Cloud stack; other orgs are then an error)")
	f.Int64Var(&opts.MaxBodyBytes, "max-body-bytes", 16<<20, "largest data-plane request body; the plugin side's gRPC limit is 16 MiB")
	f.IntVar(&opts.Limits.Requests, "max-dataplane-inflight", dataplane.DefaultLimits.Requests, "data-plane requests in flight at once, streams apart (429 beyond; -1: no limit)")
	f.IntVar(&opts.Limits.RequestsPerUser, "max-dataplane-inflight-per-user", dataplane.DefaultLimits.RequestsPerUser, "data-plane requests one user may have in flight (429 beyond; -1: no limit)")
	f.IntVar(&opts.Limits.Streams, "max-streams", dataplane.DefaultLimits.Streams, "open stream subscriptions (429 beyond; -1: no limit)")
	f.IntVar(&opts.Limits.StreamsPerUser, "max-streams-per-user", dataplane.DefaultLimits.StreamsPerUser, "open stream subscriptions of one user (429 beyond; -1: no limit)")
	f.DurationVar(&opts.BodyReadTimeout, "body-read-timeout", dataplane.DefaultBodyReadTimeout, "how long a client may take to send a data-plane request body (408 after; -1s: no limit)")
	f.Int64Var(&opts.ProxyResponseLimit, "proxy-response-limit-bytes", 0, "largest datasource-proxy answer (Grafana's [dataproxy] response_limit): refused (502) when its length is known to be larger, cut off at the limit otherwise (0: no limit)")
	f.IntVar(&opts.MaxQueries, "max-queries-per-request", dataplane.DefaultMaxQueries, "most queries in one query request (400 beyond)")
	f.IntVar(&opts.PluginMaxMessageBytes, "plugin-max-message-bytes", server.DefaultPluginMaxMessageBytes, "largest gRPC message to or from a plugin; a larger plugin answer fails its call")
	f.StringVar(&opts.TLSMinVersion, "tls-min-version", "VersionTLS12", "lowest TLS version served: VersionTLS12 or VersionTLS13")
	f.StringSliceVar(&opts.TLSCipherSuites, "tls-cipher-suites", server.DefaultCipherSuites, "TLS 1.2 cipher suites served (Go names); the default has forward secret AEAD suites only")
	f.StringSliceVar(&opts.HSTSDirectives, "strict-transport-security-directives", server.DefaultHSTS, "Strict-Transport-Security directives (empty: no header)")
	f.StringToStringVar(&timeouts, "timeout", nil, "per service type deadline, e.g. query=30s,resource=30s,health=10s,admission=10s,conversion=10s,metrics=10s,proxy=30s (streams have none)")
	f.StringVar(&opts.OTLPEndpoint, "otlp-endpoint", "", "export traces over OTLP/gRPC to this URL (http://host:4317 plaintext, https://… TLS)")
	f.StringVar(&opts.UIDir, "ui-dir", "", "serve the standalone UI at /ui/ from this directory instead of the bundle built into dpa")
	f.DurationVar(&opts.PluginProbeInterval, "plugin-probe-interval", 30*time.Second, "how often each running plugin is probed; one that does not answer is Available=False (PluginNotResponding)")
	f.DurationVar(&opts.PluginProbeTimeout, "plugin-probe-timeout", 5*time.Second, "how long a plugin may take to answer a probe")
	f.StringVar(&opts.AppURL, "app-url", "", "GF_APP_URL in every plugin call's Grafana config (default https://<bind-address>:<secure-port>/)")
	f.StringToStringVar(&opts.GrafanaConfig, "grafana-config", nil, "set or override a key of the Grafana config plugins receive, e.g. GF_CONCURRENT_QUERY_COUNT=4 (repeatable; an empty value removes the key)")
	f.StringVar(&opts.WebhookGroup, "webhook-group", "", "group whose members may call the admission and conversion routes besides server admins (the identity a kube-apiserver calls dpa's webhooks with)")
	f.StringVar(&opts.ServiceAdminGroup, "services-admin-group", "", "group whose members may create, change and delete DataPlaneServices besides server admins, e.g. grafana:org:1:Admin (org 1's admins, also through the Grafana app plugin)")
	f.DurationVar(&opts.ShutdownDelay, "shutdown-delay-duration", 0, "after SIGTERM, keep serving this long with /readyz failing before the listener closes and in-flight requests drain; set it above your load balancer's readiness-probe period for rolling restarts without failed requests")
	f.StringVar(&opts.ReplicaName, "replica-name", "", "this replica's name in the status of Plugin objects (default: the hostname); replicas on one storage need distinct names")
	f.StringVar(&opts.ClientCAFile, "client-ca-file", "", "accept client certificates signed by this CA bundle: CN is the user, O the groups")
	opts.RequestHeader = server.DefaultRequestHeaders
	f.StringVar(&opts.RequestHeader.ClientCAFile, "requestheader-client-ca-file", "", "accept identity headers from a front proxy whose client certificate is signed by this CA bundle; headers from anyone else are removed")
	f.StringSliceVar(&opts.RequestHeader.AllowedNames, "requestheader-allowed-names", nil, "common names a front proxy's client certificate may have (empty: any signed by --requestheader-client-ca-file)")
	f.StringSliceVar(&opts.RequestHeader.UsernameHeaders, "requestheader-username-headers", opts.RequestHeader.UsernameHeaders, "front-proxy headers holding the user name, first one set wins")
	f.StringSliceVar(&opts.RequestHeader.GroupHeaders, "requestheader-group-headers", opts.RequestHeader.GroupHeaders, "front-proxy headers holding the groups")
	f.StringSliceVar(&opts.RequestHeader.ExtraHeaderPrefixes, "requestheader-extra-headers-prefix", opts.RequestHeader.ExtraHeaderPrefixes, "prefixes of front-proxy headers holding extra user attributes")
	f.DurationVar(&opts.UISessionIdle, "ui-session-idle", ui.DefaultSessionIdle, "a UI session ends after this long without use")
	f.DurationVar(&opts.UISessionMax, "ui-session-max", ui.DefaultSessionAbsolute, "a UI session ends this long after sign-in in any case")
	opts.Audit = genericoptions.NewAuditOptions()
	opts.Audit.AddFlags(f)
	f.StringVar(&pluginLogLevel, "plugin-log-level", "warn", "lowest level of plugin log lines forwarded into dpa's log (plugins are told it in GF_PLUGIN_LOG_LEVEL); dpa logs every data-plane request itself")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(os.Stderr, hopts)
	case "json":
		h = slog.NewJSONHandler(os.Stderr, hopts)
	default:
		return nil, fmt.Errorf("--log-format must be text or json, not %q", format)
	}
	logger := slog.New(h)
	slog.SetDefault(logger)
	// The Kubernetes libraries log through klog; send it to the same handler.
	klog.SetSlogLogger(logger)
	return logger, nil
}

// parseTimeouts reads --timeout type=duration pairs.
func parseTimeouts(in map[string]string) (dataplane.Timeouts, error) {
	var t dataplane.Timeouts
	for k, v := range in {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return t, fmt.Errorf("--timeout %s=%s: want a positive duration such as 30s", k, v)
		}
		if err := t.Set(k, d); err != nil {
			return t, fmt.Errorf("--timeout: %w", err)
		}
	}
	return t, nil
}
