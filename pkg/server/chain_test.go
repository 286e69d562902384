package server

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

func recordingHandler(name string, got *[]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*got = append(*got, name+" "+r.Method+" "+r.URL.RequestURI())
	})
}

// TestLocalHandler: what the data plane passes on goes to the resource API for dpa's own
// group (writes with strict field validation unless the client chose) and to the fallback
// for every other group.
func TestLocalHandler(t *testing.T) {
	for req, want := range map[string]string{
		"GET /apis/aggregation.grafana.app/v0alpha1/dataplaneservices":                             "api GET /apis/aggregation.grafana.app/v0alpha1/dataplaneservices",
		"POST /apis/aggregation.grafana.app/v0alpha1/dataplaneservices":                            "api POST /apis/aggregation.grafana.app/v0alpha1/dataplaneservices?fieldValidation=Strict",
		"PATCH /apis/aggregation.grafana.app/v0alpha1/dataplaneservices/x":                         "api PATCH /apis/aggregation.grafana.app/v0alpha1/dataplaneservices/x?fieldValidation=Strict",
		"PUT /apis/aggregation.grafana.app/v0alpha1/dataplaneservices/x?fieldValidation=Ignore":    "api PUT /apis/aggregation.grafana.app/v0alpha1/dataplaneservices/x?fieldValidation=Ignore",
		"POST /apis/other.grafana.app/v1/things":                                                   "fallback POST /apis/other.grafana.app/v1/things",
		"GET /apis":                                                                                "api GET /apis",
		"GET /openapi/v3":                                                                          "api GET /openapi/v3",
		"GET /api/health":                                                                          "api GET /api/health",
		"GET /apis/aggregation.grafana.app/v0alpha1/dataplaneservices?watch=1&resourceVersion=42":  "api GET /apis/aggregation.grafana.app/v0alpha1/dataplaneservices?watch=1&resourceVersion=42",
		"GET /apis/aggregation.grafana.app/v0alpha1/dataplaneservices?watch=1&resourceVersion=abc": "",
		"GET /apis/aggregation.grafana.app/v0alpha1/plugins?resourceVersion=-1":                    "",
		"GET /apis/other.grafana.app/v1/things?resourceVersion=abc":                                "fallback GET /apis/other.grafana.app/v1/things?resourceVersion=abc",
	} {
		var got []string
		h := localHandler(recordingHandler("api", &got), recordingHandler("fallback", &got), codecsForTest())
		method, target, _ := strings.Cut(req, " ")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
		if want == "" { // refused before the API: a 400 Status
			if len(got) != 0 || rec.Code != 400 || !strings.Contains(rec.Body.String(), `"reason":"BadRequest"`) {
				t.Errorf("%s → %q, %d %s; want a 400 Status", req, got, rec.Code, rec.Body)
			}
			continue
		}
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s → %q, want %q", req, got, want)
		}
	}
}

// TestFallback: without --delegate-url the fallback is a 404 Status; with it, the
func codecsForTest() serializer.CodecFactory {
	scheme := runtime.NewScheme()
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	return serializer.NewCodecFactory(scheme)
}

// request goes to the upstream without dpa's session cookie (other cookies stay).
func TestFallback(t *testing.T) {
	scheme := runtime.NewScheme()
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	codecs := serializer.NewCodecFactory(scheme)
	rec := httptest.NewRecorder()
	fallback, _, err := newFallback(codecs, DelegationOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fallback.ServeHTTP(rec, httptest.NewRequest("GET", "/apis/nope/v1/x", nil))
	var st struct {
		Kind, Status, Reason, Message string
		Code                          int
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || rec.Code != 404 || st.Kind != "Status" || st.Reason != "NotFound" ||
		!strings.Contains(st.Message, "GET /apis/nope/v1/x") {
		t.Errorf("no delegate: %d %s (%v)", rec.Code, rec.Body, err)
	}

	var seen *http.Request
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		_, _ = io.WriteString(w, "from upstream")
	}))
	defer upstream.Close()
	fallback, _, err = newFallback(codecs, DelegationOptions{URL: upstream.URL + "/", StripHeaders: []string{"X-Custom-Auth"}})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(fallback)
	defer front.Close()
	req, _ := http.NewRequest("GET", front.URL+"/apis/other.grafana.app/v1/x?q=1", nil)
	req.Header.Set("Cookie", "dpa_session=secret-token; grafana_session=keep")
	forged := map[string]string{"X-WEBAUTH-USER": "admin", "X-Webauth-Email": "a@b", "X-Grafana-Org-Id": "1", "X-Grafana-User": "admin",
		"X-Remote-User": "admin", "Impersonate-User": "admin", "X-Forwarded-User": "admin", "X-Auth-Request-Email": "a@b", "X-Custom-Auth": "admin"}
	for k, v := range forged {
		req.Header.Set(k, v)
	}
	req.Header.Set("X-Kept", "yes")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "from upstream" || seen == nil {
		t.Fatalf("delegate: %d %q", resp.StatusCode, body)
	}
	if c := seen.Header.Get("Cookie"); c != "grafana_session=keep" {
		t.Errorf("upstream got Cookie %q", c)
	}
	for k := range forged {
		if v := seen.Header.Get(k); v != "" {
			t.Errorf("upstream got the identity header %s: %q", k, v)
		}
	}
	if seen.Header.Get("X-Kept") != "yes" {
		t.Error("an ordinary header was stripped")
	}
	if seen.URL.RequestURI() != "/apis/other.grafana.app/v1/x?q=1" || seen.Header.Get("X-Forwarded-For") == "" {
		t.Errorf("upstream got %s, X-Forwarded-For %q", seen.URL.RequestURI(), seen.Header.Get("X-Forwarded-For"))
	}
}

// TestWithUI: /ui and /ui/… go to the UI before the API chain; nothing else does, but
// /favicon.ico, which is sent to the UI's icon without credentials.
func TestWithUI(t *testing.T) {
	for path, want := range map[string]string{"/ui": "ui", "/ui/": "ui", "/ui/assets/x.js": "ui", "/uix": "api", "/apis/ui": "api", "/": "api", "/favicon.icox": "api"} {
		var got []string
		withUI(recordingHandler("api", &got), recordingHandler("ui", &got)).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
		if len(got) != 1 || !strings.HasPrefix(got[0], want+" ") {
			t.Errorf("%s → %q, want %s", path, got, want)
		}
	}
	var got []string
	rec := httptest.NewRecorder()
	withUI(recordingHandler("api", &got), recordingHandler("ui", &got)).ServeHTTP(rec, httptest.NewRequest("GET", "/favicon.ico", nil))
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/ui/favicon.svg" || len(got) != 0 {
		t.Errorf("/favicon.ico → %d %q (handlers %q), want a redirect to /ui/favicon.svg", rec.Code, rec.Header().Get("Location"), got)
	}
}

// TestWithDataPlaneFastPath: the data plane's match is made once per request, at the
// decision; a matched request takes the fast chain carrying that very match (what the
// authorizer, the long-running check and the data plane read), anything else takes the
// generic chain without one.
func TestWithDataPlaneFastPath(t *testing.T) {
	const group = "example.datasource.grafana.app"
	matches := 0
	match := func(r *http.Request) (*routes.Match, bool) {
		matches++
		rest, ok := strings.CutPrefix(r.URL.Path, "/apis/"+group+"/v0alpha1")
		if !ok || (rest != "" && !strings.HasPrefix(rest, "/")) {
			return nil, false
		}
		return &routes.Match{Group: group, Version: "v0alpha1", UID: rest}, true
	}
	var carried *routes.Match
	chain := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Chain", name)
			carried, _ = routes.MatchFrom(r.Context())
			if isDataPlaneRequest(r) != (name == "fast") {
				t.Errorf("%s: long-running = %v in the %s chain", r.URL.Path, isDataPlaneRequest(r), name)
			}
		})
	}
	h := withDataPlaneFastPath(fastPath{match: match, chain: chain("fast")}, chain("generic"))
	for path, want := range map[string]string{
		"/apis/example.datasource.grafana.app/v0alpha1":                                        "fast",
		"/apis/example.datasource.grafana.app/v0alpha1/namespaces/default/datasources/x/query": "fast",
		"/apis/example.datasource.grafana.app/v1/namespaces/default/datasources/x/query":       "generic", // version not registered
		"/apis/example.datasource.grafana.app":                                                 "generic", // group discovery
		"/apis/other.grafana.app/v0alpha1/x":                                                   "generic",
		"/apis/aggregation.grafana.app/v0alpha1/dataplaneservices":                             "generic",
		"/apis":    "generic",
		"/metrics": "generic",
		"/api/example.datasource.grafana.app/v0alpha1": "generic",
	} {
		t.Run(path, func(t *testing.T) {
			matches, carried = 0, nil
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
			if got := rec.Header().Get("X-Chain"); got != want {
				t.Errorf("%s chain, want %s", got, want)
			}
			if matches != 1 {
				t.Errorf("the match was made %d times, want once", matches)
			}
			wantUID := strings.TrimPrefix(path, "/apis/"+group+"/v0alpha1")
			if (carried != nil) != (want == "fast") || (carried != nil && carried.UID != wantUID) {
				t.Errorf("carried match %+v", carried)
			}
		})
	}
}

// leftOutOfFastChain are the generic chain's filters the data plane's fast chain does not
// have, each with the reason (dataPlaneChain's comment).
var leftOutOfFastChain = map[string]string{
	"filterlatency.TrackStarted":                          "measures the generic chain's filters",
	"filterlatency.TrackCompleted":                        "measures the generic chain's filters",
	"genericfilters.WithPriorityAndFairness":              "data-plane routes are long-running: no slot; --max-dataplane-inflight bounds them",
	"genericfilters.WithMaxInFlightLimit":                 "data-plane routes are long-running: no slot; --max-dataplane-inflight bounds them",
	"genericapifilters.WithWarningRecorder":               "the data plane adds no API warnings",
	"genericfilters.WithTimeoutForNonLongRunningRequests": "long-running: the data plane's per-type --timeout applies",
	"genericapifilters.WithRequestDeadline":               "long-running: the data plane's per-type --timeout applies",
	"genericfilters.WithWaitGroup":                        "long-running requests are not counted; Go's server drains them at shutdown",
	"genericfilters.WithWatchTerminationDuringShutdown":   "for watches of the resource API only",
	"genericfilters.WithRetryAfter":                       "needs the server's lifecycle signals, which are private to k8s.io/apiserver",
	"genericfilters.WithHTTPLogging":                      "dpa logs every data-plane request itself",
	"genericapifilters.WithLatencyTrackers":               "measures the generic chain",
	"routine.WithRoutine":                                 "applies to non-long-running requests only",
	"genericapifilters.WithMuxAndDiscoveryComplete":       "data-plane routes exist only once the route table holds them",
}

// filterCalls lists, in source order, the handler filters function fn of file applies: calls
// of pkg.Func where Func is a filter (With…, Track…).
func filterCalls(t *testing.T, file, fn string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Name.Name != fn || fd.Recv != nil {
			continue
		}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			switch fun := call.Fun.(type) {
			case *ast.SelectorExpr:
				if x, ok := fun.X.(*ast.Ident); ok && (strings.HasPrefix(fun.Sel.Name, "With") || strings.HasPrefix(fun.Sel.Name, "Track")) {
					out = append(out, x.Name+"."+fun.Sel.Name)
				}
			case *ast.Ident:
				if strings.HasPrefix(fun.Name, "with") {
					out = append(out, fun.Name)
				}
			}
			return true
		})
	}
	if len(out) == 0 {
		t.Fatalf("no filters found in %s of %s", fn, file)
	}
	return out
}

// TestFastChainFollowsTheGenericChain: the data plane's fast chain applies exactly the
// generic chain's filters (genericapiserver.DefaultBuildHandlerChain of the k8s.io/apiserver
// this module builds with) in the same order, less those left out for a stated reason. A
// filter added to either chain — by an upgrade of k8s.io/apiserver or here — fails this test
// until it is added to the other or left out with a reason.
func TestFastChainFollowsTheGenericChain(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/apiserver").Output()
	if err != nil {
		t.Fatalf("go list k8s.io/apiserver: %v", err)
	}
	generic := filterCalls(t, filepath.Join(strings.TrimSpace(string(out)), "pkg", "server", "config.go"), "DefaultBuildHandlerChain")
	fast := filterCalls(t, "chain.go", "dataPlaneChain")

	var want []string
	seen := map[string]bool{}
	for _, f := range generic {
		seen[f] = true
		if _, ok := leftOutOfFastChain[f]; !ok {
			want = append(want, f)
		}
	}
	for f := range leftOutOfFastChain {
		if !seen[f] {
			t.Errorf("%s is listed as left out but the generic chain no longer has it", f)
		}
	}
	// With a no-op tracer provider the fast chain extracts the trace context itself
	// (withTraceContext, TestWithTraceContext), else it uses the same tracing filter.
	var got []string
	for _, f := range fast {
		if f != "withTraceContext" {
			got = append(got, f)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("fast chain filters (inner to outer):\n  %s\nwant the generic chain's, less those left out:\n  %s",
			strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
