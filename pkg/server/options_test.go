package server

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	cliflag "k8s.io/component-base/cli/flag"
)

// parse parses a `dpa serve` command line into fresh options, as cmd/dpa does.
func parse(t *testing.T, args ...string) (*Options, error) {
	t.Helper()
	o := NewOptions()
	var fss cliflag.NamedFlagSets
	o.AddFlags(&fss)
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	for _, f := range fss.FlagSets {
		fs.AddFlagSet(f)
	}
	return o, fs.Parse(args)
}

// testServer is a Server built from a command line the way cmd/dpa builds it.
func testServer(t *testing.T, args ...string) *Server {
	t.Helper()
	o, err := parse(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.Config()
	if err != nil {
		t.Fatal(err)
	}
	s, err := cfg.Complete().New()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOptions: each option group's flags, parsed from a command line, are validated (every
// problem reported at once, naming its flag) and applied to the Config the phases read.
func TestOptions(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args  []string
		want  []string // substrings of the error; none: valid
		check func(t *testing.T, c *Config)
	}{
		"defaults": {check: func(t *testing.T, c *Config) {
			if c.DataDir != "./data" || c.Storage.DataDir != "./data" || c.ReplicaName == "" || c.Logger == nil {
				t.Errorf("data dir %q, storage dir %q, replica %q, logger %v", c.DataDir, c.Storage.DataDir, c.ReplicaName, c.Logger)
			}
			if !c.Serving.BindAddress.Equal(net.ParseIP("127.0.0.1")) || c.Serving.BindPort != 6443 || c.Serving.MinTLSVersion != "VersionTLS12" {
				t.Errorf("serving %v:%d %s", c.Serving.BindAddress, c.Serving.BindPort, c.Serving.MinTLSVersion)
			}
			if strings.Join(c.ServerRun.HSTSDirectives, ",") != "max-age=31536000,includeSubDomains" || c.ServerRun.MaxRequestsInFlight != 400 {
				t.Errorf("generic server: HSTS %v, max in flight %d", c.ServerRun.HSTSDirectives, c.ServerRun.MaxRequestsInFlight)
			}
			if h := c.Authentication.RequestHeader.UsernameHeaders; len(h) != 1 || !strings.EqualFold(h[0], "X-Remote-User") {
				t.Errorf("front-proxy user headers %v", h)
			}
			if c.DataPlane.MaxBodyBytes != 16<<20 || c.DataPlane.Limits.Requests != 256 || c.BodyReadTimeout != 30*time.Second {
				t.Errorf("data plane %+v", c.DataPlane)
			}
			if c.ServerRun.MaxRequestBodyBytes != 1<<20 {
				t.Errorf("max object bytes %d", c.ServerRun.MaxRequestBodyBytes)
			}
			if c.Plugins.RescanInterval != 10*time.Second || len(c.Plugins.GRPCDialOptions) != 1 || c.Storage.PollInterval != 100*time.Millisecond {
				t.Errorf("plugins %+v, storage %+v", c.Plugins, c.Storage)
			}
			if got := c.Complete().DataPlane.GrafanaConfig["GF_APP_URL"]; got != "https://127.0.0.1:6443/" {
				t.Errorf("GF_APP_URL %q", got)
			}
		}},
		"the API server's standard flags": {args: []string{"--max-requests-inflight", "7", "--request-timeout", "5s",
			"--shutdown-delay-duration", "3s", "--strict-transport-security-directives", "", "--profiling=false",
			"--bind-address", "0.0.0.0", "--secure-port", "7443", "--tls-min-version", "VersionTLS13",
			"--requestheader-client-ca-file", file, "--requestheader-allowed-names", "front-proxy", "--client-ca-file", file,
			"--audit-log-path", "-"},
			check: func(t *testing.T, c *Config) {
				if c.ServerRun.MaxRequestsInFlight != 7 || c.ServerRun.RequestTimeout != 5*time.Second || c.ServerRun.ShutdownDelayDuration != 3*time.Second || len(c.ServerRun.HSTSDirectives) != 0 {
					t.Errorf("generic server %+v", c.ServerRun)
				}
				if c.Features.EnableProfiling || c.Serving.BindPort != 7443 || c.Serving.MinTLSVersion != "VersionTLS13" || c.Audit.LogOptions.Path != "-" {
					t.Errorf("profiling %v, port %d, TLS %s, audit %q", c.Features.EnableProfiling, c.Serving.BindPort, c.Serving.MinTLSVersion, c.Audit.LogOptions.Path)
				}
				if c.Authentication.RequestHeader.ClientCAFile != file || c.Authentication.RequestHeader.AllowedNames[0] != "front-proxy" || c.Authentication.ClientCert.ClientCA != file {
					t.Errorf("authentication %+v %+v", c.Authentication.RequestHeader, c.Authentication.ClientCert)
				}
				if got := c.Complete().DataPlane.GrafanaConfig["GF_APP_URL"]; got != "https://localhost:7443/" {
					t.Errorf("GF_APP_URL %q for 0.0.0.0", got)
				}
			}},
		"dpa's groups": {args: []string{"--max-body-bytes", "1024", "--max-dataplane-inflight", "-1", "--timeout", "query=1m,health=2s",
			"--app-url", "https://grafana.example/", "--grafana-config", "GF_CONCURRENT_QUERY_COUNT=4", "--plugins-dir", "/p",
			"--plugin-log-level", "debug", "--plugin-max-message-bytes", "100", "--provisioning", "/prov", "--stack-id", "12",
			"--delegate-url", "https://upstream.example", "--delegate-client-cert-file", file, "--delegate-client-key-file", file, "--delegate-ca-file", file, "--webhook-group", "hooks", "--services-admin-group", "admins",
			"--replica-name", "r1", "--storage", "postgres://db/dpa", "--storage-poll-interval", "0", "--ui-session-idle", "5m",
			"--otlp-endpoint", "http://127.0.0.1:4317", "--log-level", "warn"},
			check: func(t *testing.T, c *Config) {
				dp := c.DataPlane
				if dp.MaxBodyBytes != 1024 || dp.Limits.Requests != -1 || dp.Timeouts.Query != time.Minute || dp.Timeouts.Health != 2*time.Second {
					t.Errorf("data plane %+v", dp)
				}
				gc := c.Complete().DataPlane.GrafanaConfig
				if gc["GF_APP_URL"] != "https://grafana.example/" || gc["GF_CONCURRENT_QUERY_COUNT"] != "4" {
					t.Errorf("Grafana config %v", gc)
				}
				if c.Plugins.PluginsDir != "/p" || c.Plugins.PluginLogLevel.String() != "DEBUG" || c.Provisioning.Dir != "/prov" || c.Provisioning.StackID != 12 {
					t.Errorf("plugins %+v, provisioning %+v", c.Plugins, c.Provisioning)
				}
				if c.Delegation.URL != "https://upstream.example" || c.Delegation.ClientCertFile != file || c.Delegation.CAFile != file || !c.Authorization.Delegating || c.Authorization.WebhookGroup != "hooks" || c.Authorization.ServiceAdminGroup != "admins" {
					t.Errorf("delegation %+v, authorization %+v", c.Delegation, c.Authorization)
				}
				if c.ReplicaName != "r1" || c.Storage.DSN != "postgres://db/dpa" || c.Storage.PollInterval != 0 || c.UI.SessionIdle != 5*time.Minute || c.OTLPEndpoint == "" {
					t.Errorf("replica %q, storage %+v, ui %+v", c.ReplicaName, c.Storage, c.UI)
				}
			}},
		"serving": {args: []string{"--secure-port", "0", "--tls-cipher-suites", "TLS_NOPE", "--tls-min-version", "VersionTLS10x", "--tls-cert-file", file}, want: []string{"--secure-port 0", "--tls-cipher-suites", "--tls-min-version", "--tls-cert-file and --tls-private-key-file go together"}},
		"generic": {args: []string{"--max-requests-inflight", "-1", "--shutdown-delay-duration", "-1s", "--enable-priority-and-fairness"}, want: []string{"--max-requests-inflight", "--shutdown-delay-duration", "--enable-priority-and-fairness needs"}},
		"auth files": {args: []string{"--client-ca-file", "/nonexistent/ca", "--requestheader-client-ca-file", "/nonexistent/rh", "--token-auth-file", "/nonexistent/tokens",
			"--authentication-kubeconfig", "/nonexistent/kc", "--authorization-kubeconfig", "/nonexistent/kc", "--authentication-token-webhook-cache-ttl", "-1s"},
			want: []string{"--client-ca-file: stat /nonexistent/ca", "--requestheader-client-ca-file: stat", "--token-auth-file: stat", "--authentication-kubeconfig: stat", "--authorization-kubeconfig: stat", "--authentication-token-webhook-cache-ttl -1s"}},
		"failed tokens": {args: []string{"--auth-failure-limit", "3", "--auth-failure-window", "1m"},
			check: func(t *testing.T, c *Config) {
				if c.Authentication.FailureLimit != 3 || c.Authentication.FailureWindow != time.Minute {
					t.Errorf("failure limit %d within %s", c.Authentication.FailureLimit, c.Authentication.FailureWindow)
				}
				if d := NewAuthenticationOptions(); d.FailureLimit != 5 || d.FailureWindow != 15*time.Minute {
					t.Errorf("defaults: %d within %s", d.FailureLimit, d.FailureWindow)
				}
			}},
		"failed tokens, bad values": {args: []string{"--auth-failure-limit", "-1", "--auth-failure-window", "0s"},
			want: []string{"--auth-failure-limit -1", "--auth-failure-window 0s"}},
		"front proxy": {args: []string{"--requestheader-client-ca-file", file, "--requestheader-username-headers", ""}, want: []string{"--requestheader-username-headers must name"}},
		"data plane":  {args: []string{"--max-body-bytes", "-1", "--max-queries-per-request", "-1", "--max-streams", "-2", "--timeout", "query=0s", "--app-url", "grafana.example", "--grafana-config", "=x"}, want: []string{"--max-body-bytes -1", "--max-queries-per-request -1", "--max-streams -2", "--timeout query=0s", `--app-url "grafana.example"`, `--grafana-config: "" is not a config key`}},
		"delegation": {args: []string{"--delegate-client-cert-file", file, "--delegate-ca-file", "/nonexistent/ca"},
			want: []string{"need --delegate-url", "--delegate-client-cert-file and --delegate-client-key-file go together", "--delegate-ca-file: stat"}},
		"front proxy over http": {args: []string{"--delegate-url", "http://upstream", "--delegate-client-cert-file", file, "--delegate-client-key-file", file},
			want: []string{"needs an https --delegate-url"}},
		"timeout key": {args: []string{"--timeout", "nope=1s"}, want: []string{`--timeout: unknown service type "nope"`}},
		"plugins":     {args: []string{"--plugins-rescan-interval", "-1s", "--plugin-probe-interval", "-1s", "--plugin-probe-timeout", "-1s", "--plugin-log-level", "loud", "--plugin-max-message-bytes", "-1"}, want: []string{"--plugins-rescan-interval -1s", "--plugin-probe-interval -1s", "--plugin-probe-timeout -1s", "--plugin-log-level", "--plugin-max-message-bytes -1"}},
		"storage":     {args: []string{"--storage", "postgres://db", "--etcd-servers", "ftp://x", "--etcd-cafile", "/nonexistent/ca", "--storage-poll-interval", "-1s"}, want: []string{"mutually exclusive", `--etcd-servers: "ftp://x"`, "--etcd-cafile", "--storage-poll-interval -1s"}},
		"small groups": {args: []string{"--data-dir", "", "--stack-id", "-1", "--delegate-url", "ftp://x", "--replica-name", "a b", "--otlp-endpoint", "localhost:4317", "--log-level", "loud", "--log-format", "xml", "--ui-dir", "/nonexistent", "--ui-session-max", "-1s"},
			want: []string{"--data-dir is required", "--stack-id -1", `--delegate-url "ftp://x"`, `--replica-name "a b"`, "--otlp-endpoint", "--log-level", "--log-format must be text or json", `--ui-dir "/nonexistent"`, "--ui-session-idle and --ui-session-max"}},
	} {
		t.Run(name, func(t *testing.T) {
			o, err := parse(t, tc.args...)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			cfg, err := o.Config()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Config() = %v", err)
				}
				tc.check(t, cfg)
				return
			}
			if err == nil {
				t.Fatalf("Config() passed, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Config() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

// TestFlagsKeepTheirNames: every flag the README documents exists on `dpa serve`, with the
// API server's standard flags among them.
func TestFlagsKeepTheirNames(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	o := NewOptions()
	var fss cliflag.NamedFlagSets
	o.AddFlags(&fss)
	all := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	for _, f := range fss.FlagSets {
		all.AddFlagSet(f)
	}
	documented := 0
	for _, line := range strings.Split(string(readme), "\n") {
		if !strings.HasPrefix(line, "| `--") {
			continue
		}
		for _, cell := range strings.Split(strings.SplitN(line, "|", 3)[1], ",") {
			name := strings.Trim(strings.TrimSpace(cell), "`")
			name = strings.TrimPrefix(strings.Fields(name + " ")[0], "--")
			if all.Lookup(name) == nil {
				t.Errorf("README documents --%s, which dpa serve does not have", name)
			}
			documented++
		}
	}
	if documented < 50 {
		t.Errorf("found %d documented flags in README.md, expected the flag table", documented)
	}
	for _, std := range []string{"max-requests-inflight", "max-mutating-requests-inflight", "request-timeout", "tls-cert-file", "tls-private-key-file", "cert-dir", "requestheader-uid-headers", "profiling", "cors-allowed-origins"} {
		if all.Lookup(std) == nil {
			t.Errorf("standard flag --%s missing", std)
		}
	}
}
