package dataplane

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestEncodeQueryResponseArrowAndJSON(t *testing.T) {
	f := data.NewFrame("f", data.NewField("v", nil, []int64{1, 2, 3}), data.NewField("s", nil, []string{"a", "b", "c"}))
	arrow, err := f.MarshalArrow()
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	resp := &pluginv2.QueryDataResponse{Responses: map[string]*pluginv2.DataResponse{
		"arrow": {Frames: [][]byte{arrow}, Format: pluginv2.DataFrameFormat_ARROW},
		"json":  {Frames: [][]byte{js}, Format: pluginv2.DataFrameFormat_JSON},
		"err":   {Error: "boom", Status: 502, ErrorSource: "downstream"},
	}}
	out, code, err := encodeQueryResponse(resp, []string{"json", "arrow", "err"})
	if err != nil {
		t.Fatal(err)
	}
	if code != 502 {
		t.Errorf("code = %d, want the failed query's 502", code)
	}
	var got struct {
		Results map[string]struct {
			Status      int               `json:"status"`
			Frames      []json.RawMessage `json:"frames"`
			Error       string            `json:"error"`
			ErrorSource string            `json:"errorSource"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var a, j any
	_ = json.Unmarshal(got.Results["arrow"].Frames[0], &a)
	_ = json.Unmarshal(got.Results["json"].Frames[0], &j)
	if !reflect.DeepEqual(a, j) {
		t.Errorf("arrow frame converted differently:\n%s\n%s", got.Results["arrow"].Frames[0], got.Results["json"].Frames[0])
	}
	if e := got.Results["err"]; e.Status != 502 || e.Error != "boom" || e.ErrorSource != "downstream" {
		t.Errorf("err = %+v", e)
	}
	if !strings.HasPrefix(string(out), `{"results":{"json":`) {
		t.Errorf("results not in query order: %s", out)
	}

	// Invalid JSON from a plugin is an error, never spliced.
	if _, _, err := encodeQueryResponse(&pluginv2.QueryDataResponse{Responses: map[string]*pluginv2.DataResponse{
		"A": {Frames: [][]byte{[]byte("{nope")}, Format: pluginv2.DataFrameFormat_JSON}}}, []string{"A"}); err == nil {
		t.Error("invalid frame JSON accepted")
	}
	// Error without status → 400.
	_, code, _ = encodeQueryResponse(&pluginv2.QueryDataResponse{Responses: map[string]*pluginv2.DataResponse{
		"A": {Error: "x"}}}, []string{"A"})
	if code != 400 {
		t.Errorf("code = %d, want 400", code)
	}
}

func TestRouteMatcher(t *testing.T) {
	for _, tc := range []struct {
		route, path string
		want        bool
	}{
		{"/a/{x}/c", "/a/b/c", true},
		{"/a/{x}/c", "/a//c", false},
		{"/a/{x}/c", "/a/b/c/d", false},
		{"/a/{x}/c", "/a/b", false},
		{"/a/{rest...}", "/a/b/c/d", true},
		{"/a/{rest...}", "/a", true},
		{"/a/{rest...}", "/b/c", false},
		{"/", "/", true},
		{"/", "", true},
	} {
		r, ok := compileRoute("", tc.route)
		if !ok {
			t.Fatalf("compile %s", tc.route)
		}
		if got := r.match(tc.path); got != tc.want {
			t.Errorf("%s ~ %s = %v", tc.route, tc.path, got)
		}
	}
	for _, bad := range []string{"a/b", "/a/{x...}/b", "/a//b", "/a/{x"} {
		if _, ok := compileRoute("", bad); ok {
			t.Errorf("%q should not compile", bad)
		}
	}
}

func TestSettingsFollowReload(t *testing.T) {
	e := newEnv(t, nil)
	q := dsPath("/namespaces/default/datasources/ds1/query")
	first := e.do("POST", q, `{"queries":[{}]}`)
	var pc1, pc2 pctx
	_ = json.Unmarshal([]byte(frameValue(t, first.json(t), "A", "pluginContext").(string)), &pc1)

	p := filepath.Join(e.store.Dir(), "datasources", "ds.yaml")
	b, _ := os.ReadFile(p)
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), "mode: fast", "mode: slow", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Reload(); err != nil {
		t.Fatal(err)
	}
	second := e.do("POST", q, `{"queries":[{}]}`)
	_ = json.Unmarshal([]byte(frameValue(t, second.json(t), "A", "pluginContext").(string)), &pc2)
	if !strings.Contains(string(pc2.DSJSON), `"mode":"slow"`) || pc2.DSUpdated <= pc1.DSUpdated {
		t.Errorf("settings not refreshed: %s updated %d → %d", pc2.DSJSON, pc1.DSUpdated, pc2.DSUpdated)
	}
}

// BenchmarkBuildQueryRequest: the bench's query body → plugin QueryDataRequest.
func BenchmarkBuildQueryRequest(b *testing.B) {
	body := []byte(`{"from":"now-1h","to":"now","queries":[{"refId":"A","scenario":"random_walk","points":10}]}`)
	c := &call{e: &gvEntry{pluginID: "example-datasource"}, r: httptest.NewRequest("POST", "/x", nil)}
	c.t.uid = "bench"
	b.ReportAllocs()
	for b.Loop() {
		if _, _, herr := c.buildQueryRequest(body); herr != nil {
			b.Fatal(herr)
		}
	}
}

// A plugin that returns ctx.Err() itself reaches dpa as a gRPC Unknown status
// whose text is "context deadline exceeded", sometimes before dpa's own context
// has noticed the deadline. Once the call's deadline has passed, that is a 504.
func TestClassifyAtDeadline(t *testing.T) {
	pluginErr := status.Error(codes.Unknown, "context deadline exceeded")
	cases := []struct {
		name     string
		deadline time.Time
		err      error
		code     int
	}{
		{"deadline passed", time.Now().Add(-time.Millisecond), pluginErr, http.StatusGatewayTimeout},
		{"deadline ahead", time.Now().Add(time.Hour), pluginErr, http.StatusBadGateway},
		{"no deadline", time.Time{}, pluginErr, http.StatusBadGateway},
		{"our own error kept", time.Now().Add(-time.Millisecond), errNotFound("gone"), http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &call{e: &gvEntry{pluginID: "p"}, deadline: tc.deadline}
			he := c.classify(tc.err, "QueryData")
			if he.code != tc.code {
				t.Fatalf("code = %d, want %d (%s)", he.code, tc.code, he.msg)
			}
			if tc.code == http.StatusGatewayTimeout && he.msg != "plugin p: QueryData timed out" {
				t.Errorf("msg = %q", he.msg)
			}
		})
	}
}
