package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
)

// The data-plane suite: HTTP → real dpa → real example plugin processes, for every service
// type of docs/dataplane.md.

const (
	dsGroup  = "example.datasource.grafana.app"
	dsBase   = "/apis/" + dsGroup + "/v0alpha1"
	dsNS     = dsBase + "/namespaces/default/datasources/example"
	appGroup = "example.app.grafana.app"
	appBase  = "/apis/" + appGroup + "/v0alpha1"

	// Secure values provisioned below; none may appear in a response body or dpa's log.
	secretAPIKey   = "example-secret-key"
	secretBasicPW  = "e2e-basic-pw-0f3a9"
	secretHeader   = "e2e-header-secret-7c21"
	secretAppToken = "e2e-app-token-5d88"
)

var secrets = []string{secretAPIKey, secretBasicPW, secretHeader, secretAppToken}

// upstreamRequest is what the datasource-proxy / delegate upstream saw.
type upstreamRequest struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   string
}

type recorder struct {
	mu   sync.Mutex
	reqs []upstreamRequest
}

func (r *recorder) handler(reply string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, upstreamRequest{req.Method, req.URL.Path, req.URL.RawQuery, req.Header.Clone(), string(b)})
		r.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "upstream", Value: "must-not-reach-the-client"})
		w.Header().Set("X-Upstream", "yes")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, reply)
	})
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func (r *recorder) last(t *testing.T) upstreamRequest {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Fatal("the upstream saw no request")
	}
	return r.reqs[len(r.reqs)-1]
}

func datasourcesYAML(proxyURL string) string {
	return fmt.Sprintf(`apiVersion: 1
datasources:
  - name: Example
    type: example-datasource
    uid: example
    orgId: 1
    url: %s/base
    basicAuth: true
    basicAuthUser: proxyuser
    jsonData:
      httpHeaderName1: X-Upstream-Key
    secureJsonData:
      apiKey: %s
      basicAuthPassword: %s
      httpHeaderValue1: %s
`, proxyURL, secretAPIKey, secretBasicPW, secretHeader)
}

const appsYAML = `apiVersion: 1
apps:
  - type: example-app
    org_id: 1
    jsonData:
      greeting: hello from e2e
    secureJsonData:
      token: ` + secretAppToken + `
`

// scanSecrets fails if a provisioned secret shows up in any recorded response or the log.
// When every subtest ran (complete), it also insists that enough was recorded to prove
// something.
func scanSecrets(t *testing.T, d *server, complete bool) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if complete && len(d.bodies) < 20 {
		t.Errorf("only %d response bodies recorded: the secret scan would prove nothing", len(d.bodies))
	}
	logs := d.log.String()
	if !strings.Contains(logs, "dataplane request") {
		t.Errorf("dpa's log has no request lines: the secret scan would prove nothing")
	}
	for _, s := range secrets {
		for i, b := range d.bodies {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("secret %q in response body #%d: %s", s, i, b)
			}
		}
		if strings.Contains(logs, s) {
			t.Errorf("secret %q in dpa's log output", s)
		}
	}
}

func TestDataPlane(t *testing.T) {
	plugins := examplePlugins(t)
	proxied := &recorder{}
	upstream := httptest.NewServer(proxied.handler("upstream says hi"))
	t.Cleanup(upstream.Close)

	prov := t.TempDir()
	writeProvisioning(t, prov, datasourcesYAML(upstream.URL), appsYAML)

	var d *server
	// Each subtest also runs alone (go test -run 'TestDataPlane$/query'); ran counts them.
	ran, total := 0, 0
	sub := func(name string, f func(t *testing.T)) {
		total++
		t.Run(name, func(t *testing.T) { ran++; f(t) })
	}
	// Registered before the server's own cleanup, so it runs after dpa has stopped and the
	// log is complete.
	t.Cleanup(func() {
		if d != nil {
			scanSecrets(t, d, ran == total)
		}
	})
	d = startServer(t, "", "--plugins-dir", plugins, "--provisioning", prov, "--max-body-bytes", "65536", "--log-level", "info", "--plugin-log-level", "info")

	sub("route changes follow create update delete", func(t *testing.T) { testRouteChanges(t, d) })

	d.kc(t, "apply", "-f", filepath.Join(repo, "examples", "dataplaneservices"))
	d.kc(t, "wait", "--for=condition=Available", "dataplaneservice/example-datasource", "dataplaneservice/example-app", "--timeout=60s")

	sub("discovery", func(t *testing.T) {
		out := d.kc(t, "api-resources", "--api-group", dsGroup)
		if !regexpLine(out, "datasources", dsGroup+"/v0alpha1", "true", "DataSource") {
			t.Errorf("kubectl api-resources does not list datasources of %s:\n%s", dsGroup, out)
		}
		out = d.kc(t, "get", "datasources."+dsGroup, "-n", "default")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[1], "example ") {
			t.Errorf("kubectl get datasources: want the provisioned instance only:\n%s", out)
		}
		out = d.kc(t, "get", "datasources."+dsGroup, "example", "-n", "default", "-o", "json")
		d.record([]byte(out))
		var ds struct {
			Spec struct {
				URL              string          `json:"url"`
				SecureJSONFields map[string]bool `json:"secureJsonFields"`
			} `json:"spec"`
		}
		mustJSON(t, []byte(out), &ds)
		if ds.Spec.URL != upstream.URL+"/base" || !ds.Spec.SecureJSONFields["apiKey"] || !ds.Spec.SecureJSONFields["basicAuthPassword"] {
			t.Errorf("datasource object: %s", out)
		}
	})

	sub("query", func(t *testing.T) { testQuery(t, d) })
	sub("health", func(t *testing.T) { testHealth(t, d, prov, upstream.URL) })
	sub("resource", func(t *testing.T) { testResource(t, d) })
	sub("route", func(t *testing.T) { testRoute(t, d) })
	sub("stream", func(t *testing.T) { testStream(t, d) })
	sub("plugin metrics", func(t *testing.T) {
		d.want(t, 200, "POST", dsNS+"/query", map[string]any{"queries": []map[string]any{{"refId": "T", "scenario": "table"}}})
		resp, b := d.want(t, 200, "GET", dsBase+"/metrics", nil)
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("Content-Type = %q", ct)
		}
		if !strings.Contains(string(b), "# TYPE example_datasource_queries_total counter") ||
			!strings.Contains(string(b), `example_datasource_queries_total{scenario="table"}`) {
			t.Errorf("plugin metrics lack example_datasource_queries_total{scenario=\"table\"}:\n%s", b)
		}
	})
	sub("admission", func(t *testing.T) { testAdmission(t, d) })
	sub("conversion", func(t *testing.T) { testConversion(t, d) })
	sub("datasource-proxy", func(t *testing.T) { testProxy(t, d, proxied) })
	sub("errors", func(t *testing.T) { testErrors(t, d) })
	sub("plugin killed: 503 then recovery", func(t *testing.T) { testPluginKill(t, d) })
	sub("dpa metrics", func(t *testing.T) { testDPAMetrics(t, d) })
}

// regexpLine reports whether out has a line with all the fields, in order.
func regexpLine(out string, fields ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.Join(strings.Fields(l), " ") == strings.Join(fields, " ") {
			return true
		}
	}
	return false
}

func testRouteChanges(t *testing.T, d *server) {
	const group = "e2e-moving.datasource.grafana.app"
	path := func(v string) string {
		return "/apis/" + group + "/" + v + "/namespaces/default/datasources/example/health"
	}
	isHealth := func(b []byte) bool {
		var h struct{ Kind, Status string }
		return json.Unmarshal(b, &h) == nil && h.Kind == "HealthCheckResult" && h.Status == "OK"
	}
	// Not registered: dpa answers a 404 Status itself (no plugin involved).
	notServed := func(v string) {
		t.Helper()
		resp, b := d.call(t, "GET", path(v), nil)
		var st struct{ Kind, Reason string }
		if resp.StatusCode != 404 || isHealth(b) || json.Unmarshal(b, &st) != nil || st.Kind != "Status" || st.Reason != "NotFound" {
			t.Fatalf("GET %s: want a 404 NotFound Status, got %d %s", path(v), resp.StatusCode, b)
		}
	}
	notServed("v1")

	dir := t.TempDir()
	obj := dpsYAML("e2e-moving", group, "v1", "  - type: health\n")
	obj = strings.Replace(obj, "pluginID: e2e-moving", "pluginID: example-datasource", 1)
	d.kc(t, "apply", "-f", writeFile(t, dir, "moving.yaml", obj))
	d.kc(t, "wait", "--for=condition=Available", "dataplaneservice/e2e-moving", "--timeout=60s")
	eventually(t, 10*time.Second, "v1 route live", func() (bool, string) {
		resp, b := d.call(t, "GET", path("v1"), nil)
		return resp.StatusCode == 200 && isHealth(b), fmt.Sprintf("%d %s", resp.StatusCode, b)
	})

	d.kc(t, "patch", "dataplaneservice", "e2e-moving", "--type=merge", "-p", `{"spec":{"version":"v2"}}`)
	eventually(t, 10*time.Second, "v2 route live", func() (bool, string) {
		resp, b := d.call(t, "GET", path("v2"), nil)
		return resp.StatusCode == 200 && isHealth(b), fmt.Sprintf("%d %s", resp.StatusCode, b)
	})
	// v1 of a still-registered group: the data plane passes it on to the API server too.
	notServed("v1")

	d.kc(t, "delete", "dataplaneservice", "e2e-moving", "--wait=true")
	eventually(t, 10*time.Second, "v2 route gone", func() (bool, string) {
		resp, b := d.call(t, "GET", path("v2"), nil)
		return resp.StatusCode == 404 && !isHealth(b), fmt.Sprintf("%d %s", resp.StatusCode, b)
	})
	notServed("v2")
}

type queryResult struct {
	Status int    `json:"status"`
	Error  string `json:"error"`
	Frames []struct {
		Schema struct {
			Name   string `json:"name"`
			RefID  string `json:"refId"`
			Fields []struct {
				Name string `json:"name"`
			} `json:"fields"`
		} `json:"schema"`
		Data struct {
			Values [][]any `json:"values"`
		} `json:"data"`
	} `json:"frames"`
	ErrorSource string `json:"errorSource"`
}

func testQuery(t *testing.T, d *server) {
	var out struct {
		Results map[string]queryResult `json:"results"`
	}
	for _, p := range []string{dsNS + "/query", dsBase + "/namespaces/default/connections/example/query"} {
		_, b := d.want(t, 200, "POST", p, map[string]any{
			"from": "now-1h", "to": "now",
			"queries": []map[string]any{
				{"refId": "T", "scenario": "table", "points": 7, "datasource": map[string]string{"uid": "example", "type": "example-datasource"}},
				{"refId": "W"},
			},
		})
		out.Results = nil
		mustJSON(t, b, &out)
		tab, walk := out.Results["T"], out.Results["W"]
		if tab.Status != 200 || len(tab.Frames) != 1 || tab.Frames[0].Schema.Name != "table" || tab.Frames[0].Schema.RefID != "T" {
			t.Fatalf("%s: table result: %s", p, b)
		}
		var names []string
		for _, f := range tab.Frames[0].Schema.Fields {
			names = append(names, f.Name)
		}
		if strings.Join(names, ",") != "time,float,int,string,bool,nullable" {
			t.Errorf("table fields = %v", names)
		}
		if v := tab.Frames[0].Data.Values; len(v) != 6 || len(v[0]) != 7 {
			t.Errorf("table frame: want 6 fields × 7 rows, got %v", v)
		}
		if walk.Status != 200 || len(walk.Frames) != 1 || walk.Frames[0].Schema.Name != "random_walk" || len(walk.Frames[0].Data.Values[1]) != 10 {
			t.Errorf("%s: random_walk result (default 10 points): %s", p, b)
		}
	}

	d.wantStatus(t, 400, "POST", dsNS+"/query", map[string]any{"queries": []map[string]any{
		{"refId": "A", "datasource": map[string]string{"uid": "someone-else"}}}}, "someone-else", "example")
	d.wantStatus(t, 400, "POST", dsNS+"/query", map[string]any{"queries": []map[string]any{
		{"refId": "A", "datasource": map[string]string{"type": "prometheus"}}}}, "prometheus")
	d.wantStatus(t, 400, "POST", dsNS+"/query", map[string]any{"from": "yesterday-ish",
		"queries": []map[string]any{{"refId": "A"}}}, "yesterday-ish")
	d.wantStatus(t, 400, "POST", dsNS+"/query", map[string]any{"queries": []map[string]any{{"refId": "A"}, {"refId": "A"}}}, "duplicate refId")

	// Grafana's rule: HTTP status of the first failed query; the others still answer.
	_, b := d.want(t, 418, "POST", dsNS+"/query", map[string]any{"queries": []map[string]any{
		{"refId": "E", "scenario": "error", "status": 418, "message": "short and stout"},
		{"refId": "OK"},
	}})
	out.Results = nil
	mustJSON(t, b, &out)
	if e := out.Results["E"]; e.Status != 418 || e.Error != "short and stout" || e.ErrorSource != "downstream" {
		t.Errorf("failed query result: %s", b)
	}
	if ok := out.Results["OK"]; ok.Status != 200 || len(ok.Frames) != 1 {
		t.Errorf("the healthy query of a failed request: %s", b)
	}
	// No status from the plugin → 400.
	_, b = d.want(t, 400, "POST", dsNS+"/query", map[string]any{"queries": []map[string]any{{"refId": "U", "scenario": "nope"}}})
	out.Results = nil
	mustJSON(t, b, &out)
	if u := out.Results["U"]; u.Status != 400 || !strings.Contains(u.Error, `unknown scenario "nope"`) {
		t.Errorf("unknown scenario: %s", b)
	}
}

func testHealth(t *testing.T, d *server, prov, upstreamURL string) {
	type health struct {
		Kind, Status, Message string
		Code                  int
		Details               map[string]string
	}
	var h health
	_, b := d.want(t, 200, "GET", dsNS+"/health", nil)
	mustJSON(t, b, &h)
	if h.Kind != "HealthCheckResult" || h.Status != "OK" || h.Code != 1 || !strings.Contains(h.Message, `"Example"`) || h.Details["uid"] != "example" {
		t.Errorf("datasource health: %s", b)
	}
	h = health{}
	_, b = d.want(t, 200, "GET", appBase+"/namespaces/default/health", nil)
	mustJSON(t, b, &h)
	if h.Kind != "HealthCheckResult" || h.Status != "OK" || h.Message != "example-app is running" {
		t.Errorf("app health: %s", b)
	}

	// Provisioning reload on SIGHUP: a new, failing datasource appears without a restart.
	failing := dsBase + "/namespaces/default/datasources/failing/health"
	d.wantStatus(t, 404, "GET", failing, nil, `"failing"`)
	writeFile(t, filepath.Join(prov, "datasources"), "e2e.yaml", datasourcesYAML(upstreamURL)+`  - name: Failing
    type: example-datasource
    uid: failing
    orgId: 1
    url: http://127.0.0.1:9/failing
    jsonData:
      failHealth: true
`)
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the SIGHUP reload", func() (bool, string) {
		resp, b := d.call(t, "GET", failing, nil)
		return resp.StatusCode != 404, fmt.Sprintf("%d %s", resp.StatusCode, b)
	})
	// A failing health check answers 400 with the HealthCheckResult, as Grafana's does.
	h = health{}
	_, b = d.want(t, 400, "GET", failing, nil)
	mustJSON(t, b, &h)
	if h.Kind != "HealthCheckResult" || h.Status != "ERROR" || h.Code != 2 || !strings.Contains(h.Message, "failHealth") {
		t.Errorf("failing datasource health: %s", b)
	}
}

type echo struct {
	Method     string              `json:"method"`
	Path       string              `json:"path"`
	Query      map[string][]string `json:"query"`
	Headers    map[string][]string `json:"headers"`
	Body       string              `json:"body"`
	OrgID      int                 `json:"orgId"`
	PluginID   string              `json:"pluginId"`
	User       *struct{ Login string }
	Datasource *struct {
		UID              string   `json:"uid"`
		SecureJSONFields []string `json:"secureJsonFields"`
	} `json:"datasource"`
}

func testResource(t *testing.T, d *server) {
	t.Run("echo", func(t *testing.T) {
		for _, method := range []string{"POST", "PUT", "PATCH", "DELETE"} {
			body := "payload for " + method
			_, b := d.want(t, 200, method, dsNS+"/resource/echo?a=1&a=2&b=x", body,
				withHeader("X-Custom", "kept"),
				withHeader("Connection", "X-Hop-Token"),
				withHeader("X-Hop-Token", "dropped"),
				withHeader("Keep-Alive", "timeout=5"),
				withHeader("Cookie", "session=caller"),
				withHeader("Impersonate-User", "mallory"),
				withHeader("Impersonate-Group", "grafana:org:1:Viewer"),
				// Identity-like headers a caller might send to pose as someone else.
				withHeader("X-Grafana-User", "admin"), withHeader("X-Webauth-User", "admin"),
				withHeader("X-Forwarded-User", "admin"), withHeader("X-Grafana-Org-Id", "2"),
				withHeader("X-Remote-User", "admin"), withHeader("X-Auth-Request-Email", "admin@example.com"),
			)
			var e echo
			mustJSON(t, b, &e)
			if e.Method != method || e.Path != "/echo" || strings.Join(e.Query["a"], ",") != "1,2" || e.Query["b"][0] != "x" {
				t.Errorf("%s echo: %s", method, b)
			}
			if e.Body != body {
				t.Errorf("%s echo body = %q", method, e.Body)
			}
			if e.Headers["X-Custom"] == nil {
				t.Errorf("%s: X-Custom not forwarded: %v", method, e.Headers)
			}
			for _, h := range []string{"Authorization", "Cookie", "Connection", "X-Hop-Token", "Keep-Alive", "Impersonate-User", "Impersonate-Group",
				"X-Grafana-User", "X-Webauth-User", "X-Forwarded-User", "X-Grafana-Org-Id", "X-Remote-User", "X-Auth-Request-Email"} {
				if e.Headers[h] != nil {
					t.Errorf("%s: header %s reached the plugin: %v", method, h, e.Headers[h])
				}
			}
			// The admin token impersonates mallory, an org-1 Viewer: the plugin sees mallory.
			if e.PluginID != "example-datasource" || e.OrgID != 1 || e.User == nil || e.User.Login != "mallory" ||
				e.Datasource == nil || e.Datasource.UID != "example" || len(e.Datasource.SecureJSONFields) != 3 {
				t.Errorf("%s: plugin context: %s", method, b)
			}
		}
	})

	// Known bug in the example plugins: the SDK's httpadapter builds the request with a nil
	// Body when CallResource has no body, and handleEcho calls io.ReadAll(r.Body) → the plugin
	// panics and dpa answers 502. Fails until examples/plugins/*/ handleEcho handle a nil body.
	t.Run("echo without a body", func(t *testing.T) {
		for _, p := range []string{dsNS + "/resource/echo?x=1", appBase + "/namespaces/default/resource/echo?x=1"} {
			_, b := d.want(t, 200, "GET", p, nil)
			var e echo
			mustJSON(t, b, &e)
			if e.Method != "GET" || e.Path != "/echo" || e.Body != "" {
				t.Errorf("GET echo: %s", b)
			}
		}
	})

	t.Run("app settings", func(t *testing.T) {
		_, b := d.want(t, 200, "GET", appBase+"/namespaces/default/resource/settings", nil)
		var s struct {
			JSONData         map[string]any  `json:"jsonData"`
			SecureJSONFields map[string]bool `json:"secureJsonFields"`
		}
		mustJSON(t, b, &s)
		if s.JSONData["greeting"] != "hello from e2e" || !s.SecureJSONFields["token"] {
			t.Errorf("app settings: %s", b)
		}
	})

	t.Run("status passthrough", func(t *testing.T) {
		for _, code := range []int{201, 418, 503} {
			resp, b := d.want(t, code, "GET", dsNS+"/resource/status/"+strconv.Itoa(code), nil)
			if strings.TrimSpace(string(b)) != fmt.Sprintf(`{"status":%d}`, code) || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("status %d: %s %v", code, b, resp.Header)
			}
		}
	})

	t.Run("chunked response is streamed", func(t *testing.T) {
		const chunks, delay = 5, 300 * time.Millisecond
		resp, err := d.httpClient().Do(d.newReq("GET", fmt.Sprintf("%s/resource/stream?chunks=%d&delay=%s", dsNS, chunks, delay), nil))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		var got []line
		for l := range readLines(resp.Body) {
			got = append(got, l)
		}
		if len(got) != chunks {
			t.Fatalf("got %d chunks: %v", len(got), got)
		}
		for i, l := range got {
			if l.text != fmt.Sprintf("chunk %d", i) {
				t.Errorf("line %d = %q", i, l.text)
			}
		}
		// The plugin produces the last chunk (chunks-1)·delay after the first: a buffered
		// response would deliver them together.
		if spread := got[chunks-1].at.Sub(got[0].at); spread < (chunks-1)*delay*8/10 {
			t.Errorf("first chunk arrived only %v before the last: the response was buffered", spread)
		}
	})
}

func testRoute(t *testing.T, d *server) {
	t.Run("wrong method is 405 with Allow", func(t *testing.T) {
		resp, st := d.wantStatus(t, 405, "POST", dsBase+"/namespaces/default/datasources/example/items/42", nil, "POST")
		if resp.Header.Get("Allow") != "GET" {
			t.Errorf("Allow = %q (%s)", resp.Header.Get("Allow"), st.Message)
		}
	})
	// A route under /namespaces/{ns}/datasources/{uid}/ gets that datasource's settings and
	// the plugin sees the path after the uid.
	t.Run("datasource route with path parameter reaches the plugin", func(t *testing.T) {
		_, b := d.want(t, 200, "GET", dsBase+"/namespaces/default/datasources/example/items/42", nil)
		var item map[string]string
		mustJSON(t, b, &item)
		if item["id"] != "42" || item["method"] != "GET" || item["path"] != "/items/42" {
			t.Errorf("route echo: %s", b)
		}
	})
	// App plugins always get (possibly empty) instance settings, so custom routes work there.
	t.Run("app routes", func(t *testing.T) {
		const group = "e2e-routes.app.grafana.app"
		obj := fmt.Sprintf(`apiVersion: aggregation.grafana.app/v0alpha1
kind: DataPlaneService
metadata:
  name: e2e-app-routes
spec:
  pluginID: example-app
  pluginType: app
  group: %s
  version: v1
  services:
  - type: route
    method: GET
    path: /settings
  - type: route
    path: /echo
`, group)
		d.kc(t, "apply", "-f", writeFile(t, t.TempDir(), "routes.yaml", obj))
		d.kc(t, "wait", "--for=condition=Available", "dataplaneservice/e2e-app-routes", "--timeout=60s")
		t.Cleanup(func() { d.kubectl("delete", "dataplaneservice", "e2e-app-routes") })
		base := "/apis/" + group + "/v1"
		eventually(t, 10*time.Second, "app route live", func() (bool, string) {
			resp, b := d.call(t, "GET", base+"/settings", nil)
			return resp.StatusCode == 200, fmt.Sprintf("%d %s", resp.StatusCode, b)
		})
		resp, _ := d.wantStatus(t, 405, "DELETE", base+"/settings", nil)
		if resp.Header.Get("Allow") != "GET" {
			t.Errorf("Allow = %q", resp.Header.Get("Allow"))
		}
		_, b := d.want(t, 200, "PATCH", base+"/echo?q=1", "patch-body")
		var e map[string]any
		mustJSON(t, b, &e)
		if e["method"] != "PATCH" || e["path"] != "/echo" || e["body"] != "patch-body" {
			t.Errorf("method-less app route echo: %s", b)
		}
		d.wantStatus(t, 404, "GET", base+"/echo/deeper", nil)
	})
}

func testStream(t *testing.T, d *server) {
	open := func(t *testing.T, path, accept string) (*http.Response, <-chan line, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		req := d.newReq("GET", path, nil).WithContext(ctx)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := d.httpClient().Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); resp.Body.Close() })
		return resp, readLines(resp.Body), cancel
	}
	next := func(t *testing.T, ch <-chan line) string {
		t.Helper()
		select {
		case l, ok := <-ch:
			if !ok {
				t.Fatal("stream ended")
			}
			return l.text
		case <-time.After(10 * time.Second):
			t.Fatal("no stream data within 10s")
		}
		return ""
	}
	tick := func(t *testing.T, js string) int64 {
		t.Helper()
		var f struct {
			Schema struct{ Name string }
			Data   struct{ Values [][]json.Number }
		}
		dec := json.NewDecoder(strings.NewReader(js))
		dec.UseNumber()
		if err := dec.Decode(&f); err != nil || f.Schema.Name != "ticks" || len(f.Data.Values) != 2 {
			t.Fatalf("not a ticks frame: %v %s", err, js)
		}
		n, _ := f.Data.Values[1][0].Int64()
		return n
	}

	t.Run("SSE", func(t *testing.T) {
		resp, ch, _ := open(t, dsNS+"/stream/ticks/50ms", "text/event-stream")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("SSE: %d %v", resp.StatusCode, resp.Header)
		}
		if first := next(t, ch); first != `data: {"interval":"50ms"}` {
			t.Fatalf("first SSE event = %q", first)
		}
		for want := int64(1); want <= 3; want++ {
			l := next(t, ch)
			if !strings.HasPrefix(l, "data: ") || tick(t, strings.TrimPrefix(l, "data: ")) != want {
				t.Fatalf("SSE event %d = %q", want, l)
			}
		}
	})
	t.Run("NDJSON", func(t *testing.T) {
		resp, ch, _ := open(t, dsNS+"/stream/ticks/40ms", "")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("NDJSON: %d %v", resp.StatusCode, resp.Header)
		}
		if first := next(t, ch); first != `{"interval":"40ms"}` {
			t.Fatalf("first line = %q", first)
		}
		for want := int64(1); want <= 3; want++ {
			if got := tick(t, next(t, ch)); got != want {
				t.Fatalf("tick %d, want %d", got, want)
			}
		}
	})
	// Subscription data (query parameter data) reaches SubscribeStream and RunStream, as
	// Grafana Live passes a subscriber's data; the initial data is the first event.
	t.Run("subscription data", func(t *testing.T) {
		resp, ch, _ := open(t, dsNS+"/stream/labels?data="+url.QueryEscape(`{"label":"blue","interval":"20ms"}`), "")
		if resp.StatusCode != 200 {
			t.Fatalf("labels: %d", resp.StatusCode)
		}
		if first := next(t, ch); first != `{"subscribedWith":{"label":"blue","interval":"20ms"}}` {
			t.Fatalf("initial data = %q", first)
		}
		if l := next(t, ch); !strings.Contains(l, `"label"`) || !strings.Contains(l, `["blue"]`) {
			t.Fatalf("frame without the subscription's label: %s", l)
		}
		// Without data the plugin has nothing to stream: the stream ends after the initial data.
		// (Another channel: subscribers of "labels" share the stream started with "blue".)
		_, ch, _ = open(t, dsNS+"/stream/labels/none", "")
		if first := next(t, ch); first != `{"subscribedWith":null}` {
			t.Fatalf("initial data without subscription data = %q", first)
		}
		select {
		case l, ok := <-ch:
			if ok {
				t.Fatalf("a stream without parameters sent %q", l.text)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the stream without parameters did not end")
		}
		d.wantStatus(t, 400, "GET", dsNS+"/stream/labels?data=not-json", nil, "subscription data must be JSON")
	})
	// Subscribers of one channel share one RunStream (Grafana Live's channel semantics): a
	// later subscriber joins the running ticks instead of starting its own from 1, and the
	// stream goes on when the first subscriber leaves.
	t.Run("one RunStream per channel", func(t *testing.T) {
		_, a, cancelA := open(t, dsNS+"/stream/ticks/30ms", "")
		next(t, a) // initial data
		for i := 0; i < 3; i++ {
			tick(t, next(t, a))
		}
		_, b, _ := open(t, dsNS+"/stream/ticks/30ms", "")
		if first := next(t, b); first != `{"interval":"30ms"}` {
			t.Fatalf("second subscriber's initial data = %q", first)
		}
		first := tick(t, next(t, b))
		if first <= 3 {
			t.Fatalf("second subscriber saw tick %d: it got a RunStream of its own", first)
		}
		cancelA()
		for i := 0; i < 3; i++ {
			if n := tick(t, next(t, b)); n <= first {
				t.Fatalf("after the first subscriber left: tick %d after %d", n, first)
			}
		}
	})
	t.Run("published data reaches subscribers", func(t *testing.T) {
		_, sub, _ := open(t, dsNS+"/stream/ticks", "")
		next(t, sub) // initial data
		d.want(t, 200, "POST", dsNS+"/stream/ticks", map[string]int{"broadcast": 9})
		for i := 0; ; i++ {
			l := next(t, sub)
			if l == `{"broadcast":9}` {
				break
			}
			if i > 5 {
				t.Fatalf("the published data never reached the subscriber (last %q)", l)
			}
		}
	})
	// A plugin that fails mid-stream (the example's "fail/<n>": n frames, then RunStream
	// returns an error) ends the stream with one error event, {"error": <Status>}: NDJSON's
	// last line, SSE's "error" event. A normal end has none ("subscription data" above: the
	// stream without parameters ends after its initial data and nothing else).
	t.Run("a plugin error ends the stream with an error event", func(t *testing.T) {
		for _, sse := range []bool{false, true} {
			accept, prefix, n := "", "", 2
			if sse {
				accept, prefix, n = "text/event-stream", "data: ", 3
			}
			resp, ch, _ := open(t, fmt.Sprintf("%s/stream/fail/%d", dsNS, n), accept)
			if resp.StatusCode != 200 {
				t.Fatalf("fail/%d: %d", n, resp.StatusCode)
			}
			if first := next(t, ch); first != fmt.Sprintf(`%s{"failAfter":%d}`, prefix, n) {
				t.Fatalf("initial data = %q", first)
			}
			for want := int64(1); want <= int64(n); want++ {
				if got := tick(t, strings.TrimPrefix(next(t, ch), prefix)); got != want {
					t.Fatalf("tick %d, want %d", got, want)
				}
			}
			var last string
			select {
			case l, ok := <-ch:
				if !ok {
					t.Fatalf("sse=%v: the stream ended without an error event", sse)
				}
				last = l.text
			case <-time.After(10 * time.Second):
				t.Fatalf("sse=%v: nothing after the last frame within 10s", sse)
			}
			if sse {
				if last != "event: error" {
					t.Fatalf("SSE: %q after the last frame, want the error event", last)
				}
				last = strings.TrimPrefix(next(t, ch), prefix)
			}
			var e struct {
				Error *struct {
					Kind    string
					Code    int
					Reason  string
					Message string
				}
			}
			if err := json.Unmarshal([]byte(last), &e); err != nil || e.Error == nil || e.Error.Kind != "Status" || e.Error.Code != 502 ||
				!strings.Contains(e.Error.Message, fmt.Sprintf("the fail channel failed after %d frames", n)) {
				t.Fatalf("sse=%v: last line %q is not the error event (%v)", sse, last, err)
			}
			select {
			case l, ok := <-ch:
				if ok {
					t.Fatalf("sse=%v: %q after the error event", sse, l.text)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("sse=%v: the stream did not end after the error event", sse)
			}
		}
	})
	t.Run("app stream", func(t *testing.T) {
		resp, ch, _ := open(t, appBase+"/namespaces/default/stream/counter/50ms", "")
		if resp.StatusCode != 200 {
			t.Fatalf("app stream: %d", resp.StatusCode)
		}
		if l := next(t, ch); !strings.Contains(l, `"counter"`) {
			t.Fatalf("app stream line = %q", l)
		}
	})
	t.Run("forbidden and missing", func(t *testing.T) {
		d.wantStatus(t, 403, "GET", dsNS+"/stream/forbidden", nil, "forbidden")
		d.wantStatus(t, 404, "GET", dsNS+"/stream/missing", nil, "missing")
		d.wantStatus(t, 404, "GET", appBase+"/namespaces/default/stream/nothing", nil)
	})
	t.Run("publish", func(t *testing.T) {
		_, b := d.want(t, 200, "POST", dsNS+"/stream/ticks", map[string]int{"published": 7})
		if strings.TrimSpace(string(b)) != `{"published":7}` {
			t.Errorf("publish echo = %s", b)
		}
		d.wantStatus(t, 403, "POST", dsNS+"/stream/elsewhere", map[string]int{"x": 1}, "elsewhere")
		d.wantStatus(t, 403, "POST", appBase+"/namespaces/default/stream/counter", map[string]int{"x": 1})
	})
}

type admissionReview struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Response   struct {
		UID       string   `json:"uid"`
		Allowed   bool     `json:"allowed"`
		Warnings  []string `json:"warnings"`
		Patch     string   `json:"patch"`
		PatchType string   `json:"patchType"`
		Status    *struct {
			Status  string `json:"status"`
			Message string `json:"message"`
			Code    int    `json:"code"`
		} `json:"status"`
	} `json:"response"`
}

// review is an AdmissionReview as the API server sends it: an UPDATE carries the old object
// too (here the same one).
func review(uid, op string, obj map[string]any) map[string]any {
	req := map[string]any{
		"uid": uid, "operation": op, "namespace": "default",
		"kind":     map[string]string{"group": dsGroup, "version": "v1", "kind": "Thing"},
		"resource": map[string]string{"group": dsGroup, "version": "v1", "resource": "things"},
		"userInfo": map[string]any{"username": "alice"},
		"object":   obj,
	}
	if op == "UPDATE" {
		req["oldObject"] = obj
	}
	return map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}
}

func testAdmission(t *testing.T, d *server) {
	thing := func(spec map[string]any) map[string]any {
		o := map[string]any{"apiVersion": dsGroup + "/v1", "kind": "Thing",
			"metadata": map[string]any{"name": "t1", "labels": map[string]any{"team": "a"}}}
		if spec != nil {
			o["spec"] = spec
		}
		return o
	}
	var r admissionReview
	_, b := d.want(t, 200, "POST", dsBase+"/admission/validate", review("deny-1", "CREATE", thing(map[string]any{"deny": true})))
	mustJSON(t, b, &r)
	if r.Kind != "AdmissionReview" || r.Response.UID != "deny-1" || r.Response.Allowed || r.Response.Status == nil ||
		r.Response.Status.Code != 400 || r.Response.Status.Status != "Failure" || !strings.Contains(r.Response.Status.Message, "spec.deny") {
		t.Errorf("deny: %s", b)
	}
	r = admissionReview{}
	_, b = d.want(t, 200, "POST", dsBase+"/admission/validate", review("allow-1", "UPDATE", thing(map[string]any{"deny": false})))
	mustJSON(t, b, &r)
	if !r.Response.Allowed || r.Response.UID != "allow-1" || len(r.Response.Warnings) != 0 {
		t.Errorf("allow: %s", b)
	}
	r = admissionReview{}
	_, b = d.want(t, 200, "POST", dsBase+"/admission/validate", review("warn-1", "CREATE", thing(nil)))
	mustJSON(t, b, &r)
	if !r.Response.Allowed || len(r.Response.Warnings) != 1 || r.Response.Warnings[0] != "object has no spec" {
		t.Errorf("allow with warning: %s", b)
	}
	// CONNECT cannot be expressed to a plugin: fail closed.
	r = admissionReview{}
	_, b = d.want(t, 200, "POST", dsBase+"/admission/validate", review("connect-1", "CONNECT", thing(nil)))
	mustJSON(t, b, &r)
	if r.Response.Allowed {
		t.Errorf("CONNECT allowed: %s", b)
	}

	orig := thing(map[string]any{"size": 3})
	r = admissionReview{}
	_, b = d.want(t, 200, "POST", dsBase+"/admission/mutate", review("mut-1", "CREATE", orig))
	mustJSON(t, b, &r)
	if !r.Response.Allowed || r.Response.UID != "mut-1" || r.Response.PatchType != "JSONPatch" || r.Response.Patch == "" {
		t.Fatalf("mutate: %s", b)
	}
	raw, err := base64.StdEncoding.DecodeString(r.Response.Patch)
	if err != nil {
		t.Fatalf("patch is not base64: %v", err)
	}
	patch, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		t.Fatalf("not a JSONPatch: %v %s", err, raw)
	}
	origJSON, _ := json.Marshal(orig)
	patched, err := patch.Apply(origJSON)
	if err != nil {
		t.Fatalf("applying %s: %v", raw, err)
	}
	var got map[string]any
	mustJSON(t, patched, &got)
	want := thing(map[string]any{"size": 3})
	want["metadata"].(map[string]any)["labels"].(map[string]any)["mutated-by"] = "example-datasource"
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("patched object:\n got %s\nwant %s", gotJSON, wantJSON)
	}
	d.wantStatus(t, 400, "POST", dsBase+"/admission/mutate", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, "request")
	d.wantStatus(t, 405, "GET", dsBase+"/admission/validate", nil)

	// The SDK's own kind travels in the SDK's protobuf encoding, as Grafana sends it; the
	// example datasource decodes it with the SDK and rejects a non-http URL, and its mutated
	// reply (protobuf too) comes back as a JSON patch on the JSON the client sent.
	t.Run("SDK settings kind", func(t *testing.T) {
		settingsReview := func(uid, url string) map[string]any {
			rv := review(uid, "CREATE", map[string]any{"uid": "ds1", "name": "DS", "url": url,
				"jsonData": map[string]any{"mode": "fast"}, "secureJsonData": map[string]string{"apiKey": secretAPIKey}})
			rv["request"].(map[string]any)["kind"] = map[string]string{"group": "grafana-plugin-sdk-go", "version": "v0alpha1", "kind": "DataSourceInstanceSettings"}
			return rv
		}
		var r admissionReview
		_, b := d.want(t, 200, "POST", dsBase+"/admission/validate", settingsReview("s-1", "ftp://nope"))
		mustJSON(t, b, &r)
		if r.Response.Allowed || r.Response.Status == nil || !strings.Contains(r.Response.Status.Message, `url: "ftp://nope" is not an http(s) URL`) {
			t.Errorf("validate bad url: %s", b)
		}
		r = admissionReview{}
		_, b = d.want(t, 200, "POST", dsBase+"/admission/validate", settingsReview("s-2", "https://ok.example"))
		mustJSON(t, b, &r)
		if !r.Response.Allowed {
			t.Errorf("validate good url: %s", b)
		}
		r = admissionReview{}
		_, b = d.want(t, 200, "POST", dsBase+"/admission/mutate", settingsReview("s-3", "https://ok.example"))
		mustJSON(t, b, &r)
		raw, _ := base64.StdEncoding.DecodeString(r.Response.Patch)
		if !r.Response.Allowed || string(raw) != `[{"op":"add","path":"/jsonData/timeout","value":"30s"}]` {
			t.Errorf("mutate: patch %s, response %s", raw, b)
		}
		d.wantStatus(t, 400, "POST", dsBase+"/admission/validate", func() map[string]any {
			rv := settingsReview("s-4", "https://ok.example")
			rv["request"].(map[string]any)["object"].(map[string]any)["nonsense"] = 1
			return rv
		}(), "request.object", "nonsense")
	})
}

func testConversion(t *testing.T, d *server) {
	type convReview struct {
		Kind     string `json:"kind"`
		Response struct {
			UID              string            `json:"uid"`
			ConvertedObjects []json.RawMessage `json:"convertedObjects"`
			Result           struct {
				Status, Message string
				Code            int
			} `json:"result"`
		} `json:"response"`
	}
	req := func(uid, target string) map[string]any {
		return map[string]any{"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
			"request": map[string]any{"uid": uid, "desiredAPIVersion": target, "objects": []map[string]any{
				{"apiVersion": dsGroup + "/v1", "kind": "Thing", "metadata": map[string]any{"name": "a"}, "spec": map[string]any{"host": "db:5432"}},
				{"apiVersion": dsGroup + "/v2", "kind": "Thing", "metadata": map[string]any{"name": "b"}, "spec": map[string]any{"endpoint": "db:6543"}},
			}}}
	}
	var r convReview
	_, b := d.want(t, 200, "POST", dsBase+"/conversion", req("c-ok", dsGroup+"/v2"))
	mustJSON(t, b, &r)
	if r.Kind != "ConversionReview" || r.Response.UID != "c-ok" || r.Response.Result.Status != "Success" || len(r.Response.ConvertedObjects) != 2 {
		t.Fatalf("conversion: %s", b)
	}
	for i, want := range []string{"db:5432", "db:6543"} {
		var o struct {
			APIVersion string            `json:"apiVersion"`
			Spec       map[string]string `json:"spec"`
		}
		mustJSON(t, r.Response.ConvertedObjects[i], &o)
		if o.APIVersion != dsGroup+"/v2" || o.Spec["endpoint"] != want || o.Spec["host"] != "" {
			t.Errorf("converted object %d: %s", i, r.Response.ConvertedObjects[i])
		}
	}
	r = convReview{}
	_, b = d.want(t, 200, "POST", dsBase+"/conversion", req("c-bad", dsGroup+"/v9"))
	mustJSON(t, b, &r)
	if r.Response.UID != "c-bad" || r.Response.Result.Status != "Failure" || r.Response.Result.Code != 400 ||
		!strings.Contains(r.Response.Result.Message, "v9") || len(r.Response.ConvertedObjects) != 0 {
		t.Errorf("conversion failure: %s", b)
	}
}

func testProxy(t *testing.T, d *server, up *recorder) {
	resp, b := d.want(t, 202, "POST", dsNS+"/proxy/api/v1/../v2/search?q=up&limit=5", "proxied body",
		withHeader("Cookie", "grafana_session=caller-cookie"),
		withHeader("X-Caller", "visible"),
		withHeader("X-Grafana-User", "admin"), withHeader("X-Webauth-User", "admin"),
		withHeader("X-Forwarded-User", "admin"), withHeader("X-Grafana-Org-Id", "2"),
	)
	for _, h := range []string{"X-Grafana-User", "X-Webauth-User", "X-Forwarded-User", "X-Grafana-Org-Id"} {
		if v := up.last(t).Header.Get(h); v != "" {
			t.Errorf("the caller's %s reached the datasource upstream: %q", h, v)
		}
	}
	if string(b) != "upstream says hi" || resp.Header.Get("X-Upstream") != "yes" {
		t.Errorf("proxy response: %s %v", b, resp.Header)
	}
	if resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("upstream Set-Cookie reached the client: %q", resp.Header.Get("Set-Cookie"))
	}
	got := up.last(t)
	if got.Method != "POST" || got.Path != "/base/api/v2/search" || got.RawQuery != "q=up&limit=5" || got.Body != "proxied body" {
		t.Errorf("upstream saw %s %s?%s body %q", got.Method, got.Path, got.RawQuery, got.Body)
	}
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("proxyuser:"+secretBasicPW))
	if got.Header.Get("Authorization") != wantAuth {
		t.Errorf("upstream Authorization = %q, want the datasource's basic auth", got.Header.Get("Authorization"))
	}
	if got.Header.Get("X-Upstream-Key") != secretHeader {
		t.Errorf("upstream X-Upstream-Key = %q", got.Header.Get("X-Upstream-Key"))
	}
	if got.Header.Get("Cookie") != "" || strings.Contains(fmt.Sprint(got.Header), d.token) {
		t.Errorf("caller credentials reached the upstream: %v", got.Header)
	}
	if got.Header.Get("X-Caller") != "visible" {
		t.Errorf("ordinary header not forwarded: %v", got.Header)
	}
	// Cannot climb above the base path.
	d.want(t, 202, "GET", dsNS+"/proxy/%2e%2e/%2e%2e/etc/passwd", nil)
	if p := up.last(t).Path; !strings.HasPrefix(p, "/base/") {
		t.Errorf("proxy escaped the base path: %s", p)
	}
}

func testErrors(t *testing.T, d *server) {
	d.wantStatus(t, 404, "POST", dsBase+"/namespaces/default/datasources/no-such-uid/query", `{"queries":[{}]}`, "no-such-uid")
	d.wantStatus(t, 404, "GET", dsBase+"/namespaces/default/datasources/no-such-uid/health", nil, "no-such-uid")
	d.wantStatus(t, 404, "GET", dsBase+"/namespaces/org-7/datasources/example/health", nil, "example")
	d.wantStatus(t, 404, "GET", dsBase+"/no/such/route", nil)
	d.wantStatus(t, 404, "GET", appBase+"/namespaces/default/nothing", nil)
	d.wantStatus(t, 400, "GET", dsBase+"/namespaces/not-a-namespace/datasources/example/health", nil)
	resp, _ := d.wantStatus(t, 405, "GET", dsNS+"/query", nil)
	if resp.Header.Get("Allow") != "POST" {
		t.Errorf("query Allow = %q", resp.Header.Get("Allow"))
	}

	big := strings.Repeat("x", 65537)
	d.wantStatus(t, 413, "POST", dsNS+"/resource/echo", big, "65536")
	d.wantStatus(t, 413, "POST", dsNS+"/query", `{"queries":[{"refId":"A","pad":"`+big+`"}]}`, "65536")
	// Just under the limit still works.
	_, b := d.want(t, 200, "POST", dsNS+"/resource/echo", big[:65000])
	var e echo
	mustJSON(t, b, &e)
	if len(e.Body) != 65000 {
		t.Errorf("echoed %d bytes", len(e.Body))
	}

	// A registered service whose plugin is not installed: 503 and Available=False.
	obj := dpsYAML("e2e-missing-plugin", "e2e-missing.datasource.grafana.app", "v1", "  - type: metrics\n")
	d.kc(t, "apply", "-f", writeFile(t, t.TempDir(), "missing.yaml", obj))
	t.Cleanup(func() { d.kubectl("delete", "dataplaneservice", "e2e-missing-plugin") })
	d.kc(t, "wait", "--for=condition=Available=False", "dataplaneservice/e2e-missing-plugin", "--timeout=60s")
	eventually(t, 10*time.Second, "the missing plugin's route", func() (bool, string) {
		resp, b := d.call(t, "GET", "/apis/e2e-missing.datasource.grafana.app/v1/metrics", nil)
		return resp.StatusCode == 503 && strings.Contains(string(b), "e2e-missing-plugin is not installed") && resp.Header.Get("Retry-After") != "",
			fmt.Sprintf("%d Retry-After=%q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	})
}

// pluginPID asks the example datasource for its PID and checks it is a child of this dpa.
func pluginPID(t *testing.T, d *server) int {
	t.Helper()
	_, b := d.want(t, 200, "GET", dsNS+"/resource/pid", nil)
	var p struct{ PID int }
	mustJSON(t, b, &p)
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		t.Fatalf("plugin pid %d: %v", p.PID, err)
	}
	// Fields after the parenthesised command: state ppid ...
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if ppid, _ := strconv.Atoi(f[1]); ppid != d.pid() {
		t.Fatalf("pid %d is not a child of dpa (%d) but of %d", p.PID, d.pid(), ppid)
	}
	return p.PID
}

func testPluginKill(t *testing.T, d *server) {
	pid := pluginPID(t, d)
	const restarts = `dpa_plugin_restarts_total{plugin="example-datasource"}`
	const unavailable = `dpa_dataplane_requests_total{code="503",group="example.datasource.grafana.app",type="resource",version="v0alpha1"}`
	before := metricSeries(t, d)

	// Watch the Available condition with kubectl while the plugin dies and comes back.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch := exec.CommandContext(ctx, kubectl, "--kubeconfig", d.kubeconfig, "get", "dataplaneservice", "example-datasource", "-w",
		"-o", `jsonpath={.status.conditions[?(@.type=="Available")].status}{"\n"}`)
	var wout syncBuffer
	wout.b = &bytes.Buffer{}
	watch.Stdout = &wout
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	watchDone := make(chan struct{})
	go func() { _ = watch.Wait(); close(watchDone) }()
	defer func() { cancel(); <-watchDone }()
	eventually(t, 10*time.Second, "kubectl watch to print the current condition", func() (bool, string) {
		return strings.HasPrefix(wout.String(), "True\n"), wout.String()
	})

	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	saw503 := false
	var newPID int
	eventually(t, 30*time.Second, "the plugin to come back", func() (bool, string) {
		resp, b := d.call(t, "GET", dsNS+"/resource/pid", nil)
		switch resp.StatusCode {
		case 503:
			st := decodeStatus(t, 503, b)
			if st.Reason != "ServiceUnavailable" || !strings.Contains(st.Message, "example-datasource") {
				t.Errorf("503 Status: %+v", st)
			}
			if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
				t.Errorf("503 without a valid Retry-After: %q", resp.Header.Get("Retry-After"))
			}
			saw503 = true
		case 200:
			var p struct{ PID int }
			mustJSON(t, b, &p)
			if p.PID == pid {
				return false, "still the old process"
			}
			newPID = p.PID
			return true, ""
		default:
			t.Errorf("while the plugin restarts: %d %s", resp.StatusCode, b)
		}
		return false, fmt.Sprintf("%d %s", resp.StatusCode, b)
	})
	if !saw503 {
		t.Errorf("no 503 between SIGKILL and recovery (new pid %d)", newPID)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", newPID)); err != nil {
		t.Errorf("new plugin pid %d: %v", newPID, err)
	}
	// Queries work again without restarting dpa.
	d.want(t, 200, "POST", dsNS+"/query", `{"queries":[{"refId":"A"}]}`)
	eventually(t, 30*time.Second, "Available False then True in kubectl's watch", func() (bool, string) {
		out := wout.String()
		i := strings.Index(out, "False\n")
		return i >= 0 && strings.Contains(out[i:], "True\n"), strings.ReplaceAll(out, "\n", " ")
	})
	d.kc(t, "wait", "--for=condition=Available", "dataplaneservice/example-datasource", "--timeout=30s")
	var o v0alpha1.DataPlaneService
	mustJSON(t, []byte(d.kc(t, "get", "dataplaneservice", "example-datasource", "-o", "json")), &o)
	if c := cond(&o, "Available"); c == nil || !strings.Contains(c.Message, "restarts: 1") {
		t.Errorf("Available condition after one restart: %+v", c)
	}
	after := metricSeries(t, d)
	if after[restarts]-before[restarts] != 1 || after[unavailable] <= before[unavailable] {
		t.Errorf("after one SIGKILL: %s %v → %v, %s %v → %v", restarts, before[restarts], after[restarts],
			unavailable, before[unavailable], after[unavailable])
	}
}

// metricSeries scrapes /metrics into series (name and labels as printed) → value.
func metricSeries(t *testing.T, d *server) map[string]float64 {
	t.Helper()
	_, b := d.want(t, 200, "GET", "/metrics", nil)
	out := map[string]float64{}
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if v, err := strconv.ParseFloat(l[i+1:], 64); err == nil {
			out[l[:i]] = v
		}
	}
	return out
}

// testDPAMetrics makes one request of each kind and checks that its series moved.
func testDPAMetrics(t *testing.T, d *server) {
	resp, _ := d.call(t, "GET", "/metrics", nil, noAuth())
	if resp.StatusCode != 401 && resp.StatusCode != 403 {
		t.Errorf("/metrics without a token = %d", resp.StatusCode)
	}
	before := metricSeries(t, d)
	d.want(t, 200, "POST", dsNS+"/query", `{"queries":[{"refId":"A"}]}`)
	d.want(t, 418, "POST", dsNS+"/query", map[string]any{"queries": []map[string]any{{"refId": "E", "scenario": "error", "status": 418, "message": "m"}}})
	d.want(t, 418, "GET", dsNS+"/resource/status/418", nil)
	d.want(t, 413, "POST", dsNS+"/resource/echo", strings.Repeat("x", 65537))
	d.want(t, 200, "GET", appBase+"/namespaces/default/health", nil)
	d.want(t, 200, "POST", dsBase+"/admission/validate", review("m-1", "CREATE", map[string]any{"apiVersion": dsGroup + "/v1", "kind": "Thing", "metadata": map[string]any{"name": "m"}}))
	d.want(t, 200, "POST", dsBase+"/conversion", map[string]any{"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
		"request": map[string]any{"uid": "m-1", "desiredAPIVersion": dsGroup + "/v2", "objects": []any{}}})
	d.want(t, 405, "GET", dsBase+"/admission/validate", nil)
	d.want(t, 200, "POST", dsNS+"/stream/ticks", map[string]int{"published": 1})
	after := metricSeries(t, d)
	const ds, app = `group="example.datasource.grafana.app"`, `group="example.app.grafana.app"`
	for _, series := range []string{
		`dpa_dataplane_requests_total{code="200",` + ds + `,type="query",version="v0alpha1"}`,
		`dpa_dataplane_requests_total{code="418",` + ds + `,type="query",version="v0alpha1"}`,
		`dpa_dataplane_requests_total{code="418",` + ds + `,type="resource",version="v0alpha1"}`,
		`dpa_dataplane_requests_total{code="413",` + ds + `,type="resource",version="v0alpha1"}`,
		`dpa_dataplane_requests_total{code="200",` + app + `,type="health",version="v0alpha1"}`,
		`dpa_dataplane_requests_total{code="200",` + ds + `,type="admission",version="v0alpha1"}`,
		`dpa_dataplane_requests_total{code="405",` + ds + `,type="unknown",version="v0alpha1"}`,
		`dpa_dataplane_requests_total{code="200",` + ds + `,type="stream",version="v0alpha1"}`,
		`dpa_dataplane_request_duration_seconds_bucket{code="200",` + ds + `,type="conversion",version="v0alpha1",le="+Inf"}`,
	} {
		if after[series]-before[series] != 1 {
			t.Errorf("%s moved from %v to %v, want +1", series, before[series], after[series])
		}
	}
	for _, series := range []string{`dpa_plugin_up{plugin="example-datasource"}`, `dpa_plugin_up{plugin="example-app"}`} {
		if after[series] != 1 {
			t.Errorf("%s = %v", series, after[series])
		}
	}
}

func TestDataPlaneTimeouts(t *testing.T) {
	plugins := examplePlugins(t)
	prov := t.TempDir()
	writeProvisioning(t, prov, datasourcesYAML("http://127.0.0.1:9"), "")
	d := startServer(t, "", "--plugins-dir", plugins, "--provisioning", prov, "--timeout", "query=1ms,resource=1s", "--log-level", "info", "--plugin-log-level", "info")
	d.kc(t, "apply", "-f", filepath.Join(repo, "examples", "dataplaneservices", "example-datasource.yaml"))
	d.kc(t, "wait", "--for=condition=Available", "dataplaneservice/example-datasource", "--timeout=60s")

	t.Run("query deadline is 504", func(t *testing.T) {
		var qs []map[string]any
		for i := range 5 {
			qs = append(qs, map[string]any{"refId": fmt.Sprint("Q", i), "scenario": "table", "points": 100000})
		}
		_, st := d.wantStatus(t, 504, "POST", dsNS+"/query", map[string]any{"queries": qs}, "QueryData timed out")
		if st.Reason != "Timeout" {
			t.Errorf("reason = %q", st.Reason)
		}
		// Other types keep their own deadline.
		d.want(t, 200, "GET", dsNS+"/resource/pid", nil)
	})

	t.Run("stream outlives the resource timeout and stops with the client", func(t *testing.T) {
		const path = "ticks/110ms" // unique in this server's log
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp, err := d.httpClient().Do(d.newReq("GET", dsNS+"/stream/"+path, nil).WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("stream: %d", resp.StatusCode)
		}
		start := time.Now()
		ch := readLines(resp.Body)
		var last line
		n := 0
		for time.Since(start) < 3*time.Second {
			select {
			case l, ok := <-ch:
				if !ok {
					t.Fatalf("stream ended after %v and %d lines (resource timeout is 1s)", time.Since(start), n)
				}
				last = l
				n++
			case <-time.After(2 * time.Second):
				t.Fatalf("no packet for 2s after %d lines", n)
			}
		}
		if last.at.Sub(start) < 2500*time.Millisecond || n < 15 {
			t.Fatalf("last packet %v after start, %d lines: the stream did not outlive the 1s timeout", last.at.Sub(start), n)
		}
		if logs := d.log.String(); !strings.Contains(logs, "RunStream started") || strings.Contains(logs, "RunStream context cancelled") {
			t.Fatalf("while streaming, the plugin log should show RunStream started and not cancelled:\n%s", logs)
		}
		cancel() // the client leaves
		eventually(t, 10*time.Second, "the plugin's RunStream to stop", func() (bool, string) {
			for _, l := range strings.Split(d.log.String(), "\n") {
				if strings.Contains(l, "RunStream context cancelled") && strings.Contains(l, path) {
					return true, ""
				}
			}
			return false, "no 'RunStream context cancelled' line for " + path
		})
	})
}

// The delegate passes streamed responses on as they come and carries protocol upgrades
// (kubectl exec/port-forward, websockets) in both directions.
func TestDataPlaneDelegationStreamsAndUpgrades(t *testing.T) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/apis/other.group/v1/stream", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		select { // the rest only once the client has seen the first chunk
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "second\n")
	})
	mux.HandleFunc("/apis/other.group/v1/upgrade", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want Upgrade: echo", http.StatusBadRequest)
			return
		}
		conn, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		_ = rw.Flush()
		line, _ := rw.ReadString('\n')
		_, _ = rw.WriteString("echo: " + line)
		_ = rw.Flush()
	})
	up := httptest.NewServer(mux)
	t.Cleanup(up.Close)
	d := startServer(t, "", "--delegate-url", up.URL)

	t.Run("stream", func(t *testing.T) {
		resp, err := d.httpClient().Do(d.newReq("GET", "/apis/other.group/v1/stream", nil))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		buf := make([]byte, 64)
		n, err := io.ReadAtLeast(resp.Body, buf, len("first\n"))
		if err != nil || string(buf[:n]) != "first\n" {
			t.Fatalf("first chunk %q, %v: not passed on before the upstream finished", buf[:n], err)
		}
		close(release)
		rest, err := io.ReadAll(resp.Body)
		if err != nil || string(rest) != "second\n" {
			t.Fatalf("rest %q, %v", rest, err)
		}
	})
	t.Run("upgrade", func(t *testing.T) {
		// A client without Timeout: only then is a 101's body the connection itself.
		c := &http.Client{Transport: d.httpClient().Transport}
		resp, err := c.Do(d.newReq("GET", "/apis/other.group/v1/upgrade", nil,
			withHeader("Connection", "Upgrade"), withHeader("Upgrade", "echo")))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusSwitchingProtocols {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("HTTP %d, want 101: %s", resp.StatusCode, b)
		}
		conn, ok := resp.Body.(io.ReadWriteCloser)
		if !ok {
			t.Fatalf("101 body is %T, not a connection", resp.Body)
		}
		if _, err := io.WriteString(conn, "ping\n"); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(conn)
		if err != nil || string(got) != "echo: ping\n" {
			t.Fatalf("over the upgraded connection: %q, %v", got, err)
		}
	})
}

func TestDataPlaneDelegation(t *testing.T) {
	rec := &recorder{}
	up := httptest.NewServer(rec.handler("from the delegate"))
	t.Cleanup(up.Close)
	d := startServer(t, "", "--delegate-url", up.URL)
	for _, p := range []string{"/api/health", "/apis/other.group/v1/things?x=1"} {
		_, b := d.want(t, 202, "GET", p, nil)
		if string(b) != "from the delegate" {
			t.Errorf("%s: body %q", p, b)
		}
		got := rec.last(t)
		if got.Path+"?"+got.RawQuery != p && got.Path != p {
			t.Errorf("delegate saw %s?%s, want %s", got.Path, got.RawQuery, p)
		}
		// The API server consumes the caller's bearer token; it must not reach the delegate.
		if a := got.Header.Get("Authorization"); a != "" {
			t.Errorf("delegate saw Authorization %q", a)
		}
	}
	// Signed in to the UI: the session cookie authenticates the request and is removed before
	// it goes upstream; the upstream's own cookies are passed on.
	sessionID := d.signIn(t, d.token)
	d.want(t, 202, "GET", "/api/dashboards", nil, noAuth(),
		withHeader("Cookie", "grafana_session=g1; dpa_session="+sessionID+"; other=2"),
		// identity headers an upstream like Grafana's auth proxy would trust
		withHeader("X-WEBAUTH-USER", "admin"), withHeader("X-Grafana-Org-Id", "1"), withHeader("X-Remote-User", "admin"))
	got := rec.last(t)
	for _, h := range []string{"X-Webauth-User", "X-Grafana-Org-Id", "X-Remote-User"} {
		if v := got.Header.Get(h); v != "" {
			t.Errorf("the delegate saw the caller's %s: %q", h, v)
		}
	}
	if c := got.Header.Values("Cookie"); len(c) != 1 || c[0] != "grafana_session=g1; other=2" {
		t.Errorf("delegate saw Cookie %q, want the upstream's cookies only", c)
	}
	for k, vs := range got.Header {
		for _, v := range vs {
			if strings.Contains(v, d.token) || strings.Contains(v, sessionID) {
				t.Errorf("delegate saw dpa's token or session in %s: %q", k, v)
			}
		}
	}
	if got.Header.Get("X-Forwarded-Host") == "" || got.Header.Get("X-Forwarded-Proto") != "https" {
		t.Errorf("X-Forwarded-Host %q, X-Forwarded-Proto %q", got.Header.Get("X-Forwarded-Host"), got.Header.Get("X-Forwarded-Proto"))
	}
	// dpa's own API is not delegated.
	_, b := d.want(t, 200, "GET", collection, nil)
	if !strings.Contains(string(b), "DataPlaneServiceList") {
		t.Errorf("resource API: %s", b)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if n := len(rec.reqs); n != 3 {
		t.Errorf("delegate saw %d requests, want 3", n)
	}
}

// --stack-id: org 1's datasources are served in namespace stacks-<id>, as in a Grafana Cloud
// stack, and not in default.
func TestDataPlaneStackNamespace(t *testing.T) {
	prov := t.TempDir()
	writeProvisioning(t, prov, datasourcesYAML("http://127.0.0.1:1"), appsYAML)
	d := startServer(t, "", "--plugins-dir", examplePlugins(t), "--provisioning", prov, "--stack-id", "7")
	d.kc(t, "apply", "-f", filepath.Join(repo, "examples", "dataplaneservices", "example-datasource.yaml"))
	d.kc(t, "wait", "--for=condition=Available", "dataplaneservice/example-datasource", "--timeout=60s")

	stack := dsBase + "/namespaces/stacks-7/datasources/example"
	_, b := d.want(t, 200, "GET", stack+"/health", nil)
	if !strings.Contains(string(b), `"status":"OK"`) {
		t.Errorf("health in stacks-7: %s", b)
	}
	d.wantStatus(t, 404, "GET", dsNS+"/health", nil, `datasource "example" not found in namespace "default"`)
	if out := d.kc(t, "get", "datasources."+dsGroup, "-n", "stacks-7", "-o", "name"); !strings.Contains(out, "/example\n") {
		t.Errorf("kubectl get datasources -n stacks-7:\n%s", out)
	}
}
