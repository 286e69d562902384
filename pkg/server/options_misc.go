package server

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"

	"github.com/dataplane-aggregator/dpa/pkg/ui"
)

// UIOptions: the standalone UI at /ui/ and its sessions.
type UIOptions struct {
	Dir         string
	SessionIdle time.Duration
	SessionMax  time.Duration
}

// NewUIOptions: the embedded bundle, sessions of 1 h idle and 12 h at most.
func NewUIOptions() *UIOptions {
	return &UIOptions{SessionIdle: ui.DefaultSessionIdle, SessionMax: ui.DefaultSessionAbsolute}
}

// AddFlags adds --ui-dir and the --ui-session-* flags.
func (o *UIOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Dir, "ui-dir", o.Dir, "serve the standalone UI at /ui/ from this directory instead of the bundle built into dpa")
	fs.DurationVar(&o.SessionIdle, "ui-session-idle", o.SessionIdle, "a UI session ends after this long without use")
	fs.DurationVar(&o.SessionMax, "ui-session-max", o.SessionMax, "a UI session ends this long after sign-in in any case")
}

// Validate checks the session lifetimes.
func (o *UIOptions) Validate() []error {
	var errs []error
	if o.SessionIdle < 0 || o.SessionMax < 0 {
		errs = append(errs, fmt.Errorf("--ui-session-idle and --ui-session-max must not be negative"))
	}
	if o.Dir != "" {
		if fi, err := os.Stat(o.Dir); err != nil || !fi.IsDir() {
			errs = append(errs, fmt.Errorf("--ui-dir %q is not a directory", o.Dir))
		}
	}
	return errs
}

// ApplyTo sets the UI's options.
func (o *UIOptions) ApplyTo(c *Config) error {
	c.UI = *o
	return nil
}

// DelegationOptions: where requests go that dpa does not serve.
type DelegationOptions struct {
	// URL receives every request neither the data plane nor the local resource API serves.
	URL string
	// StripHeaders are removed before the delegate besides the identity-like headers (a
	// trailing * matches a prefix).
	StripHeaders []string
	// ClientCertFile and ClientKeyFile make dpa the upstream's front proxy (the caller's
	// identity in X-Remote-* headers); CAFile verifies the upstream.
	ClientCertFile, ClientKeyFile, CAFile string
}

// AddFlags adds --delegate-url and --delegate-strip-header.
func (o *DelegationOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.URL, "delegate-url", o.URL, "reverse-proxy requests that dpa does not serve to this URL")
	fs.StringSliceVar(&o.StripHeaders, "delegate-strip-header", o.StripHeaders, "more request headers to remove before the delegate, besides the identity headers always removed (a trailing * matches a prefix; repeatable)")
	fs.StringVar(&o.ClientCertFile, "delegate-client-cert-file", o.ClientCertFile, "dpa's client certificate for --delegate-url: dpa then passes the caller's identity as a front proxy (X-Remote-User, X-Remote-Group, X-Remote-Extra-*), as kube-aggregator does; the upstream must trust its CA for request headers (--requestheader-client-ca-file)")
	fs.StringVar(&o.ClientKeyFile, "delegate-client-key-file", o.ClientKeyFile, "the key of --delegate-client-cert-file")
	fs.StringVar(&o.CAFile, "delegate-ca-file", o.CAFile, "CA bundle that verifies --delegate-url's serving certificate (default: the system's roots)")
}

// Validate checks the URL and the files.
func (o *DelegationOptions) Validate() []error {
	var errs []error
	u, err := url.Parse(o.URL)
	if o.URL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		errs = append(errs, fmt.Errorf("--delegate-url %q must be an http(s) URL", o.URL))
	}
	if o.URL == "" && (o.ClientCertFile != "" || o.CAFile != "") {
		errs = append(errs, fmt.Errorf("--delegate-client-cert-file and --delegate-ca-file need --delegate-url"))
	}
	if (o.ClientCertFile == "") != (o.ClientKeyFile == "") {
		errs = append(errs, fmt.Errorf("--delegate-client-cert-file and --delegate-client-key-file go together"))
	}
	if o.ClientCertFile != "" && u != nil && u.Scheme == "http" {
		errs = append(errs, fmt.Errorf("--delegate-client-cert-file needs an https --delegate-url"))
	}
	for flag, f := range map[string]string{"--delegate-client-cert-file": o.ClientCertFile, "--delegate-client-key-file": o.ClientKeyFile, "--delegate-ca-file": o.CAFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", flag, err))
		}
	}
	return errs
}

// ApplyTo sets the delegate and tells the authorizer that other groups are passed on.
func (o *DelegationOptions) ApplyTo(c *Config) error {
	c.Delegation = *o
	c.Authorization.Delegating = o.URL != ""
	return nil
}

// TracingOptions: OpenTelemetry export.
type TracingOptions struct {
	OTLPEndpoint string
}

// AddFlags adds --otlp-endpoint.
func (o *TracingOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.OTLPEndpoint, "otlp-endpoint", o.OTLPEndpoint, "export traces over OTLP/gRPC to this URL (http://host:4317 plaintext, https://… TLS)")
}

// Validate checks the endpoint's URL.
func (o *TracingOptions) Validate() []error {
	if o.OTLPEndpoint == "" {
		return nil
	}
	if u, err := url.Parse(o.OTLPEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return []error{fmt.Errorf("--otlp-endpoint %q must be an http(s) URL", o.OTLPEndpoint)}
	}
	return nil
}

// ApplyTo sets the endpoint.
func (o *TracingOptions) ApplyTo(c *Config) error {
	c.OTLPEndpoint = o.OTLPEndpoint
	return nil
}

// LoggingOptions: dpa's own log (the Kubernetes libraries' klog goes to the same handler).
type LoggingOptions struct {
	Level  string
	Format string
}

// NewLoggingOptions: info, as text.
func NewLoggingOptions() *LoggingOptions { return &LoggingOptions{Level: "info", Format: "text"} }

// AddFlags adds --log-level and --log-format.
func (o *LoggingOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Level, "log-level", o.Level, "debug, info, warn or error")
	fs.StringVar(&o.Format, "log-format", o.Format, "text or json")
}

// Validate checks the level and the format.
func (o *LoggingOptions) Validate() []error {
	var errs []error
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.Level)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level: %w", err))
	}
	if o.Format != "text" && o.Format != "json" {
		errs = append(errs, fmt.Errorf("--log-format must be text or json, not %q", o.Format))
	}
	return errs
}

// ApplyTo makes the logger, the process's default one, and sends klog to it.
func (o *LoggingOptions) ApplyTo(c *Config) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.Level)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	if o.Format == "json" {
		h = slog.NewJSONHandler(os.Stderr, hopts)
	} else {
		h = slog.NewTextHandler(os.Stderr, hopts)
	}
	c.Logger = slog.New(h)
	slog.SetDefault(c.Logger)
	klog.SetSlogLogger(c.Logger)
	return nil
}
