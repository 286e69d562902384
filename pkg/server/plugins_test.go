package server

import (
	"maps"
	"testing"

	"github.com/dataplane-aggregator/dpa/pkg/version"
)

// TestPluginEnv: plugins always learn dpa's version; they get Grafana's OTLP settings only
// for a plaintext http:// endpoint, as host:port (the plugin SDK speaks plaintext OTLP/gRPC
// only, so a TLS endpoint would lose their spans or worse).
func TestPluginEnv(t *testing.T) {
	otlp := func(addr string) map[string]string {
		return map[string]string{
			"GF_INSTANCE_OTLP_ADDRESS":       addr,
			"GF_INSTANCE_OTLP_PROPAGATION":   "w3c",
			"GF_INSTANCE_OTLP_SAMPLER_TYPE":  "const",
			"GF_INSTANCE_OTLP_SAMPLER_PARAM": "1",
		}
	}
	for name, tc := range map[string]struct {
		endpoint string
		want     map[string]string // besides GF_PLUGIN_DPA_VERSION
	}{
		"no endpoint":          {endpoint: ""},
		"plaintext collector":  {endpoint: "http://otel-collector:4317", want: otlp("otel-collector:4317")},
		"http with a path":     {endpoint: "http://127.0.0.1:4317/v1/traces", want: otlp("127.0.0.1:4317")},
		"http IPv6":            {endpoint: "http://[::1]:4317", want: otlp("[::1]:4317")},
		"https":                {endpoint: "https://otel-collector:4317"},
		"grpc scheme":          {endpoint: "grpc://otel-collector:4317"},
		"host:port, no scheme": {endpoint: "otel-collector:4317"},
		"http without a host":  {endpoint: "http:///v1/traces"},
		"unparsable":           {endpoint: "http://[::1"},
	} {
		t.Run(name, func(t *testing.T) {
			want := map[string]string{"GF_PLUGIN_DPA_VERSION": version.Version}
			maps.Copy(want, tc.want)
			if got := pluginEnv(tc.endpoint); !maps.Equal(got, want) {
				t.Errorf("pluginEnv(%q) = %v, want %v", tc.endpoint, got, want)
			}
		})
	}
}

// TestPluginEnvVersion: the version plugins see is the one the binary was built with.
func TestPluginEnvVersion(t *testing.T) {
	old := version.Version
	t.Cleanup(func() { version.Version = old })
	version.Version = "v9.8.7"
	if got := pluginEnv("")["GF_PLUGIN_DPA_VERSION"]; got != "v9.8.7" {
		t.Errorf("GF_PLUGIN_DPA_VERSION = %q, want v9.8.7", got)
	}
}
