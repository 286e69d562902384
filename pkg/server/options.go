package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	genericoptions "k8s.io/apiserver/pkg/server/options"
	cliflag "k8s.io/component-base/cli/flag"

	"github.com/dataplane-aggregator/dpa/pkg/dataplane"
)

// Options configure `dpa serve`. Every field maps to a flag documented in README.md.
type Options struct {
	DataDir     string
	BindAddress string
	SecurePort  int
	// TLSSANs are extra DNS names or IPs for the serving certificate.
	TLSSANs       []string
	TokenAuthFile string
	// DelegateURL, when set, receives every request neither the data plane nor the local
	// resource API serves (e.g. a Grafana or kube-apiserver behind dpa).
	DelegateURL string
	// DelegateStripHeaders are removed from requests to the delegate besides
	// DefaultDelegateStripHeaders (a trailing * matches a prefix).
	DelegateStripHeaders []string
	Storage              StorageOptions
	Logger               *slog.Logger

	// PluginsDir holds backend plugins in Grafana's layout (<dir>/<plugin>/plugin.json).
	PluginsDir string
	// PluginAddresses maps plugin ids to already running plugins (host:port or unix socket).
	PluginAddresses map[string]string
	// LazyPlugins starts plugin processes on their first request instead of at start-up.
	LazyPlugins bool
	// ProvisioningDir holds Grafana provisioning files (datasources/, plugins/).
	ProvisioningDir string
	// StackID > 0 serves org 1's provisioned datasources and apps in namespace stacks-<id>
	// instead of "default", like a Grafana with a stack id.
	StackID int64
	// MaxBodyBytes limits data-plane request bodies (0: 16 MiB).
	MaxBodyBytes int64
	// MaxQueries bounds the queries of one query request (0: dataplane.DefaultMaxQueries).
	MaxQueries int
	// Limits bound data-plane requests and streams in flight (see dataplane.Limits).
	Limits dataplane.Limits
	// BodyReadTimeout bounds reading a data-plane request body.
	BodyReadTimeout time.Duration
	// ProxyResponseLimit bounds a datasource-proxy answer in bytes (0: none).
	ProxyResponseLimit int64
	// PluginMaxMessageBytes bounds one gRPC message to or from a plugin (0: 64 MiB).
	PluginMaxMessageBytes int
	// TLSMinVersion and TLSCipherSuites set the serving TLS (names as in Go's crypto/tls,
	// e.g. VersionTLS13, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256; empty: secure defaults).
	TLSMinVersion   string
	TLSCipherSuites []string
	// HSTSDirectives is the Strict-Transport-Security header (nil: DefaultHSTS; empty: none).
	HSTSDirectives []string
	// Timeouts per data-plane service type (zero values: defaults).
	Timeouts dataplane.Timeouts
	// OTLPEndpoint exports traces over OTLP/gRPC when set.
	OTLPEndpoint string
	// UIDir serves the standalone UI from disk instead of the bundle embedded in the binary.
	UIDir string
	// PluginLogLevel is the lowest level of plugin log lines forwarded into dpa's log.
	PluginLogLevel slog.Level
	// PluginsRescanInterval is how often PluginsDir is read again for installed, upgraded
	// and removed plugins (0: only on SIGHUP).
	PluginsRescanInterval time.Duration
	// PluginProbeInterval and PluginProbeTimeout set the liveness probe of running plugins
	// (zero: pluginhost defaults, 30s and 5s).
	PluginProbeInterval time.Duration
	PluginProbeTimeout  time.Duration
	// AppURL is GF_APP_URL in the plugins' GrafanaConfig ("": https://<bind address>:<port>/).
	AppURL string
	// GrafanaConfig overrides or adds PluginContext.GrafanaConfig keys (see dataplane.GrafanaConfig).
	GrafanaConfig map[string]string
	// ClientCAFile enables client-certificate authentication (CN: user, O: groups).
	ClientCAFile string
	// RequestHeader configures a front proxy that passes the caller's identity in headers.
	RequestHeader RequestHeaderOptions
	// Audit is Kubernetes' audit logging (--audit-log-path, --audit-policy-file, …); nil: off.
	Audit *genericoptions.AuditOptions
	// UISessionIdle and UISessionMax end UI sessions after that long without use and after
	// that long in all (zero: ui defaults, 1h and 12h).
	UISessionIdle time.Duration
	UISessionMax  time.Duration
	// ServiceAdminGroup members may change DataPlaneServices besides server admins.
	ServiceAdminGroup string
	// WebhookGroup members may call the admission and conversion routes (besides server
	// admins): the identity a kube-apiserver uses to call dpa's webhooks.
	WebhookGroup string
	// ShutdownDelay is how long, after SIGTERM, dpa keeps serving with /readyz failing before
	// it stops accepting connections and drains (load balancers take it out of rotation first).
	ShutdownDelay time.Duration
	// ReplicaName names this replica's entries in the status of Plugin objects ("": the
	// hostname). Replicas sharing one storage need distinct names.
	ReplicaName string
}

// Validate checks the options as given on the command line and reports every problem at once,
// each naming its flag. It changes nothing.
func (o *Options) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.DataDir == "" {
		add("--data-dir is required")
	}
	if o.SecurePort < 0 || o.SecurePort > 65535 {
		add("--secure-port %d out of range", o.SecurePort)
	}
	if net.ParseIP(o.BindAddress) == nil {
		add("--bind-address %q is not an IP address", o.BindAddress)
	}
	if o.StackID < 0 {
		add("--stack-id %d must not be negative", o.StackID)
	}
	if o.DelegateURL != "" {
		if u, err := url.Parse(o.DelegateURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("--delegate-url %q must be an http(s) URL", o.DelegateURL)
		}
	}
	if o.AppURL != "" {
		if u, err := url.Parse(o.AppURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("--app-url %q must be an http(s) URL", o.AppURL)
		}
	}
	for k := range o.GrafanaConfig {
		if k == "" || strings.ContainsAny(k, " =") {
			add("--grafana-config: %q is not a config key", k)
		}
	}
	for flag, d := range map[string]time.Duration{
		"--plugins-rescan-interval": o.PluginsRescanInterval,
		"--plugin-probe-interval":   o.PluginProbeInterval,
		"--plugin-probe-timeout":    o.PluginProbeTimeout,
	} {
		if d < 0 {
			add("%s %s must not be negative", flag, d)
		}
	}
	for flag, f := range map[string]string{"--client-ca-file": o.ClientCAFile, "--requestheader-client-ca-file": o.RequestHeader.ClientCAFile, "--token-auth-file": o.TokenAuthFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			add("%s: %v", flag, err)
		}
	}
	if o.RequestHeader.ClientCAFile != "" && len(o.RequestHeader.UsernameHeaders) == 0 {
		add("--requestheader-username-headers must name at least one header")
	}
	if o.Audit != nil {
		errs = append(errs, o.Audit.Validate()...)
	}
	if o.TLSMinVersion != "" {
		if _, err := cliflag.TLSVersion(o.TLSMinVersion); err != nil {
			add("--tls-min-version: %v", err)
		}
	}
	if _, err := cliflag.TLSCipherSuites(o.TLSCipherSuites); err != nil {
		add("--tls-cipher-suites: %v", err)
	}
	if o.MaxQueries < 0 || o.PluginMaxMessageBytes < 0 {
		add("--max-queries-per-request and --plugin-max-message-bytes must not be negative")
	}
	if o.MaxBodyBytes < 0 {
		add("--max-body-bytes %d must not be negative", o.MaxBodyBytes)
	}
	if len(o.ReplicaName) > 253 || strings.IndexFunc(o.ReplicaName, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		add("--replica-name %q must be at most 253 characters without spaces or control characters", o.ReplicaName)
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// Complete fills in what the options leave to defaults.
func (o *Options) Complete() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Storage.DataDir = o.DataDir
	if o.TLSMinVersion == "" {
		o.TLSMinVersion = "VersionTLS12"
	}
	if len(o.TLSCipherSuites) == 0 {
		o.TLSCipherSuites = DefaultCipherSuites
	}
	if o.HSTSDirectives == nil {
		o.HSTSDirectives = DefaultHSTS
	}
	if o.PluginMaxMessageBytes == 0 {
		o.PluginMaxMessageBytes = DefaultPluginMaxMessageBytes
	}
	if o.ReplicaName == "" {
		o.ReplicaName, _ = os.Hostname()
		if o.ReplicaName == "" {
			o.ReplicaName = "dpa"
		}
	}
}

// DefaultCipherSuites are the TLS 1.2 suites dpa offers by default: forward secret AEAD only
// (no CBC, no SHA-1 MACs). TLS 1.3 suites are not configurable in Go and always secure.
var DefaultCipherSuites = []string{
	"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
	"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
	"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}

// DefaultHSTS tells browsers to reach dpa over HTTPS only, for a year.
var DefaultHSTS = []string{"max-age=31536000", "includeSubDomains"}

// DefaultPluginMaxMessageBytes bounds one plugin gRPC message.
const DefaultPluginMaxMessageBytes = 64 << 20

// RequestHeaderOptions configure front-proxy authentication, as kube-aggregator and Grafana's
// own aggregator use it: a client with a certificate signed by ClientCAFile (and, when
// AllowedNames is set, a common name among them) passes the caller's identity in headers.
// Identity headers of any other client are removed unread.
type RequestHeaderOptions struct {
	ClientCAFile        string
	AllowedNames        []string
	UsernameHeaders     []string
	GroupHeaders        []string
	ExtraHeaderPrefixes []string
}

// DefaultRequestHeaders are Kubernetes' front-proxy header names.
var DefaultRequestHeaders = RequestHeaderOptions{
	UsernameHeaders:     []string{"X-Remote-User"},
	GroupHeaders:        []string{"X-Remote-Group"},
	ExtraHeaderPrefixes: []string{"X-Remote-Extra-"},
}
