package dataplane

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend/grpcplugin"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
)

// startPluginProcess builds testdata/testplugin and starts it as a plugin process over
// go-plugin's handshake and gRPC, as Grafana and the plugin host do.
func startPluginProcess(t *testing.T) *backendplugin.Client {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "testplugin")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/testplugin").CombinedOutput(); err != nil {
		t.Fatalf("building the test plugin: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "TESTPLUGIN_MARKER_DIR="+markerDir)
	cli := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig: goplugin.HandshakeConfig{
			ProtocolVersion:  grpcplugin.ProtocolVersion,
			MagicCookieKey:   grpcplugin.MagicCookieKey,
			MagicCookieValue: grpcplugin.MagicCookieValue,
		},
		Plugins: map[string]goplugin.Plugin{
			"diagnostics": &grpcplugin.DiagnosticsGRPCPlugin{},
			"resource":    &grpcplugin.ResourceGRPCPlugin{},
			"data":        &grpcplugin.DataGRPCPlugin{},
			"stream":      &grpcplugin.StreamGRPCPlugin{},
		},
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           hclog.NewNullLogger(),
	})
	t.Cleanup(cli.Kill)
	rpc, err := cli.Client()
	if err != nil {
		t.Fatal(err)
	}
	dispense := func(name string) any {
		raw, err := rpc.Dispense(name)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	return &backendplugin.Client{ID: "test-datasource", Type: "datasource",
		DataClient: dispense("data").(pluginv2.DataClient), ResourceClient: dispense("resource").(pluginv2.ResourceClient),
		DiagnosticsClient: dispense("diagnostics").(pluginv2.DiagnosticsClient), StreamClient: dispense("stream").(pluginv2.StreamClient)}
}

// TestRealPluginProcess is the one place the dataplane tests use a plugin process: a query, a
// streamed resource call, a health check and a stream through the handler, over go-plugin.
// Everything else calls the same plugin in-process (harness_test.go); test/e2e runs real
// plugins through the whole server.
func TestRealPluginProcess(t *testing.T) {
	e := newEnvWith(t, startPluginProcess(t), nil)
	r := e.do("POST", dsPath("/namespaces/default/datasources/ds1/query"), map[string]any{"queries": []map[string]any{{"refId": "A"}}})
	if r.code != 200 || !strings.Contains(string(r.body), `"A"`) {
		t.Errorf("query: %d %s", r.code, r.body)
	}
	r = e.do("GET", dsPath("/namespaces/default/datasources/ds1/resource/chunks"), nil)
	if r.code != 200 || string(r.body) != "chunk0\nchunk1\nchunk2\n" {
		t.Errorf("resource: %d %q", r.code, r.body)
	}
	r = e.do("GET", dsPath("/namespaces/default/datasources/ds1/health"), nil)
	if r.code != 200 || !strings.Contains(string(r.body), "OK") {
		t.Errorf("health: %d %s", r.code, r.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+dsPath("/namespaces/default/datasources/ds1/stream/live-real"), nil)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if resp.StatusCode != 200 || err != nil || !strings.HasPrefix(line, "{") {
		t.Errorf("stream: %d %q %v", resp.StatusCode, line, err)
	}
}
