package server

import (
	"strings"
	"testing"
	"time"
)

func validOptions() Options {
	return Options{DataDir: "/tmp/dpa", BindAddress: "127.0.0.1", SecurePort: 6443}
}

// TestOptionsValidate: every flag problem is reported at once, naming its flag; valid options
// pass and Complete fills in the defaults.
func TestOptionsValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*Options)
		want   []string // substrings of the error, "" for none
	}{
		"valid": {func(*Options) {}, nil},
		"every optional flag set well": {func(o *Options) {
			o.DelegateURL, o.AppURL = "https://grafana.example", "https://grafana.example/"
			o.GrafanaConfig = map[string]string{"GF_CONCURRENT_QUERY_COUNT": "4"}
			o.PluginsRescanInterval, o.PluginProbeInterval, o.PluginProbeTimeout = time.Second, time.Second, time.Second
		}, nil},
		"no data dir":        {func(o *Options) { o.DataDir = "" }, []string{"--data-dir is required"}},
		"port":               {func(o *Options) { o.SecurePort = 70000 }, []string{"--secure-port 70000 out of range"}},
		"bind address":       {func(o *Options) { o.BindAddress = "localhost" }, []string{`--bind-address "localhost" is not an IP address`}},
		"stack id":           {func(o *Options) { o.StackID = -1 }, []string{"--stack-id -1"}},
		"delegate url":       {func(o *Options) { o.DelegateURL = "ftp://x" }, []string{`--delegate-url "ftp://x"`}},
		"app url":            {func(o *Options) { o.AppURL = "grafana.example" }, []string{`--app-url "grafana.example" must be an http(s) URL`}},
		"grafana config key": {func(o *Options) { o.GrafanaConfig = map[string]string{"": "x"} }, []string{`--grafana-config: "" is not a config key`}},
		"negative durations": {func(o *Options) {
			o.PluginsRescanInterval, o.PluginProbeInterval, o.PluginProbeTimeout = -1, -1, -1
		}, []string{"--plugins-rescan-interval -1ns", "--plugin-probe-interval -1ns", "--plugin-probe-timeout -1ns"}},
		"replica name": {func(o *Options) { o.ReplicaName = "a b" }, []string{`--replica-name "a b" must be at most 253 characters`}},
		"all at once": {func(o *Options) { o.DataDir, o.SecurePort, o.MaxBodyBytes = "", -1, -1 },
			[]string{"--data-dir", "--secure-port -1", "--max-body-bytes -1"}},
	} {
		t.Run(name, func(t *testing.T) {
			o := validOptions()
			tc.mutate(&o)
			err := o.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				if _, err := New(o); err != nil {
					t.Fatalf("New() = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() passed, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
			if _, err := New(o); err == nil {
				t.Error("New() accepted invalid options")
			}
		})
	}
	o := validOptions()
	o.Complete()
	if o.Logger == nil || o.Storage.DataDir != o.DataDir || o.ReplicaName == "" {
		t.Errorf("Complete() left defaults unset: logger %v, storage dir %q, replica name %q", o.Logger, o.Storage.DataDir, o.ReplicaName)
	}
}
