package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

type collect struct {
	mu    sync.Mutex
	resps []*backend.CallResourceResponse
}

func (c *collect) Send(r *backend.CallResourceResponse) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resps = append(c.resps, r)
	return nil
}

func (c *collect) status() int { return c.resps[0].Status }
func (c *collect) body() string {
	var b strings.Builder
	for _, r := range c.resps {
		b.Write(r.Body)
	}
	return b.String()
}

type seen struct {
	method, path, query, auth, ctype, cookie, body string
	impUser                                        string
	impGroups                                      []string
}

func aggregator(t *testing.T, token string) (*httptest.Server, *[]seen) {
	t.Helper()
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), r.Header.Get("Cookie"), string(b),
			r.Header.Get("Impersonate-User"), r.Header.Values("Impersonate-Group")})
		mu.Unlock()
		switch {
		case r.URL.Path == "/readyz":
			_, _ = w.Write([]byte("ok"))
		case r.Header.Get("Authorization") != "Bearer "+token:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"kind":"Status","code":401,"reason":"Unauthorized"}`))
		case r.URL.Path == selfReviewPath:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(201)
			_, _ = w.Write([]byte(`{"status":{"userInfo":{"username":"grafana-app","groups":["` + reviewGroup + `"]}}}`))
		case r.Method == http.MethodPost:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(422)
			_, _ = w.Write([]byte(`{"kind":"Status","code":422,"reason":"Invalid"}`))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Set-Cookie", "x=y")
			_, _ = w.Write([]byte(`{"items":[{},{}],"metadata":{}}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

// reviewGroup is the group the fake aggregator's SelfSubjectReview reports for the token.
var reviewGroup = "grafana:impersonator"

func caPEM(srv *httptest.Server) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
}

func newApp(t *testing.T, cfg Settings, token string) *App {
	t.Helper()
	j, _ := json.Marshal(cfg)
	inst, err := NewApp(context.Background(), backend.AppInstanceSettings{JSONData: j, DecryptedSecureJSONData: map[string]string{"token": token}})
	if err != nil {
		t.Fatal(err)
	}
	return inst.(*App)
}

func admin() backend.PluginContext {
	return backend.PluginContext{OrgID: 3, User: &backend.User{Login: "a", Role: "Admin"}}
}

func TestCallResourceForwards(t *testing.T) {
	srv, got := aggregator(t, "tok")
	a := newApp(t, Settings{URL: srv.URL + "/", CACert: caPEM(srv)}, "tok")

	var c collect
	err := a.CallResource(context.Background(), &backend.CallResourceRequest{
		PluginContext: admin(), Path: "apis/aggregation.grafana.app/v0alpha1/dataplaneservices", Method: "POST",
		URL:     "apis/aggregation.grafana.app/v0alpha1/dataplaneservices?dryRun=All",
		Headers: map[string][]string{"Content-Type": {"application/json"}, "Cookie": {"grafana_session=1"}, "Authorization": {"Bearer browser"}},
		Body:    []byte(`{"spec":{}}`),
	}, &c)
	if err != nil {
		t.Fatal(err)
	}
	if c.status() != 422 || !strings.Contains(c.body(), `"Invalid"`) {
		t.Fatalf("response %d %s", c.status(), c.body())
	}
	s := (*got)[0]
	if s.method != "POST" || s.path != listPath || s.query != "dryRun=All" || s.auth != "Bearer tok" ||
		s.ctype != "application/json" || s.cookie != "" || s.body != `{"spec":{}}` {
		t.Errorf("forwarded request: %+v", s)
	}
	// It acts as the Grafana user, with the org role of the plugin context's org.
	if s.impUser != "a" || len(s.impGroups) != 1 || s.impGroups[0] != "grafana:org:3:Admin" {
		t.Errorf("impersonation: user %q groups %q", s.impUser, s.impGroups)
	}

	c = collect{}
	_ = a.CallResource(context.Background(), &backend.CallResourceRequest{PluginContext: admin(), Path: "/apis/x", Method: "GET", URL: "/apis/x"}, &c)
	if c.status() != 200 || c.resps[0].Headers["Set-Cookie"] != nil || c.resps[0].Headers["Content-Type"][0] != "application/json" {
		t.Errorf("GET response: %+v", c.resps[0])
	}
}

func TestCallResourceGuards(t *testing.T) {
	srv, got := aggregator(t, "tok")
	a := newApp(t, Settings{URL: srv.URL, TLSSkipVerify: true}, "tok")
	cases := []struct {
		req  backend.CallResourceRequest
		code int
	}{
		{backend.CallResourceRequest{PluginContext: admin(), Path: "api/admin", Method: "GET"}, 404},
		{backend.CallResourceRequest{PluginContext: backend.PluginContext{}, Path: "apis/x", Method: "GET"}, 401},
		{backend.CallResourceRequest{PluginContext: admin(), Path: "apis/x", Method: "TRACE"}, 405},
		{backend.CallResourceRequest{PluginContext: backend.PluginContext{User: &backend.User{Login: "v", Role: "Viewer"}}, Path: "apis/x", Method: "GET"}, 200},
	}
	for _, tc := range cases {
		var c collect
		_ = a.CallResource(context.Background(), &tc.req, &c)
		if c.status() != tc.code {
			t.Errorf("%s %s: %d, want %d", tc.req.Method, tc.req.Path, c.status(), tc.code)
		}
	}
	if len(*got) != 1 || (*got)[0].impUser != "v" {
		t.Errorf("only the allowed GET should reach the aggregator, as the Viewer: %+v", *got)
	}
	var c collect
	_ = newApp(t, Settings{}, "tok").CallResource(context.Background(), &backend.CallResourceRequest{PluginContext: admin(), Path: "apis/x", Method: "GET"}, &c)
	if c.status() != 503 {
		t.Errorf("unconfigured: %d", c.status())
	}
}

func TestCheckHealth(t *testing.T) {
	srv, _ := aggregator(t, "tok")
	ok, _ := newApp(t, Settings{URL: srv.URL, CACert: caPEM(srv)}, "tok").CheckHealth(context.Background(), &backend.CheckHealthRequest{})
	if ok.Status != backend.HealthStatusOk || !strings.Contains(ok.Message, `as "grafana-app"`) {
		t.Errorf("good token: %+v", ok)
	}
	reviewGroup = "team-a"
	defer func() { reviewGroup = "grafana:impersonator" }()
	cannot, _ := newApp(t, Settings{URL: srv.URL, CACert: caPEM(srv)}, "tok").CheckHealth(context.Background(), &backend.CheckHealthRequest{})
	if cannot.Status != backend.HealthStatusError || !strings.Contains(cannot.Message, "grafana:impersonator") {
		t.Errorf("a token that may not impersonate: %+v", cannot)
	}
	bad, _ := newApp(t, Settings{URL: srv.URL, CACert: caPEM(srv)}, "wrong").CheckHealth(context.Background(), &backend.CheckHealthRequest{})
	if bad.Status != backend.HealthStatusError || !strings.Contains(bad.Message, "401") {
		t.Errorf("bad token: %+v", bad)
	}
	untrusted, _ := newApp(t, Settings{URL: srv.URL}, "tok").CheckHealth(context.Background(), &backend.CheckHealthRequest{})
	if untrusted.Status != backend.HealthStatusError || !strings.Contains(untrusted.Message, "cannot reach") {
		t.Errorf("untrusted cert: %+v", untrusted)
	}
	none, _ := newApp(t, Settings{}, "").CheckHealth(context.Background(), &backend.CheckHealthRequest{})
	if none.Status != backend.HealthStatusError || !strings.Contains(none.Message, "not configured") {
		t.Errorf("no url: %+v", none)
	}
}

// TestCallResourceWaitsForTheAggregator: no client limit on the aggregator's answer (dpa ends
// each call at its --timeout); a cancelled call (the browser's request went away) ends the
// upstream request at once.
func TestCallResourceWaitsForTheAggregator(t *testing.T) {
	upstreamDone := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // (the server notices a closed connection once the body is read)
		<-r.Context().Done()      // never answers: only the caller can end this
		close(upstreamDone)
	}))
	t.Cleanup(srv.Close)
	a := newApp(t, Settings{URL: srv.URL, CACert: caPEM(srv)}, "tok")
	if tr, ok := a.client.Transport.(*http.Transport); !ok || tr.ResponseHeaderTimeout != 0 {
		t.Fatalf("the transport limits the wait for the aggregator's answer: %+v", a.client.Transport)
	}
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan struct{})
	go func() {
		var c collect
		_ = a.CallResource(ctx, &backend.CallResourceRequest{PluginContext: admin(), Path: "/apis/g/v1/namespaces/default/datasources/x/query", Method: "POST", Body: []byte(`{}`)}, &c)
		close(returned)
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case <-returned:
		t.Fatal("the call ended before the aggregator answered or the caller cancelled")
	default:
	}
	cancel()
	for _, ch := range []chan struct{}{returned, upstreamDone} {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("cancelling the call did not end the upstream request")
		}
	}
}
