package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"

	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
	"github.com/dataplane-aggregator/dpa/pkg/pluginhost"
)

// pluginJSON is the part of plugin.json Grafana's validator cares about.
type pluginJSON struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Name       string `json:"name"`
	Backend    bool   `json:"backend"`
	Executable string `json:"executable"`
	Info       struct {
		Keywords []string `json:"keywords"`
		Version  string   `json:"version"`
		Updated  string   `json:"updated"`
		Logos    struct{ Small, Large string }
	} `json:"info"`
	Includes []struct {
		Type, Name, Path, Role string
	} `json:"includes"`
	Dependencies struct {
		GrafanaDependency string `json:"grafanaDependency"`
	} `json:"dependencies"`
}

func readPluginJSON(t *testing.T, path string) (pluginJSON, string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p pluginJSON
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p, string(b)
}

func checkPluginJSON(t *testing.T, p pluginJSON) {
	t.Helper()
	if !regexp.MustCompile(`^[0-9a-z]+-([0-9a-z]+-)?app$`).MatchString(p.ID) || p.ID != "dataplane-aggregator-app" {
		t.Errorf("id %q", p.ID)
	}
	if p.Type != "app" || p.Name != "Data Plane Aggregator" || !p.Backend || p.Executable != "gpx_dataplane_aggregator_app" {
		t.Errorf("type/name/backend/executable: %+v", p)
	}
	if len(p.Info.Keywords) == 0 {
		t.Error("no keywords")
	}
	if !strings.HasPrefix(p.Dependencies.GrafanaDependency, ">=") {
		t.Errorf("grafanaDependency %q", p.Dependencies.GrafanaDependency)
	}
	pages := 0
	for _, inc := range p.Includes {
		if inc.Type == "page" && strings.HasPrefix(inc.Path, "/a/") {
			pages++
		}
		if inc.Type == "page" && !strings.HasPrefix(inc.Path, "/a/%PLUGIN_ID%/") && !strings.HasPrefix(inc.Path, "/a/"+p.ID+"/") && !strings.HasPrefix(inc.Path, "/plugins/") {
			t.Errorf("include %q: page paths must be /a/%%PLUGIN_ID%%/…", inc.Path)
		}
	}
	if pages == 0 {
		t.Error("no app pages under /a/…")
	}
}

func TestAppPluginJSON(t *testing.T) {
	p, _ := readPluginJSON(t, filepath.Join(repo, "plugin", "src", "plugin.json"))
	checkPluginJSON(t, p)
	if p.Info.Version != "%VERSION%" || p.Info.Updated != "%TODAY%" {
		t.Errorf("source plugin.json must carry the placeholders the build fills: %q %q", p.Info.Version, p.Info.Updated)
	}
}

// distDir is the packaged plugin (`make plugin`, which `make test` runs before the Go tests).
func distDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join(repo, "plugin", "dist")
	if _, err := os.Stat(filepath.Join(d, "plugin.json")); err != nil {
		t.Fatalf("plugin/dist is not built: run `make plugin` first (%v)", err)
	}
	return d
}

func TestAppPluginDist(t *testing.T) {
	d := distDir(t)
	p, raw := readPluginJSON(t, filepath.Join(d, "plugin.json"))
	checkPluginJSON(t, p)
	version, err := os.ReadFile(filepath.Join(repo, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Info.Version != strings.TrimSpace(string(version)) {
		t.Errorf("dist version %q, VERSION says %q", p.Info.Version, version)
	}
	if _, err := time.Parse("2006-01-02", p.Info.Updated); err != nil {
		t.Errorf("dist updated %q is not a date", p.Info.Updated)
	}
	if strings.Contains(raw, "%VERSION%") || strings.Contains(raw, "%TODAY%") || strings.Contains(raw, "%PLUGIN_ID%") {
		t.Errorf("placeholders left in dist/plugin.json:\n%s", raw)
	}
	for _, f := range []string{"module.js", "img/logo.svg", "README.md", "CHANGELOG.md",
		"gpx_dataplane_aggregator_app_linux_amd64", "gpx_dataplane_aggregator_app_linux_arm64"} {
		st, err := os.Stat(filepath.Join(d, f))
		if err != nil || st.Size() == 0 {
			t.Errorf("dist/%s missing or empty: %v", f, err)
		}
	}
	zip := filepath.Join(repo, "plugin", "dataplane-aggregator-app-"+p.Info.Version+".zip")
	if st, err := os.Stat(zip); err != nil || st.Size() == 0 {
		t.Errorf("plugin zip %s: %v", zip, err)
	}
}

// TestAppPluginBackend runs the packaged backend the way Grafana does — a plugin process over
// the Grafana plugin protocol, started by dpa's plugin host — and calls it against a real dpa.
// TestAppPluginBackend drives the packaged app plugin's backend over the plugin protocol
// against a real dpa. The backend's token belongs to an identity that may only impersonate
// (grafana:impersonator); every call acts as the Grafana user of the plugin context with its
// org role, so dpa's rules apply to that user: org 1's Admins may change services here
// (--services-admin-group), a Viewer may only read.
func TestAppPluginBackend(t *testing.T) {
	dist := distDir(t)
	tokens := writeFile(t, t.TempDir(), "tokens.csv", `plugin-token,grafana-app,grafana-app,"grafana:impersonator"`+"\n")
	s := startServer(t, "", "--token-auth-file", tokens, "--services-admin-group", "grafana:org:1:Admin")
	// The token alone may do nothing.
	if code, b := s.as(t, identity{token: "plugin-token"}, "GET", collection, nil); code != 403 {
		t.Fatalf("the plugin's token on its own: %d %s", code, b)
	}
	plugins := t.TempDir()
	if err := os.Symlink(dist, filepath.Join(plugins, "dataplane-aggregator-app")); err != nil {
		t.Fatal(err)
	}
	host, err := pluginhost.New(pluginhost.Options{PluginsDir: plugins, SocketDir: shortTempDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := host.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = host.Stop(context.Background()) })
	var p *backendplugin.Client
	eventually(t, 30*time.Second, "the app plugin backend to start", func() (bool, string) {
		var err error
		p, err = host.Get(ctx, "dataplane-aggregator-app")
		return err == nil, errString(err)
	})

	ca, err := os.ReadFile(filepath.Join(s.dataDir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pctxAs := func(token, login, role string) *pluginv2.PluginContext {
		js, _ := json.Marshal(map[string]any{"url": s.url, "caCert": string(ca)})
		return &pluginv2.PluginContext{
			OrgId: 1, PluginId: "dataplane-aggregator-app",
			User: &pluginv2.User{Login: login, Role: role},
			AppInstanceSettings: &pluginv2.AppInstanceSettings{
				JsonData: js, DecryptedSecureJsonData: map[string]string{"token": token}, LastUpdatedMS: time.Now().UnixMilli(),
			},
		}
	}

	pctx := func(token string) *pluginv2.PluginContext { return pctxAs(token, "ada", "Admin") }
	health, err := p.CheckHealth(ctx, &pluginv2.CheckHealthRequest{PluginContext: pctx("plugin-token")})
	if err != nil || health.Status != pluginv2.CheckHealthResponse_OK || !strings.Contains(health.Message, `"grafana-app"`) {
		t.Fatalf("CheckHealth with the plugin's token = %v, %v", health, err)
	}
	health, err = p.CheckHealth(ctx, &pluginv2.CheckHealthRequest{PluginContext: pctx("wrong-token")})
	if err != nil || health.Status != pluginv2.CheckHealthResponse_ERROR {
		t.Fatalf("CheckHealth with a wrong token = %v, %v", health, err)
	}

	callAs := func(role, method, path, body string) (int, string) {
		t.Helper()
		stream, err := p.CallResource(ctx, &pluginv2.CallResourceRequest{
			PluginContext: pctxAs("plugin-token", strings.ToLower(role)+"-user", role), Method: method, Path: path, Url: path, Body: []byte(body),
			Headers: map[string]*pluginv2.StringList{"Content-Type": {Values: []string{"application/json"}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		code, out := 0, ""
		for {
			msg, err := stream.Recv()
			if err != nil {
				break
			}
			if msg.Code != 0 {
				code = int(msg.Code)
			}
			out += string(msg.Body)
		}
		return code, out
	}
	call := func(method, path, body string) (int, string) { return callAs("Admin", method, path, body) }
	obj := `{"apiVersion":"aggregation.grafana.app/v0alpha1","kind":"DataPlaneService","metadata":{"name":"via-grafana"},"spec":{"pluginID":"x","pluginType":"app","group":"via.grafana.app","version":"v1","services":[{"type":"health"}]}}`
	code, out := callAs("Viewer", "POST", "apis/aggregation.grafana.app/v0alpha1/dataplaneservices", obj)
	if code != 403 || !strings.Contains(out, `User \"viewer-user\" cannot create resource \"dataplaneservices\"`) {
		t.Fatalf("create as a Grafana Viewer through the app backend = %d %s", code, out)
	}
	if code, out := call("POST", "apis/aggregation.grafana.app/v0alpha1/dataplaneservices", obj); code != 201 {
		t.Fatalf("create as a Grafana Admin through the app backend = %d %s", code, out)
	}
	if code, out := callAs("Viewer", "GET", "apis/aggregation.grafana.app/v0alpha1/dataplaneservices", ""); code != 200 || !strings.Contains(out, `"via-grafana"`) {
		t.Fatalf("list as a Grafana Viewer = %d %s", code, out)
	}
	if code, out := callAs("Viewer", "DELETE", "apis/aggregation.grafana.app/v0alpha1/dataplaneservices/via-grafana", ""); code != 403 {
		t.Fatalf("delete as a Grafana Viewer = %d %s", code, out)
	}
	code, out = call("GET", "apis/aggregation.grafana.app/v0alpha1/dataplaneservices", "")
	if code != 200 || !strings.Contains(out, `"via-grafana"`) {
		t.Fatalf("list through the app backend = %d %s", code, out)
	}
	bad := strings.Replace(obj, `"pluginType":"app"`, `"pluginType":"panel"`, 1)
	bad = strings.Replace(bad, "via-grafana", "bad", 1)
	if code, out := call("POST", "apis/aggregation.grafana.app/v0alpha1/dataplaneservices", bad); code != 422 || !strings.Contains(out, "spec.pluginType") {
		t.Fatalf("invalid create through the app backend = %d %s", code, out)
	}
	if strings.Contains(out, "plugin-token") || strings.Contains(out, s.token) {
		t.Fatal("a token reached a response")
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
