package dataplane

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

type queryResults struct {
	Results map[string]struct {
		Status      int               `json:"status"`
		Frames      []json.RawMessage `json:"frames"`
		Error       string            `json:"error"`
		ErrorSource string            `json:"errorSource"`
	} `json:"results"`
}

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
		"arrow":  {Frames: [][]byte{arrow}, Format: pluginv2.DataFrameFormat_ARROW},
		"json":   {Frames: [][]byte{js}, Format: pluginv2.DataFrameFormat_JSON},
		"err":    {Error: "boom", Status: 502, ErrorSource: "downstream"},
		"broken": {Frames: [][]byte{[]byte("{nope")}, Format: pluginv2.DataFrameFormat_JSON},
	}}
	out, code := encodeQueryResponse(resp, []string{"json", "arrow", "err", "broken"})
	if code != 502 {
		t.Errorf("code = %d, want the failed query's 502", code)
	}
	var got queryResults
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
	// Invalid JSON from a plugin is never spliced: it fails its own refId only.
	if e := got.Results["broken"]; e.Status != 502 || e.ErrorSource != "plugin" || !strings.Contains(e.Error, "frame 0") || len(e.Frames) != 0 {
		t.Errorf("broken = %+v", e)
	}
	if !strings.HasPrefix(string(out), `{"results":{"json":`) {
		t.Errorf("results not in query order: %s", out)
	}
	// Every result has "frames", as in Grafana, even without any.
	if !strings.Contains(string(out), `"err":{"status":502,"frames":[],"error":"boom"`) {
		t.Errorf("a result without frames must carry \"frames\":[]: %s", out)
	}
	// Error without status → 400.
	_, code = encodeQueryResponse(&pluginv2.QueryDataResponse{Responses: map[string]*pluginv2.DataResponse{
		"A": {Error: "x"}}}, []string{"A"})
	if code != 400 {
		t.Errorf("code = %d, want 400", code)
	}
}

// TestEncodeQueryResponseArrowShapes: Arrow frames older SDKs send whatever format is asked
// for — zero rows, zero fields, several record batches — all decode, each as the SDK's own
// frame JSON would render it.
func TestEncodeQueryResponseArrowShapes(t *testing.T) {
	multi := func() []byte {
		// Two record batches in one Arrow file, as a plugin that streams chunks writes it.
		f := data.NewFrame("multi", data.NewField("v", nil, []int64{1, 2}))
		b, err := f.MarshalArrow()
		if err != nil {
			t.Fatal(err)
		}
		return appendArrowBatch(t, b, []int64{3, 4})
	}
	for name, tc := range map[string]struct {
		frame []byte
		want  *data.Frame
	}{
		"zero rows":       {want: data.NewFrame("empty", data.NewField("v", nil, []int64{}))},
		"zero fields":     {want: data.NewFrame("nothing")},
		"meta only":       {want: data.NewFrame("meta").SetMeta(&data.FrameMeta{ExecutedQueryString: "up{job=x}"})},
		"several batches": {frame: multi(), want: data.NewFrame("multi", data.NewField("v", nil, []int64{1, 2, 3, 4}))},
	} {
		t.Run(name, func(t *testing.T) {
			b := tc.frame
			if b == nil {
				var err error
				if b, err = tc.want.MarshalArrow(); err != nil {
					t.Fatal(err)
				}
			}
			out, code := encodeQueryResponse(&pluginv2.QueryDataResponse{Responses: map[string]*pluginv2.DataResponse{
				"A": {Frames: [][]byte{b}, Format: pluginv2.DataFrameFormat_ARROW},
				"B": {Frames: [][]byte{}, Format: pluginv2.DataFrameFormat_ARROW},
			}}, []string{"A", "B"})
			if code != 200 {
				t.Fatalf("code %d: %s", code, out)
			}
			var got queryResults
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if len(got.Results["A"].Frames) != 1 {
				t.Fatalf("A: %s", out)
			}
			want, _ := data.FrameToJSON(tc.want, data.IncludeAll)
			var g, w any
			_ = json.Unmarshal(got.Results["A"].Frames[0], &g)
			_ = json.Unmarshal(want, &w)
			if !reflect.DeepEqual(g, w) {
				t.Errorf("frame JSON:\n got %s\nwant %s", got.Results["A"].Frames[0], want)
			}
			if r := got.Results["B"]; r.Status != 200 || r.Frames == nil || len(r.Frames) != 0 {
				t.Errorf("B = %+v", r)
			}
		})
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
		r, err := compileRoute("", tc.route)
		if err != nil {
			t.Fatalf("compile %s: %v", tc.route, err)
		}
		if _, _, _, got := r.match(tc.path); got != tc.want {
			t.Errorf("%s ~ %s = %v", tc.route, tc.path, got)
		}
	}
	// The grammar is validation's (routes.ParsePath): what validation rejects is never served.
	for _, bad := range []string{"a/b", "/a/{x...}/b", "/a//b", "/a/{x", "/a/../b", "/a/"} {
		if _, err := compileRoute("", bad); err == nil {
			t.Errorf("%q should not compile", bad)
		}
	}
}

// TestCompileReportsWhatItCannotServe: a second claim on a group/version and a route outside
// the grammar are left out and reported, never dropped silently.
func TestCompileReportsWhatItCannotServe(t *testing.T) {
	bad := "/things/../x"
	regs := []routes.Registration{
		{Name: "first", PluginID: "p", PluginType: "datasource", Group: "g.grafana.app", Version: "v1",
			Services: []v0alpha1.DataPlaneServiceService{{Type: v0alpha1.DataPlaneServiceServiceTypeRoute, Path: &bad}}},
		{Name: "second", PluginID: "p", PluginType: "datasource", Group: "g.grafana.app", Version: "v1"},
	}
	tbl, problems := new(table).update(regs, nil)
	e := tbl.versions("g.grafana.app")["v1"]
	if e == nil || e.name != "first" {
		t.Fatalf("table: %+v", e)
	}
	for _, r := range e.routes {
		if r.custom {
			t.Errorf("the bad route is served: %s", r.raw)
		}
	}
	want := []string{`first: route "/things/../x": must not contain . or .. segments`, "second: g.grafana.app/v1 is already served for first"}
	if !slices.Equal(problems, want) {
		t.Errorf("problems = %q, want %q", problems, want)
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

// appendArrowBatch returns the Arrow file b (one int64 column) with a second record batch
// holding more.
func appendArrowBatch(t *testing.T, b []byte, more []int64) []byte {
	t.Helper()
	r, err := ipc.NewFileReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	first, err := r.RecordBatch(0)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(r.Schema()))
	if err != nil {
		t.Fatal(err)
	}
	bld := array.NewInt64Builder(memory.DefaultAllocator)
	bld.AppendValues(more, nil)
	col := bld.NewArray()
	second := array.NewRecordBatch(r.Schema(), []arrow.Array{col}, int64(len(more)))
	for _, rec := range []arrow.RecordBatch{first, second} {
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestEveryServiceTypeHasAHandler: each type of routes.Own and routes.Services has exactly
// one handler, registered by its own file, and no handler serves a type without a row — so a
// type added to the kind and the table is not served until its handler file exists, and a
// handler cannot outlive its row. Each takes its deadline from its row's --timeout key.
func TestEveryServiceTypeHasAHandler(t *testing.T) {
	rows := map[routes.ServiceType]bool{}
	for _, s := range routes.All() {
		rows[s.Type] = true
		h, ok := handlers[s.Type]
		switch {
		case !ok:
			t.Errorf("service type %s has no handler (handle it in its own file)", s.Type)
		case (h.serve == nil) == (h.prepare == nil):
			t.Errorf("service type %s: a handler serves itself or prepares a plugin call, exactly one", s.Type)
		case h.serve != nil && s.PluginService != "":
			t.Errorf("service type %s calls %s but its handler calls no plugin", s.Type, s.PluginService)
		}
	}
	for typ := range handlers {
		if !rows[typ] {
			t.Errorf("handler for %s, which no row of pkg/routes defines", typ)
		}
	}
	if got, want := len(catalog().list), len(routes.All()); got != want {
		t.Errorf("the catalog serves %d types, pkg/routes has %d", got, want)
	}

	var to Timeouts
	for i, key := range routes.TimeoutKeys() {
		if err := to.Set(key, time.Duration(i+1)*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	per := to.perType()
	for _, svc := range catalog().list {
		want := time.Duration(-1)
		if svc.Timeout != "" {
			want = time.Duration(slices.Index(routes.TimeoutKeys(), svc.Timeout)+1) * time.Second
		}
		if per[svc.index] != want {
			t.Errorf("%s deadline = %v, want %v (key %q)", svc.Type, per[svc.index], want, svc.Timeout)
		}
	}
	if err := to.Set("bogus", time.Second); err == nil || !strings.Contains(err.Error(), "query, resource") {
		t.Errorf("Set(bogus) = %v", err)
	}
}

// encodeQueryResponse is a whole query answer and its status, as the query handler writes
// them.
func encodeQueryResponse(resp *pluginv2.QueryDataResponse, order []string) ([]byte, int) {
	var buf bytes.Buffer
	_ = writeQueryResults(&buf, resp, order)
	return buf.Bytes(), queryStatus(resp, order)
}
