package server

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/dataplane-aggregator/dpa/pkg/dataplane"
)

// DataPlaneOptions: the data plane's limits, deadlines and what plugins are told about
// Grafana. Every default is the data plane's own (dataplane.Default*).
type DataPlaneOptions struct {
	MaxBodyBytes       int64
	MaxQueries         int
	Limits             dataplane.Limits
	ProxyResponseLimit int64
	// Timeouts are --timeout's key=duration pairs (keys: routes.TimeoutKeys).
	Timeouts map[string]string
	// AppURL is GF_APP_URL ("": dpa's own serving URL).
	AppURL string
	// GrafanaConfig overrides or adds keys of the Grafana config plugins receive.
	GrafanaConfig map[string]string
}

// NewDataPlaneOptions has the data plane's defaults.
func NewDataPlaneOptions() *DataPlaneOptions {
	return &DataPlaneOptions{
		MaxBodyBytes: dataplane.DefaultMaxBodyBytes,
		MaxQueries:   dataplane.DefaultMaxQueries,
		Limits:       dataplane.DefaultLimits,
	}
}

// AddFlags adds the data plane's limits, --timeout, --app-url and --grafana-config.
func (o *DataPlaneOptions) AddFlags(fs *pflag.FlagSet) {
	fs.Int64Var(&o.MaxBodyBytes, "max-body-bytes", o.MaxBodyBytes, "largest data-plane request body; the plugin side's gRPC limit is 16 MiB")
	fs.IntVar(&o.Limits.Requests, "max-dataplane-inflight", o.Limits.Requests, "data-plane requests in flight at once, streams apart (429 beyond; -1: no limit)")
	fs.IntVar(&o.Limits.RequestsPerUser, "max-dataplane-inflight-per-user", o.Limits.RequestsPerUser, "data-plane requests one user may have in flight (429 beyond; -1: no limit)")
	fs.IntVar(&o.Limits.Streams, "max-streams", o.Limits.Streams, "open stream subscriptions (429 beyond; -1: no limit)")
	fs.IntVar(&o.Limits.StreamsPerUser, "max-streams-per-user", o.Limits.StreamsPerUser, "open stream subscriptions of one user (429 beyond; -1: no limit)")
	fs.Int64Var(&o.ProxyResponseLimit, "proxy-response-limit-bytes", o.ProxyResponseLimit, "largest datasource-proxy answer (Grafana's [dataproxy] response_limit): refused (502) when its length is known to be larger, cut off at the limit otherwise (0: no limit)")
	fs.IntVar(&o.MaxQueries, "max-queries-per-request", o.MaxQueries, "most queries in one query request (400 beyond)")
	fs.StringToStringVar(&o.Timeouts, "timeout", o.Timeouts, "per service type deadline, e.g. query=30s,resource=30s,health=10s,admission=10s,conversion=10s,metrics=10s,proxy=30s (streams have none)")
	fs.StringVar(&o.AppURL, "app-url", o.AppURL, "GF_APP_URL in every plugin call's Grafana config (default https://<bind-address>:<secure-port>/)")
	fs.StringToStringVar(&o.GrafanaConfig, "grafana-config", o.GrafanaConfig, "set or override a key of the Grafana config plugins receive, e.g. GF_CONCURRENT_QUERY_COUNT=4 (repeatable; an empty value removes the key)")
}

// Validate checks sizes, limits, deadlines, the app URL and the config keys.
func (o *DataPlaneOptions) Validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.MaxBodyBytes < 0 {
		add("--max-body-bytes %d must not be negative", o.MaxBodyBytes)
	}
	if o.MaxQueries < 0 {
		add("--max-queries-per-request %d must not be negative", o.MaxQueries)
	}
	if o.ProxyResponseLimit < 0 {
		add("--proxy-response-limit-bytes %d must not be negative", o.ProxyResponseLimit)
	}
	for flag, v := range map[string]int{
		"--max-dataplane-inflight": o.Limits.Requests, "--max-dataplane-inflight-per-user": o.Limits.RequestsPerUser,
		"--max-streams": o.Limits.Streams, "--max-streams-per-user": o.Limits.StreamsPerUser,
	} {
		if v < -1 {
			add("%s %d: want a count, or -1 for no limit", flag, v)
		}
	}
	if _, err := o.timeouts(); err != nil {
		errs = append(errs, err)
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
	return errs
}

// timeouts reads --timeout's key=duration pairs.
func (o *DataPlaneOptions) timeouts() (dataplane.Timeouts, error) {
	var t dataplane.Timeouts
	for k, v := range o.Timeouts {
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

// ApplyTo sets the data plane's limits and deadlines; the Grafana config follows in Complete,
// once the serving address is known.
func (o *DataPlaneOptions) ApplyTo(c *Config) error {
	t, err := o.timeouts()
	if err != nil {
		return err
	}
	c.DataPlane.MaxBodyBytes = o.MaxBodyBytes
	c.DataPlane.MaxQueries = o.MaxQueries
	c.DataPlane.Limits = o.Limits
	c.DataPlane.ProxyResponseLimit = o.ProxyResponseLimit
	c.DataPlane.Timeouts = t
	c.AppURL = o.AppURL
	c.GrafanaConfig = o.GrafanaConfig
	return nil
}
