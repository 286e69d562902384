package dataplane

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

// frameValue returns the first value of field name in results[refId].frames[0].
func frameValue(t *testing.T, m map[string]any, refID, name string) any {
	t.Helper()
	res, _ := m["results"].(map[string]any)
	r, _ := res[refID].(map[string]any)
	frames, _ := r["frames"].([]any)
	if len(frames) == 0 {
		t.Fatalf("no frames for %s: %v", refID, m)
	}
	f := frames[0].(map[string]any)
	fields := f["schema"].(map[string]any)["fields"].([]any)
	values := f["data"].(map[string]any)["values"].([]any)
	for i, fl := range fields {
		if fl.(map[string]any)["name"] == name {
			return values[i].([]any)[0]
		}
	}
	t.Fatalf("field %s not found", name)
	return nil
}

func TestQuery(t *testing.T) {
	e := newEnv(t, nil)
	body := `{"from":"1700000000000","to":"1700003600000","queries":[
		{"datasource":{"type":"test-datasource","uid":"ds1"},"expr":"up"},
		{"refId":"B","maxDataPoints":7,"intervalMs":250,"timeRange":{"from":"1600000000000","to":"1600000060000"}}]}`
	r := e.do("POST", dsPath("/namespaces/default/datasources/ds1/query"), body,
		"X-Dashboard-Uid", "dash1", "FromAlert", "true", "X-Rule-Uid", "rule-7", "X-Panel-Id", "4",
		"Authorization", "Bearer caller-token", "X-Request-Id", "req-123")
	if r.code != 200 {
		t.Fatalf("HTTP %d: %s", r.code, r.body)
	}
	if r.header.Get("X-Request-Id") != "req-123" {
		t.Errorf("request id not echoed")
	}
	m := r.json(t)
	if got := frameValue(t, m, "A", "refId"); got != "A" {
		t.Errorf("default refId = %v", got)
	}
	if got := frameValue(t, m, "A", "maxDataPoints"); got != float64(100) {
		t.Errorf("default maxDataPoints = %v", got)
	}
	if got := frameValue(t, m, "A", "intervalMs"); got != float64(1000) {
		t.Errorf("default intervalMs = %v", got)
	}
	if got := frameValue(t, m, "A", "from"); got != float64(1700000000000) {
		t.Errorf("from = %v", got)
	}
	if got := frameValue(t, m, "B", "from"); got != float64(1600000000000) {
		t.Errorf("per-query from = %v", got)
	}
	if got := frameValue(t, m, "B", "maxDataPoints"); got != float64(7) {
		t.Errorf("maxDataPoints = %v", got)
	}
	if got := frameValue(t, m, "B", "intervalMs"); got != float64(250) {
		t.Errorf("intervalMs = %v", got)
	}
	q := frameValue(t, m, "A", "query").(string)
	if !strings.Contains(q, `"expr":"up"`) || strings.Contains(q, "timeRange") {
		t.Errorf("query JSON = %s", q)
	}
	if qb := frameValue(t, m, "B", "query").(string); strings.Contains(qb, "timeRange") {
		t.Errorf("timeRange must be removed from query JSON: %s", qb)
	}
	var hdr map[string]string
	_ = json.Unmarshal([]byte(frameValue(t, m, "A", "headers").(string)), &hdr)
	if hdr["http_X-Dashboard-Uid"] != "dash1" || hdr["FromAlert"] != "true" || hdr["http_X-Rule-Uid"] != "rule-7" || hdr["http_X-Panel-Id"] != "4" {
		t.Errorf("headers = %v", hdr)
	}
	for k := range hdr {
		if strings.Contains(strings.ToLower(k), "authorization") {
			t.Errorf("authorization forwarded: %v", hdr)
		}
	}
	var pc pctx
	_ = json.Unmarshal([]byte(frameValue(t, m, "A", "pluginContext").(string)), &pc)
	if pc.PluginID != "test-datasource" || pc.OrgID != 1 || pc.User != "alice" || pc.Email != "alice@example.com" ||
		pc.DSUID != "ds1" || !pc.HasSecret || pc.DSUpdated == 0 || pc.Namespace != "default" {
		t.Errorf("plugin context = %+v", pc)
	}
	if !strings.Contains(string(pc.DSJSON), `"mode":"fast"`) {
		t.Errorf("jsonData = %s", pc.DSJSON)
	}

	// The connections alias serves the same call.
	r = e.do("POST", dsPath("/namespaces/default/connections/ds1/query"), `{"queries":[{"refId":"X"}]}`)
	if r.code != 200 || frameValue(t, r.json(t), "X", "refId") != "X" {
		t.Fatalf("connections query: %d %s", r.code, r.body)
	}
	// org-2 gets its own datasource and org id.
	r = e.do("POST", dsPath("/namespaces/org-2/datasources/ds2/query"), `{"queries":[{}]}`)
	if r.code != 200 {
		t.Fatalf("org-2: %d %s", r.code, r.body)
	}
	_ = json.Unmarshal([]byte(frameValue(t, r.json(t), "A", "pluginContext").(string)), &pc)
	if pc.OrgID != 2 || pc.DSUID != "ds2" {
		t.Errorf("org-2 plugin context = %+v", pc)
	}
}

type pctx struct {
	PluginID  string          `json:"pluginId"`
	OrgID     int64           `json:"orgId"`
	Namespace string          `json:"namespace"`
	User      string          `json:"user"`
	Email     string          `json:"email"`
	DSUID     string          `json:"dsUid"`
	DSJSON    json.RawMessage `json:"dsJsonData"`
	DSUpdated int64           `json:"dsUpdated"`
	AppJSON   json.RawMessage `json:"appJsonData"`
	HasSecret bool            `json:"hasSecret"`
}

func TestQueryErrors(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxBodyBytes = 4096 })
	q := dsPath("/namespaces/default/datasources/ds1/query")
	cases := []struct {
		name, path, body string
		code             int
		msg              string
	}{
		{"uid mismatch", q, `{"queries":[{"datasource":{"uid":"other"}}]}`, 400, `datasource uid "other" does not match "ds1"`},
		{"type mismatch", q, `{"queries":[{"datasource":{"type":"prometheus","uid":"ds1"}}]}`, 400, `datasource type "prometheus" does not match plugin "test-datasource"`},
		{"bad from", q, `{"from":"yesterday-ish","to":"now","queries":[{}]}`, 400, "invalid from"},
		{"bad to", q, `{"from":"now-1h","to":"later","queries":[{}]}`, 400, "invalid to"},
		{"bad per-query time", q, `{"queries":[{"timeRange":{"from":"nope","to":"now"}}]}`, 400, "invalid from"},
		{"not json", q, `{"queries":`, 400, "invalid query body"},
		{"no queries", q, `{"queries":[]}`, 400, "no queries"},
		{"duplicate refId", q, `{"queries":[{"refId":"A"},{}]}`, 400, "duplicate refId"},
		{"unknown uid", dsPath("/namespaces/default/datasources/nope/query"), `{"queries":[{}]}`, 404, `datasource "nope" not found`},
		{"other plugin's datasource", dsPath("/namespaces/default/datasources/foreign/query"), `{"queries":[{}]}`, 404, "not found"},
		{"uid of another org", dsPath("/namespaces/org-2/datasources/ds1/query"), `{"queries":[{}]}`, 404, "not found"},
		{"bad namespace", dsPath("/namespaces/kube-system/datasources/ds1/query"), `{"queries":[{}]}`, 400, "invalid namespace"},
		{"too large", q, `{"queries":[{"pad":"` + strings.Repeat("x", 5000) + `"}]}`, 413, "exceeds the limit of 4096 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectStatus(t, e.do("POST", tc.path, tc.body), tc.code, tc.msg)
		})
	}
	t.Run("wrong method", func(t *testing.T) {
		r := e.do("GET", q, nil)
		expectStatus(t, r, 405, "")
		if r.header.Get("Allow") != "POST" {
			t.Errorf("Allow = %q", r.header.Get("Allow"))
		}
	})
	t.Run("chunked too large", func(t *testing.T) {
		// No Content-Length: the limit applies while reading.
		pr, pw := io.Pipe()
		go func() {
			_, _ = pw.Write([]byte(`{"queries":[{"pad":"` + strings.Repeat("y", 8000) + `"}]}`))
			_ = pw.Close()
		}()
		req, _ := http.NewRequest("POST", e.srv.URL+q, pr)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		expectStatus(t, response{code: resp.StatusCode, body: b}, 413, "")
	})
	t.Run("plugin query error", func(t *testing.T) {
		r := e.do("POST", q, `{"queries":[{"refId":"ok"},{"refId":"bad","scenario":"error"}]}`)
		if r.code != 400 {
			t.Fatalf("HTTP %d: %s", r.code, r.body)
		}
		res := r.json(t)["results"].(map[string]any)
		bad := res["bad"].(map[string]any)
		if bad["error"] != "bad query bad" || bad["status"] != float64(400) {
			t.Errorf("bad = %v", bad)
		}
		if res["ok"].(map[string]any)["status"] != float64(200) {
			t.Errorf("ok = %v", res["ok"])
		}
	})
}

func TestTimeoutAndUnavailable(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Timeouts.Query = 300 * time.Millisecond })
	start := time.Now()
	r := e.do("POST", dsPath("/namespaces/default/datasources/ds1/query"), `{"queries":[{"scenario":"sleep","sleepMs":3000}]}`)
	expectStatus(t, r, 504, "timed out")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v: timeout not applied", d)
	}

	r = e.do("POST", "/apis/down.grafana.app/v1/namespaces/default/datasources/dd/query", `{"queries":[{}]}`)
	expectStatus(t, r, 503, "restarting")
	if r.header.Get("Retry-After") != "3" {
		t.Errorf("Retry-After = %q, want 3 (2.5s rounded up)", r.header.Get("Retry-After"))
	}
	r = e.do("GET", "/apis/missing.grafana.app/v1/namespaces/default/datasources/mm/health", nil)
	expectStatus(t, r, 503, "not installed")
	if r.header.Get("Retry-After") != "10" {
		t.Errorf("Retry-After = %q, want 10 for a plugin that is not installed", r.header.Get("Retry-After"))
	}

	// A plugin error is a 502.
	r = e.do("GET", dsPath("/namespaces/default/datasources/ds1/resource/fail"), nil)
	expectStatus(t, r, 502, "resource exploded")
}

func TestClientDisconnectCancelsPluginCall(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+dsPath("/namespaces/default/datasources/ds1/resource/sleep"), nil)
	_, err := e.srv.Client().Do(req)
	if err == nil {
		t.Fatal("expected client timeout")
	}
	// The handler must finish promptly (plugin call cancelled), logging client_closed.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(e.logs.String(), `"outcome":"client_closed"`) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("request not cancelled; logs:\n%s", e.logs.String())
}

func TestResource(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do("POST", dsPath("/namespaces/default/datasources/ds1/resource/some/sub/path?x=1&y=two"), `{"hello":"plugin"}`,
		"X-Custom", "kept", "Authorization", "Bearer caller-token", "Cookie", "grafana_session=abc",
		"Connection", "X-Hop", "X-Hop", "dropped")
	if r.code != 200 {
		t.Fatalf("HTTP %d: %s", r.code, r.body)
	}
	var echo struct {
		Path, Method, URL, Body string
		Headers                 map[string][]string
		PluginContext           pctx
	}
	if err := json.Unmarshal(r.body, &echo); err != nil {
		t.Fatal(err)
	}
	if echo.Path != "some/sub/path" || echo.Method != "POST" || echo.URL != "some/sub/path?x=1&y=two" || echo.Body != `{"hello":"plugin"}` {
		t.Errorf("echo = %+v", echo)
	}
	if echo.Headers["X-Custom"][0] != "kept" {
		t.Errorf("custom header lost: %v", echo.Headers)
	}
	for _, h := range []string{"Authorization", "Cookie", "X-Hop", "Connection"} {
		if _, ok := echo.Headers[h]; ok {
			t.Errorf("%s forwarded to plugin: %v", h, echo.Headers)
		}
	}
	if echo.PluginContext.DSUID != "ds1" || echo.PluginContext.User != "alice" {
		t.Errorf("plugin context = %+v", echo.PluginContext)
	}

	// Plugin status and headers come back; Set-Cookie and hop-by-hop do not.
	r = e.do("GET", dsPath("/namespaces/default/datasources/ds1/resource/teapot"), nil)
	if r.code != 418 || r.header.Get("X-Teapot") != "yes" || string(r.body) != "short and stout" {
		t.Fatalf("teapot: %d %v %s", r.code, r.header, r.body)
	}
	if r.header.Get("Set-Cookie") != "" {
		t.Errorf("Set-Cookie passed through")
	}

	// App resource route.
	r = e.do("GET", "/apis/"+appGroup+"/v1/namespaces/default/resource/settings", nil)
	if r.code != 200 {
		t.Fatalf("app resource: %d %s", r.code, r.body)
	}
	_ = json.Unmarshal(r.body, &echo)
	if echo.Path != "settings" || !strings.Contains(string(echo.PluginContext.AppJSON), "dark") || echo.PluginContext.PluginID != "test-app" {
		t.Errorf("app echo = %+v", echo)
	}
}

func TestResourceStreamsChunks(t *testing.T) {
	e := newEnv(t, nil)
	start := time.Now()
	resp, err := e.srv.Client().Get(e.srv.URL + dsPath("/namespaces/default/datasources/ds1/resource/chunks"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "chunk0\n" {
		t.Fatalf("first chunk %q %v", line, err)
	}
	first := time.Since(start)
	rest, _ := io.ReadAll(br)
	total := time.Since(start)
	if string(rest) != "chunk1\nchunk2\n" {
		t.Fatalf("rest = %q", rest)
	}
	if first > 250*time.Millisecond || total < 500*time.Millisecond {
		t.Fatalf("not streamed chunk by chunk: first after %v, all after %v", first, total)
	}
}

func TestRoutes(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do("GET", dsPath("/namespaces/default/things/widget?full=1"), nil)
	if r.code != 200 {
		t.Fatalf("route: %d %s", r.code, r.body)
	}
	var echo struct {
		Path, URL     string
		PluginContext pctx
	}
	_ = json.Unmarshal(r.body, &echo)
	if echo.Path != "namespaces/default/things/widget" || echo.URL != "namespaces/default/things/widget?full=1" {
		t.Errorf("route echo = %+v", echo)
	}
	if echo.PluginContext.Namespace != "default" || echo.PluginContext.OrgID != 1 {
		t.Errorf("route plugin context = %+v", echo.PluginContext)
	}
	// Routes outside a namespace need a server admin.
	r = e.do("POST", dsPath("/hooks/a/b/c"), "payload")
	expectStatus(t, r, 403, `User "alice" cannot call route of test.datasource.grafana.app/v0alpha1: routes outside a namespace need a server admin`)
	r = e.do("POST", dsPath("/hooks/a/b/c"), "payload", "X-Test-Server-Admin", "1")
	_ = json.Unmarshal(r.body, &echo)
	if r.code != 200 || echo.Path != "hooks/a/b/c" {
		t.Errorf("catch-all route: %d %+v", r.code, echo)
	}
	r = e.do("DELETE", dsPath("/namespaces/default/things/widget"), nil)
	expectStatus(t, r, 405, "")
	if r.header.Get("Allow") != "GET" {
		t.Errorf("Allow = %q", r.header.Get("Allow"))
	}
	expectStatus(t, e.do("GET", dsPath("/namespaces/default/things"), nil), 404, "")
	expectStatus(t, e.do("GET", dsPath("/nothing/here"), nil), 404, "")
}

func TestHealthAndMetrics(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do("GET", dsPath("/namespaces/default/datasources/ds1/health"), nil)
	m := r.json(t)
	if r.code != 200 || m["status"] != "OK" || m["code"] != float64(1) || m["message"] != "ok" {
		t.Fatalf("health: %d %s", r.code, r.body)
	}
	if d, _ := m["details"].(map[string]any); d["dsUid"] != "ds1" {
		t.Errorf("details = %v", m["details"])
	}
	r = e.do("GET", dsPath("/namespaces/default/datasources/sick/health"), nil)
	m = r.json(t)
	if r.code != 400 || m["kind"] != "HealthCheckResult" || m["status"] != "ERROR" || m["code"] != float64(2) || m["message"] != "not ok" {
		t.Errorf("sick health: %s", r.body)
	}
	r = e.do("GET", "/apis/"+appGroup+"/v1/namespaces/default/health", nil)
	if r.code != 200 || r.json(t)["status"] != "OK" {
		t.Errorf("app health: %d %s", r.code, r.body)
	}
	expectStatus(t, e.do("POST", dsPath("/namespaces/default/datasources/ds1/health"), nil), 405, "")

	_ = e.do("POST", dsPath("/namespaces/default/datasources/ds1/query"), `{"queries":[{}]}`)
	r = e.do("GET", dsPath("/metrics"), nil)
	if r.code != 200 || !strings.Contains(string(r.body), "testplugin_queries_total") ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %s", r.code, r.body)
	}
	// Metrics route is absent for the app registration (not declared).
	expectStatus(t, e.do("GET", "/apis/"+appGroup+"/v1/metrics", nil), 404, "")
}

func waitFile(t *testing.T, p string, d time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(p); err == nil {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func TestStream(t *testing.T) {
	// Every per-type timeout is tiny: the stream must outlive them.
	e := newEnv(t, func(o *Options) {
		o.Timeouts = Timeouts{Query: 100 * time.Millisecond, Resource: 100 * time.Millisecond, Health: 100 * time.Millisecond,
			Admission: 100 * time.Millisecond, Conversion: 100 * time.Millisecond, Metrics: 100 * time.Millisecond, Proxy: 100 * time.Millisecond}
	})
	for _, mode := range []string{"sse", "ndjson"} {
		t.Run(mode, func(t *testing.T) {
			channel := "live-" + mode
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+dsPath("/namespaces/default/datasources/ds1/stream/"+channel), nil)
			if mode == "sse" {
				req.Header.Set("Accept", "text/event-stream")
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			wantCT := map[string]string{"sse": "text/event-stream", "ndjson": "application/x-ndjson"}[mode]
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != wantCT {
				t.Fatalf("HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			br := bufio.NewReader(resp.Body)
			var events []string
			start := time.Now()
			for time.Since(start) < 600*time.Millisecond {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("stream ended after %v (%d events): %v", time.Since(start), len(events), err)
				}
				line = strings.TrimSpace(line)
				if line == "" {
					continue
				}
				if mode == "sse" {
					if !strings.HasPrefix(line, "data: ") {
						t.Fatalf("bad SSE line %q", line)
					}
					line = strings.TrimPrefix(line, "data: ")
				}
				events = append(events, line)
			}
			if events[0] != fmt.Sprintf(`{"hello":%q}`, channel) || events[1] != `{"n":0}` || len(events) < 5 {
				t.Fatalf("events = %v", events)
			}
			cancel() // client leaves
			if !waitFile(t, filepath.Join(markerDir, channel+".cancelled"), 5*time.Second) {
				t.Fatal("plugin RunStream context was not cancelled after the client left")
			}
		})
	}
	expectStatus(t, e.do("GET", dsPath("/namespaces/default/datasources/ds1/stream/deny"), nil), 403, "denied")
	expectStatus(t, e.do("GET", dsPath("/namespaces/default/datasources/ds1/stream/missing"), nil), 404, "")
	r := e.do("POST", dsPath("/namespaces/default/datasources/ds1/stream/chan"), `{"v":1}`)
	if r.code != 200 || string(r.body) != "{\"published\":{\"v\":1}}\n" {
		t.Fatalf("publish: %d %q", r.code, r.body)
	}
	expectStatus(t, e.do("POST", dsPath("/namespaces/default/datasources/ds1/stream/deny"), `{}`), 403, "")
	expectStatus(t, e.do("PUT", dsPath("/namespaces/default/datasources/ds1/stream/chan"), `{}`), 405, "")
}

func admissionReview(op, uid string, obj, old string) string {
	o := `null`
	if obj != "" {
		o = obj
	}
	oo := `null`
	if old != "" {
		oo = old
	}
	return fmt.Sprintf(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
		"uid":%q,"kind":{"group":"test.grafana.app","version":"v1","kind":"Widget"},
		"resource":{"group":"test.grafana.app","version":"v1","resource":"widgets"},
		"name":"w1","namespace":"default","operation":%q,"dryRun":true,
		"userInfo":{"username":"bob","extra":{"email":["bob@example.com"]}},
		"object":%s,"oldObject":%s}}`, uid, op, o, oo)
}

const widget = `{"apiVersion":"test.grafana.app/v1","kind":"Widget","metadata":{"name":"w1","namespace":"default","labels":{"a":"b"}},"spec":{"size":1}}`

func TestAdmission(t *testing.T) {
	e := newEnv(t, nil)
	validate, mutate := dsPath("/admission/validate"), dsPath("/admission/mutate")

	r := e.do("POST", validate, admissionReview("UPDATE", "uid-1", widget, widget))
	m := r.json(t)
	resp := m["response"].(map[string]any)
	if r.code != 200 || m["kind"] != "AdmissionReview" || resp["uid"] != "uid-1" || resp["allowed"] != true {
		t.Fatalf("validate: %d %s", r.code, r.body)
	}
	if w := fmt.Sprint(resp["warnings"]); !strings.Contains(w, "op=UPDATE") || !strings.Contains(w, "user=bob") {
		t.Errorf("warnings = %v", w)
	}

	denied := strings.Replace(widget, `"labels":{"a":"b"}`, `"labels":{"deny":"1"}`, 1)
	r = e.do("POST", validate, admissionReview("CREATE", "uid-2", denied, ""))
	resp = r.json(t)["response"].(map[string]any)
	st, _ := resp["status"].(map[string]any)
	if r.code != 200 || resp["allowed"] != false || st["code"] != float64(422) || !strings.Contains(fmt.Sprint(st["message"]), "label deny") {
		t.Fatalf("deny: %d %s", r.code, r.body)
	}

	r = e.do("POST", mutate, admissionReview("CREATE", "uid-3", widget, ""))
	resp = r.json(t)["response"].(map[string]any)
	if r.code != 200 || resp["allowed"] != true || resp["patchType"] != "JSONPatch" || resp["uid"] != "uid-3" {
		t.Fatalf("mutate: %d %s", r.code, r.body)
	}
	raw, err := base64.StdEncoding.DecodeString(resp["patch"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var ops []map[string]any
	if err := json.Unmarshal(raw, &ops); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"/metadata/labels/mutated": "yes", "/spec/kind": "Widget"}
	for _, op := range ops {
		if v, ok := want[op["path"].(string)]; ok && op["op"] == "add" && op["value"] == v {
			delete(want, op["path"].(string))
		}
	}
	if len(want) > 0 {
		t.Errorf("patch %s misses %v", raw, want)
	}

	r = e.do("POST", validate, admissionReview("CONNECT", "uid-4", "", ""))
	resp = r.json(t)["response"].(map[string]any)
	if r.code != 200 || resp["allowed"] != false || resp["uid"] != "uid-4" {
		t.Fatalf("connect must fail closed: %s", r.body)
	}
	r = e.do("POST", validate, admissionReview("DELETE", "uid-5", "", widget))
	if resp = r.json(t)["response"].(map[string]any); resp["allowed"] != true {
		t.Fatalf("delete: %s", r.body)
	}
	expectStatus(t, e.do("POST", validate, `{"kind":"AdmissionReview"}`), 400, "request is missing")
	expectStatus(t, e.do("GET", validate, nil), 405, "")
}

func TestConversion(t *testing.T) {
	e := newEnv(t, nil)
	review := func(objs ...string) string {
		return `{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview","request":{"uid":"c1","desiredAPIVersion":"test.grafana.app/v2","objects":[` + strings.Join(objs, ",") + `]}}`
	}
	r := e.do("POST", dsPath("/conversion"), review(widget, widget))
	m := r.json(t)
	resp := m["response"].(map[string]any)
	objs, _ := resp["convertedObjects"].([]any)
	if r.code != 200 || m["kind"] != "ConversionReview" || resp["uid"] != "c1" || len(objs) != 2 ||
		resp["result"].(map[string]any)["status"] != "Success" {
		t.Fatalf("conversion: %d %s", r.code, r.body)
	}
	if objs[0].(map[string]any)["apiVersion"] != "test.grafana.app/v2" {
		t.Errorf("not converted: %v", objs[0])
	}
	r = e.do("POST", dsPath("/conversion"), review(`{"apiVersion":"test.grafana.app/v1","kind":"Widget","fail":true}`))
	res := r.json(t)["response"].(map[string]any)["result"].(map[string]any)
	if r.code != 200 || res["status"] != "Failure" || res["message"] != "cannot convert objects marked fail" {
		t.Fatalf("conversion failure: %d %s", r.code, r.body)
	}
}

func TestDatasourceProxy(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do("POST", dsPath("/namespaces/default/datasources/ds1/proxy/api/v1/query?q=up"), "body!",
		"Authorization", "Bearer caller-token", "Cookie", "grafana_session=abc", "X-Custom", "kept")
	if r.code != 200 || string(r.body) != "upstream saw /base/api/v1/query?q=up" {
		t.Fatalf("proxy: %d %s", r.code, r.body)
	}
	if r.header.Get("Set-Cookie") != "" || r.header.Get("X-Upstream") != "yes" {
		t.Errorf("response headers: %v", r.header)
	}
	up := e.upstream.last()
	u, p, ok := up.BasicAuth()
	if !ok || u != "proxyuser" || p != secretPassword {
		t.Errorf("upstream basic auth = %q %q %v", u, p, ok)
	}
	if up.Header.Get("X-Api-Key") != secretHeader || up.Header.Get("Cookie") != "" || up.Header.Get("X-Custom") != "kept" {
		t.Errorf("upstream headers: %v", up.Header)
	}
	if e.upstream.body[len(e.upstream.body)-1] != "body!" {
		t.Errorf("body not forwarded")
	}
	// ".." cannot escape the datasource's base path.
	r = e.do("GET", dsPath("/namespaces/default/datasources/ds1/proxy/..%2F..%2Fetc"), nil)
	if !strings.HasPrefix(string(r.body), "upstream saw /base/") {
		t.Errorf("escaped base path: %s", r.body)
	}
	// TLS is verified unless tlsSkipVerify.
	expectStatus(t, e.do("GET", dsPath("/namespaces/default/datasources/tls-strict/proxy/"), nil), 502, "upstream request failed")
	r = e.do("GET", dsPath("/namespaces/default/datasources/tls-skip/proxy/"), nil)
	if r.code != 200 || string(r.body) != "tls ok" {
		t.Errorf("tlsSkipVerify: %d %s", r.code, r.body)
	}
	expectStatus(t, e.do("GET", dsPath("/namespaces/default/datasources/sick/proxy/"), nil), 404, "no url")
	expectStatus(t, e.do("GET", dsPath("/namespaces/default/datasources/foreign/proxy/"), nil), 404, "")
}

func TestSetRegistrations(t *testing.T) {
	e := newEnv(t, nil)
	q := dsPath("/namespaces/default/datasources/ds1/query")
	if r := e.do("POST", q, `{"queries":[{}]}`); r.code != 200 {
		t.Fatalf("before: %d", r.code)
	}
	regs := defaultRegs()
	regs[0].Group, regs[0].Version = "moved.grafana.app", "v2"
	e.h.SetRegistrations(regs)
	if r := e.do("POST", q, `{"queries":[{}]}`); r.code != 418 || string(r.body) != "next handler" {
		t.Fatalf("old group/version must go to Next: %d %s", r.code, r.body)
	}
	if r := e.do("POST", "/apis/moved.grafana.app/v2/namespaces/default/datasources/ds1/query", `{"queries":[{}]}`); r.code != 200 {
		t.Fatalf("new group/version: %d %s", r.code, r.body)
	}
	if !e.h.Registered("moved.grafana.app", "v2") || e.h.Registered(dsGroup, "v0alpha1") {
		t.Error("Registered")
	}
	// Drop the query service: the route disappears (404 inside a served group/version).
	regs[0].Services = []v0alpha1.DataPlaneServiceService{{Type: v0alpha1.DataPlaneServiceServiceTypeHealth}}
	e.h.SetRegistrations(regs)
	expectStatus(t, e.do("POST", "/apis/moved.grafana.app/v2/namespaces/default/datasources/ds1/query", `{"queries":[{}]}`), 404, "")
	e.h.SetRegistrations(nil)
	if r := e.do("GET", "/apis/moved.grafana.app/v2/namespaces/default/datasources/ds1/health", nil); r.code != 418 {
		t.Fatalf("after removal: %d", r.code)
	}
	if got := gaugeValue(t, e, "dpa_dataplane_routes"); got != 0 {
		t.Errorf("routes gauge = %v", got)
	}
	e.h.SetRegistrations(defaultRegs())
	if got := gaugeValue(t, e, "dpa_dataplane_routes"); got != 4 {
		t.Errorf("routes gauge = %v", got)
	}
}

func gaugeValue(t *testing.T, e *env, name string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

func TestNextAndDiscovery(t *testing.T) {
	e := newEnv(t, nil)
	for _, p := range []string{"/healthz", "/apis/aggregation.grafana.app/v0alpha1/dataplaneservices", "/apis/" + dsGroup + "/v9/x", "/api/v1"} {
		r := e.do("GET", p, nil)
		if r.code != 418 || r.header.Get("X-Next") != "1" {
			t.Errorf("%s: not delegated (%d)", p, r.code)
		}
	}
	r := e.do("GET", dsPath(""), nil)
	m := r.json(t)
	if r.code != 200 || m["kind"] != "APIResourceList" || m["groupVersion"] != dsGroup+"/v0alpha1" {
		t.Fatalf("discovery: %d %s", r.code, r.body)
	}
	names := map[string]bool{}
	for _, res := range m["resources"].([]any) {
		names[res.(map[string]any)["name"].(string)] = true
	}
	for _, n := range []string{"datasources", "datasources/query", "datasources/health", "datasources/resource", "datasources/proxy", "datasources/stream"} {
		if !names[n] {
			t.Errorf("discovery lacks %s: %v", n, names)
		}
	}
	r = e.do("GET", "/apis/"+dsGroup, nil)
	if r.code != 200 || r.json(t)["kind"] != "APIGroup" {
		t.Errorf("group doc: %d %s", r.code, r.body)
	}
	groups := e.h.Groups()
	if len(groups) != 4 || groups[3].Name != dsGroup || groups[3].PreferredVersion.Version != "v0alpha1" {
		t.Errorf("Groups() = %+v", groups)
	}
	if l, ok := e.h.APIResourceList(appGroup, "v1"); !ok || l.GroupVersion != appGroup+"/v1" {
		t.Errorf("APIResourceList(app) = %v %v", l, ok)
	}
}

func TestDatasourceObjectsAndSecrets(t *testing.T) {
	e := newEnv(t, nil)
	var bodies []string
	collect := func(r response) response { bodies = append(bodies, string(r.body)); return r }

	r := collect(e.do("GET", dsPath("/namespaces/default/datasources"), nil))
	m := r.json(t)
	items := m["items"].([]any)
	if r.code != 200 || m["kind"] != "DataSourceList" || len(items) != 4 {
		t.Fatalf("list: %d %s", r.code, r.body)
	}
	r = collect(e.do("GET", dsPath("/namespaces/default/datasources/ds1"), nil))
	m = r.json(t)
	spec := m["spec"].(map[string]any)
	if m["kind"] != "DataSource" || m["metadata"].(map[string]any)["name"] != "ds1" || spec["basicAuthUser"] != "proxyuser" {
		t.Fatalf("get: %s", r.body)
	}
	if sf := spec["secureJsonFields"].(map[string]any); sf["basicAuthPassword"] != true || sf["httpHeaderValue1"] != true {
		t.Errorf("secureJsonFields = %v", sf)
	}
	expectStatus(t, collect(e.do("GET", dsPath("/namespaces/default/datasources/foreign"), nil)), 404, "")
	collect(e.do("POST", dsPath("/namespaces/default/datasources/ds1/query"), `{"queries":[{}]}`))
	collect(e.do("GET", dsPath("/namespaces/default/datasources/ds1/health"), nil))
	collect(e.do("GET", dsPath("/namespaces/default/datasources/ds1/resource/echo"), nil))
	collect(e.do("GET", "/apis/"+appGroup+"/v1/namespaces/default/resource/echo", nil))
	collect(e.do("GET", dsPath("/namespaces/default/datasources/ds1/proxy/x"), nil))
	collect(e.do("GET", dsPath("/namespaces/default/datasources/tls-strict/proxy/x"), nil))
	collect(e.do("POST", dsPath("/namespaces/default/datasources/ds1/query"), `{"from":"bad","queries":[{}]}`))

	logs := e.logs.String()
	if !strings.Contains(logs, `"msg":"dataplane request"`) || !strings.Contains(logs, `"plugin_id":"test-datasource"`) || !strings.Contains(logs, `"request_id":`) {
		t.Fatalf("request log lines missing:\n%s", logs)
	}
	for _, s := range []string{secretPassword, secretHeader, secretApp} {
		for _, b := range bodies {
			if strings.Contains(b, s) {
				t.Errorf("secret %q in response %s", s, b)
			}
		}
		if strings.Contains(logs, s) {
			t.Errorf("secret %q in logs", s)
		}
	}
}

func TestObservability(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	e := newEnv(t, func(o *Options) { o.Tracer = tp })
	_ = e.do("POST", dsPath("/namespaces/default/datasources/ds1/query"), `{"queries":[{}]}`)
	_ = e.do("POST", dsPath("/namespaces/default/datasources/nope/query"), `{"queries":[{}]}`)
	// The response is flushed before the span ends (flushComplete): wait for both spans.
	var spans []sdktrace.ReadOnlySpan
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if spans = rec.Ended(); len(spans) >= 2 || time.Now().After(deadline) {
			break
		}
	}
	if len(spans) != 2 {
		t.Fatalf("spans = %d", len(spans))
	}
	attrs := map[string]string{}
	for _, kv := range spans[0].Attributes() {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	for k, v := range map[string]string{"dpa.group": dsGroup, "dpa.version": "v0alpha1", "dpa.service_type": "query",
		"dpa.plugin_id": "test-datasource", "dpa.namespace": "default", "http.response.status_code": "200"} {
		if attrs[k] != v {
			t.Errorf("span attr %s = %q, want %q", k, attrs[k], v)
		}
	}
	mfs, _ := e.reg.Gather()
	var found404, found200 bool
	for _, mf := range mfs {
		if mf.GetName() != "dpa_dataplane_requests_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			l := labels(mt)
			if l["type"] == "query" && l["group"] == dsGroup && l["code"] == "200" {
				found200 = true
			}
			if l["type"] == "query" && l["code"] == "404" {
				found404 = true
			}
			if _, bad := l["namespace"]; bad {
				t.Error("namespace label must not exist")
			}
		}
	}
	if !found200 || !found404 {
		t.Errorf("request counters missing (200=%v 404=%v)", found200, found404)
	}
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// BenchmarkLookup shows route lookup does not depend on the number of registrations, for a
// built-in route near the end of the pattern list, a short built-in one and a custom route.
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{1, 10000} {
		regs := make([]routes.Registration, n)
		for i := range regs {
			regs[i] = routes.Registration{Name: fmt.Sprintf("r%05d", i), PluginID: "p", PluginType: "datasource",
				Group: fmt.Sprintf("g%d.grafana.app", i), Version: "v1", Services: allServices(
					routeSvc(v0alpha1.DataPlaneServiceServiceMethodGET, "/namespaces/{ns}/things/{name}"))}
		}
		tbl, _ := new(table).update(regs, nil)
		for _, c := range []struct{ name, method, rest string }{
			{"resource", "GET", "/namespaces/default/datasources/abc/resource/x/y"},
			{"query", "POST", "/namespaces/default/datasources/abc/query"},
			{"route", "GET", "/namespaces/default/things/t1"},
		} {
			b.Run(fmt.Sprintf("registrations=%d/%s", n, c.name), func(b *testing.B) {
				path := fmt.Sprintf("/apis/g%d.grafana.app/v1%s", n/2, c.rest)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					e, rest, ok := tbl.lookup(path)
					if !ok {
						b.Fatal("not found")
					}
					if _, herr := e.match(c.method, rest); herr != nil {
						b.Fatal(herr)
					}
				}
			})
		}
	}
}

// TestProxyResponseLimit: an upstream answer longer than the limit is refused (502 naming
// the limit); one within it passes, sandboxed.
func TestProxyResponseLimit(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.ProxyResponseLimit = 10 })
	r := e.do("GET", dsPath("/namespaces/default/datasources/ds1/proxy/long/path"), nil)
	expectStatus(t, r, 502, "exceeds the response limit of 10 bytes")
	e = newEnv(t, func(o *Options) { o.ProxyResponseLimit = 1000 })
	r = e.do("GET", dsPath("/namespaces/default/datasources/ds1/proxy/x"), nil)
	if r.code != 200 || r.header.Get("Content-Security-Policy") != "sandbox" || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("within the limit: %d %v", r.code, r.header)
	}
}
