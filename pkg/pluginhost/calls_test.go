package pluginhost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
)

func TestDiscovery(t *testing.T) {
	h, _ := newTestHost(t, Options{})

	got := map[string]PluginInfo{}
	for _, p := range h.Plugins() {
		got[p.ID] = p
	}
	if len(got) != 3 {
		t.Fatalf("Plugins() = %+v, want example-app, example-datasource, example-panel", h.Plugins())
	}
	if ds := got[dsID]; ds.Type != "datasource" || !ds.Backend || ds.Executable != "gpx_example-datasource" || ds.Name != "Example Datasource" || ds.Version != "1.0.0" {
		t.Errorf("datasource info = %+v", ds)
	}
	if app := got[appID]; app.Type != "app" || !app.Backend {
		t.Errorf("app info = %+v", app)
	}
	if panel := got["example-panel"]; panel.Type != "panel" || panel.Backend {
		t.Errorf("panel info = %+v", panel)
	}

	if info, ok := h.Info(dsID); !ok || info.Dir == "" || info.Type != "datasource" {
		t.Errorf("Info(%s) = %+v, %v", dsID, info, ok)
	}
	if _, ok := h.Info("nope"); ok {
		t.Error("Info(nope) found something")
	}
	if v := AddressEnvVar(dsID); v != "GF_PLUGIN_GRPC_ADDRESS_EXAMPLE_DATASOURCE" {
		t.Errorf("AddressEnvVar = %q", v)
	}

	problems := h.Problems()
	if len(problems) != 1 || !strings.HasSuffix(problems[0].Path, "broken/plugin.json") || !strings.Contains(problems[0].Error, "invalid JSON") {
		t.Errorf("Problems() = %+v, want the broken plugin.json", problems)
	}

	if st := h.State("example-panel"); !st.Known || st.Backend || st.Running || st.Type != "panel" {
		t.Errorf("panel state = %+v", st)
	}
	if st := h.State("nope"); st.Known {
		t.Errorf("unknown plugin state = %+v", st)
	}

	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Get(context.Background(), "nope"); !errors.Is(err, backendplugin.ErrNotFound) {
		t.Errorf("Get(nope) = %v, want backendplugin.ErrNotFound", err)
	}
	if _, err := h.Get(context.Background(), "example-panel"); !errors.Is(err, ErrNoBackend) {
		t.Errorf("Get(example-panel) = %v, want ErrNoBackend", err)
	}
}

func TestGetBeforeStart(t *testing.T) {
	h, _ := newTestHost(t, Options{})
	_, err := h.Get(context.Background(), dsID)
	var ue *backendplugin.UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, ErrNotStarted) || ue.RetryAfter <= 0 {
		t.Fatalf("Get before Start = %v, want backendplugin.UnavailableError(ErrNotStarted)", err)
	}
	if st := h.State(dsID); st.Phase != PhaseIdle || st.Running {
		t.Fatalf("state before Start = %+v", st)
	}
}

// frameJSON is the part of the data frame JSON the tests look at.
type frameJSON struct {
	Schema struct {
		Name   string `json:"name"`
		RefID  string `json:"refId"`
		Fields []struct {
			Name     string `json:"name"`
			Type     string `json:"type"`
			TypeInfo struct {
				Frame    string `json:"frame"`
				Nullable bool   `json:"nullable"`
			} `json:"typeInfo"`
		} `json:"fields"`
	} `json:"schema"`
	Data struct {
		Values [][]any `json:"values"`
	} `json:"data"`
}

func TestDatasourceQueryData(t *testing.T) {
	h, _ := newTestHost(t, Options{})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := waitGet(t, h, dsID, 20*time.Second)
	if p.ID != dsID || p.Type != "datasource" {
		t.Fatalf("plugin = %s/%s", p.ID, p.Type)
	}

	now := time.Now()
	tr := &pluginv2.TimeRange{FromEpochMS: now.Add(-time.Hour).UnixMilli(), ToEpochMS: now.UnixMilli()}
	req := &pluginv2.QueryDataRequest{
		PluginContext: dsContext("ds-query", 1, `{}`),
		Format:        pluginv2.DataFrameFormat_JSON,
		Queries: []*pluginv2.DataQuery{
			{RefId: "A", Json: []byte(`{"scenario":"table","points":5}`), TimeRange: tr},
			{RefId: "B", Json: []byte(`{"scenario":"error","status":418,"message":"teapot says no"}`), TimeRange: tr},
			{RefId: "C", Json: []byte(`{"scenario":"random_walk","points":20}`), TimeRange: tr},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := p.QueryData(ctx, req)
	if err != nil {
		t.Fatalf("QueryData: %v", err)
	}

	a := resp.Responses["A"]
	if a == nil || a.Error != "" || len(a.Frames) != 1 {
		t.Fatalf("response A = %+v", a)
	}
	if a.Format != pluginv2.DataFrameFormat_JSON {
		t.Fatalf("response A format = %v: the plugin did not honour the JSON format", a.Format)
	}
	var f frameJSON
	if err := json.Unmarshal(a.Frames[0], &f); err != nil {
		t.Fatalf("frame JSON: %v\n%s", err, a.Frames[0])
	}
	wantTypes := map[string]string{"time": "time", "float": "number", "int": "number", "string": "string", "bool": "boolean", "nullable": "number"}
	if f.Schema.RefID != "A" || len(f.Schema.Fields) != len(wantTypes) {
		t.Fatalf("frame schema = %+v", f.Schema)
	}
	for _, fld := range f.Schema.Fields {
		if wantTypes[fld.Name] != fld.Type {
			t.Errorf("field %s type %s, want %s", fld.Name, fld.Type, wantTypes[fld.Name])
		}
		if fld.Name == "nullable" && !fld.TypeInfo.Nullable {
			t.Errorf("field nullable is not nullable: %+v", fld.TypeInfo)
		}
		if fld.Name == "int" && fld.TypeInfo.Frame != "int64" {
			t.Errorf("field int frame type %q", fld.TypeInfo.Frame)
		}
	}
	if len(f.Data.Values) != 6 || len(f.Data.Values[0]) != 5 {
		t.Fatalf("frame values = %v", f.Data.Values)
	}
	if nulls := f.Data.Values[5]; nulls[2] != nil || nulls[0] == nil {
		t.Errorf("nullable values = %v, want every third null", nulls)
	}

	b := resp.Responses["B"]
	if b == nil || b.Status != 418 || b.Error != "teapot says no" || len(b.Frames) != 0 {
		t.Fatalf("response B = %+v, want status 418 with the error message", b)
	}

	// The default format is Arrow.
	req.Format = pluginv2.DataFrameFormat_ARROW
	req.Queries = req.Queries[2:]
	resp, err = p.QueryData(ctx, req)
	if err != nil {
		t.Fatalf("QueryData arrow: %v", err)
	}
	c := resp.Responses["C"]
	if c == nil || c.Format != pluginv2.DataFrameFormat_ARROW || len(c.Frames) != 1 {
		t.Fatalf("response C = %+v", c)
	}
	frame, err := data.UnmarshalArrowFrame(c.Frames[0])
	if err != nil {
		t.Fatalf("arrow frame: %v", err)
	}
	if frame.Name != "random_walk" || frame.Rows() != 20 || len(frame.Fields) != 2 {
		t.Fatalf("random walk frame: name %q rows %d fields %d", frame.Name, frame.Rows(), len(frame.Fields))
	}

	// CollectMetrics: the plugin counts queries per scenario.
	m, err := p.CollectMetrics(ctx, &pluginv2.CollectMetricsRequest{PluginContext: req.PluginContext})
	if err != nil {
		t.Fatalf("CollectMetrics: %v", err)
	}
	text := string(m.GetMetrics().GetPrometheus())
	for _, want := range []string{
		`example_datasource_queries_total{scenario="table"} 1`,
		`example_datasource_queries_total{scenario="random_walk"} 2`,
		`example_datasource_queries_total{scenario="error"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestDatasourceHealth(t *testing.T) {
	h, _ := newTestHost(t, Options{})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := waitGet(t, h, dsID, 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ok, err := p.CheckHealth(ctx, &pluginv2.CheckHealthRequest{PluginContext: dsContext("ds-health", 1, `{}`)})
	if err != nil {
		t.Fatalf("CheckHealth: %v", err)
	}
	if ok.Status != pluginv2.CheckHealthResponse_OK || !strings.Contains(ok.Message, "http://backend.example:9090") {
		t.Errorf("healthy = %v %q", ok.Status, ok.Message)
	}
	// Same UID with a newer Updated: the SDK creates a new instance.
	bad, err := p.CheckHealth(ctx, &pluginv2.CheckHealthRequest{PluginContext: dsContext("ds-health", 2, `{"failHealth":true}`)})
	if err != nil {
		t.Fatalf("CheckHealth: %v", err)
	}
	if bad.Status != pluginv2.CheckHealthResponse_ERROR || !strings.Contains(bad.Message, "http://backend.example:9090") {
		t.Errorf("failing = %v %q", bad.Status, bad.Message)
	}
}

func TestDatasourceResources(t *testing.T) {
	t.Setenv("DPA_SECRET_TEST", "xyz") // must not reach the plugin
	h, _ := newTestHost(t, Options{
		GrafanaVersion: "11.6.1",
		Env:            map[string]string{"GF_PLUGIN_EXAMPLE_FLAG": "on"},
	})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := waitGet(t, h, dsID, 20*time.Second)
	pc := dsContext("ds-res", 1, `{}`)

	t.Run("echo", func(t *testing.T) {
		res := callResource(t, p, pc, http.MethodPost, "echo", "x=1&x=2", []byte("hello plugin"))
		if res.code != 200 {
			t.Fatalf("code %d: %s", res.code, res.body)
		}
		var echo struct {
			Method  string              `json:"method"`
			Path    string              `json:"path"`
			Query   map[string][]string `json:"query"`
			Headers map[string][]string `json:"headers"`
			Body    string              `json:"body"`
			OrgID   int64               `json:"orgId"`
			User    struct {
				Login string `json:"login"`
			} `json:"user"`
			Datasource struct {
				UID              string   `json:"uid"`
				SecureJSONFields []string `json:"secureJsonFields"`
			} `json:"datasource"`
		}
		if err := json.Unmarshal(res.body, &echo); err != nil {
			t.Fatalf("echo JSON: %v\n%s", err, res.body)
		}
		if echo.Method != "POST" || echo.Path != "/echo" || strings.Join(echo.Query["x"], ",") != "1,2" || echo.Body != "hello plugin" {
			t.Errorf("echo = %+v", echo)
		}
		if strings.Join(echo.Headers["X-Test"], ",") != "a,b" {
			t.Errorf("echo headers = %v", echo.Headers)
		}
		if echo.OrgID != 1 || echo.User.Login != "admin" || echo.Datasource.UID != "ds-res" {
			t.Errorf("echo context = %+v", echo)
		}
		if len(echo.Datasource.SecureJSONFields) != 1 || echo.Datasource.SecureJSONFields[0] != "apiKey" {
			t.Errorf("secure field names = %v", echo.Datasource.SecureJSONFields)
		}
		if bytes.Contains(res.body, []byte("s3cret-api-key")) {
			t.Errorf("echo leaked secure JSON data: %s", res.body)
		}
	})

	t.Run("stream", func(t *testing.T) {
		res := callResource(t, p, pc, http.MethodGet, "stream", "chunks=4&delay=40ms", nil)
		if res.code != 200 {
			t.Fatalf("code %d", res.code)
		}
		if got := string(res.body); got != "chunk 0\nchunk 1\nchunk 2\nchunk 3\n" {
			t.Fatalf("body %q", got)
		}
		var lines int
		for _, m := range res.messages {
			if len(m) > 0 {
				lines++
				if bytes.Count(m, []byte("\n")) != 1 {
					t.Errorf("message %q holds more than one chunk: not streamed", m)
				}
			}
		}
		if lines != 4 {
			t.Errorf("%d messages with a chunk, want 4", lines)
		}
		if spread := res.arrived[len(res.arrived)-1].Sub(res.arrived[0]); spread < 100*time.Millisecond {
			t.Errorf("chunks arrived within %s: not streamed", spread)
		}
	})

	t.Run("status", func(t *testing.T) {
		if res := callResource(t, p, pc, http.MethodGet, "status/418", "", nil); res.code != 418 {
			t.Errorf("code %d", res.code)
		}
		if res := callResource(t, p, pc, http.MethodGet, "status/503", "", nil); res.code != 503 {
			t.Errorf("code %d", res.code)
		}
	})

	t.Run("items", func(t *testing.T) {
		res := callResource(t, p, pc, http.MethodDelete, "items/abc-123", "", nil)
		var item map[string]string
		if err := json.Unmarshal(res.body, &item); err != nil || item["id"] != "abc-123" || item["path"] != "/items/abc-123" || item["method"] != "DELETE" {
			t.Errorf("item = %v (%v)", item, err)
		}
	})

	t.Run("clean env", func(t *testing.T) {
		env := func(name string) (bool, string) {
			res := callResource(t, p, pc, http.MethodGet, "env", "name="+name, nil)
			var v struct {
				Set   bool   `json:"set"`
				Value string `json:"value"`
			}
			if err := json.Unmarshal(res.body, &v); err != nil {
				t.Fatalf("env JSON: %v", err)
			}
			return v.Set, v.Value
		}
		if set, _ := env("DPA_SECRET_TEST"); set {
			t.Error("DPA_SECRET_TEST leaked into the plugin environment")
		}
		if set, v := env("GF_VERSION"); !set || v != "11.6.1" {
			t.Errorf("GF_VERSION = %v %q", set, v)
		}
		if set, v := env("GF_EDITION"); !set || v != "oss" {
			t.Errorf("GF_EDITION = %v %q", set, v)
		}
		if set, v := env("PLUGIN_UNIX_SOCKET_DIR"); !set || v != h.SocketDir() {
			t.Errorf("PLUGIN_UNIX_SOCKET_DIR = %v %q, want %q", set, v, h.SocketDir())
		}
		if set, _ := env("GF_PLUGIN_EXAMPLE_FLAG"); !set {
			t.Error("Options.Env not passed")
		}
		if set, _ := env("PATH"); !set {
			t.Error("PATH not passed")
		}
	})
}

func TestDatasourceStreams(t *testing.T) {
	h, logs := newTestHost(t, Options{})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := waitGet(t, h, dsID, 20*time.Second)
	pc := dsContext("ds-stream", 1, `{}`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for path, want := range map[string]pluginv2.SubscribeStreamResponse_Status{
		"ticks":       pluginv2.SubscribeStreamResponse_OK,
		"ticks/50ms":  pluginv2.SubscribeStreamResponse_OK,
		"missing":     pluginv2.SubscribeStreamResponse_NOT_FOUND,
		"forbidden":   pluginv2.SubscribeStreamResponse_PERMISSION_DENIED,
		"other/thing": pluginv2.SubscribeStreamResponse_NOT_FOUND,
	} {
		resp, err := p.SubscribeStream(ctx, &pluginv2.SubscribeStreamRequest{PluginContext: pc, Path: path})
		if err != nil {
			t.Fatalf("SubscribeStream %s: %v", path, err)
		}
		if resp.Status != want {
			t.Errorf("SubscribeStream %s = %v, want %v", path, resp.Status, want)
		}
	}

	for path, want := range map[string]pluginv2.PublishStreamResponse_Status{
		"ticks": pluginv2.PublishStreamResponse_OK,
		"other": pluginv2.PublishStreamResponse_PERMISSION_DENIED,
	} {
		resp, err := p.PublishStream(ctx, &pluginv2.PublishStreamRequest{PluginContext: pc, Path: path, Data: []byte(`{"x":1}`)})
		if err != nil {
			t.Fatalf("PublishStream %s: %v", path, err)
		}
		if resp.Status != want {
			t.Errorf("PublishStream %s = %v, want %v", path, resp.Status, want)
		}
	}

	runCtx, stopRun := context.WithCancel(ctx)
	stream, err := p.RunStream(runCtx, &pluginv2.RunStreamRequest{PluginContext: pc, Path: "ticks/20ms"})
	if err != nil {
		t.Fatalf("RunStream: %v", err)
	}
	for i := int64(1); i <= 3; i++ {
		pkt, err := stream.Recv()
		if err != nil {
			t.Fatalf("RunStream recv %d: %v", i, err)
		}
		var f frameJSON
		if err := json.Unmarshal(pkt.Data, &f); err != nil {
			t.Fatalf("packet %d: %v\n%s", i, err, pkt.Data)
		}
		if f.Schema.Name != "ticks" || len(f.Data.Values) != 2 || f.Data.Values[1][0] != float64(i) {
			t.Fatalf("packet %d = %s", i, pkt.Data)
		}
	}
	stopRun()
	// The plugin logs the cancellation; its stderr reaches our logger
	// with plugin=<id>.
	waitFor(t, 5*time.Second, "RunStream cancellation log", func() bool {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "RunStream context cancelled") && strings.Contains(line, "plugin="+dsID) && strings.Contains(line, "path=ticks/20ms") {
				return true
			}
		}
		return false
	})
}

func TestDatasourceAdmissionAndConversion(t *testing.T) {
	h, _ := newTestHost(t, Options{})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := waitGet(t, h, dsID, 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kind := &pluginv2.GroupVersionKind{Group: "example.datasource.grafana.app", Version: "v1", Kind: "Thing"}

	deny, err := p.ValidateAdmission(ctx, &pluginv2.AdmissionRequest{
		PluginContext: &pluginv2.PluginContext{PluginId: dsID}, Kind: kind, Operation: pluginv2.AdmissionRequest_CREATE,
		ObjectBytes: []byte(`{"metadata":{"name":"a"},"spec":{"deny":true}}`),
	})
	if err != nil {
		t.Fatalf("ValidateAdmission: %v", err)
	}
	if deny.Allowed || deny.Result == nil || deny.Result.Code != 400 || !strings.Contains(deny.Result.Message, "spec.deny") {
		t.Errorf("deny = %+v", deny)
	}
	allow, err := p.ValidateAdmission(ctx, &pluginv2.AdmissionRequest{
		PluginContext: &pluginv2.PluginContext{PluginId: dsID}, Kind: kind, Operation: pluginv2.AdmissionRequest_UPDATE,
		ObjectBytes: []byte(`{"metadata":{"name":"a"},"spec":{"deny":false}}`),
	})
	if err != nil || !allow.Allowed {
		t.Errorf("allow = %+v, %v", allow, err)
	}

	mut, err := p.MutateAdmission(ctx, &pluginv2.AdmissionRequest{
		PluginContext: &pluginv2.PluginContext{PluginId: dsID}, Kind: kind, Operation: pluginv2.AdmissionRequest_CREATE,
		ObjectBytes: []byte(`{"metadata":{"name":"a","labels":{"keep":"me"}},"spec":{"host":"h"}}`),
	})
	if err != nil || !mut.Allowed {
		t.Fatalf("MutateAdmission = %+v, %v", mut, err)
	}
	var obj struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(mut.ObjectBytes, &obj); err != nil || obj.Metadata.Labels["mutated-by"] != dsID || obj.Metadata.Labels["keep"] != "me" {
		t.Errorf("mutated object = %s (%v)", mut.ObjectBytes, err)
	}

	conv, err := p.ConvertObjects(ctx, &pluginv2.ConversionRequest{
		PluginContext: &pluginv2.PluginContext{PluginId: dsID},
		Uid:           "req-1",
		TargetVersion: &pluginv2.GroupVersion{Group: "example.datasource.grafana.app", Version: "v2"},
		Objects:       []*pluginv2.RawObject{{Raw: []byte(`{"apiVersion":"example.datasource.grafana.app/v1","kind":"Thing","spec":{"host":"db:5432"}}`), ContentType: "application/json"}},
	})
	if err != nil {
		t.Fatalf("ConvertObjects: %v", err)
	}
	if conv.Uid != "req-1" || conv.Result == nil || conv.Result.Status != "Success" || len(conv.Objects) != 1 {
		t.Fatalf("conversion = %+v", conv)
	}
	var v2 struct {
		APIVersion string            `json:"apiVersion"`
		Spec       map[string]string `json:"spec"`
	}
	if err := json.Unmarshal(conv.Objects[0].Raw, &v2); err != nil || v2.APIVersion != "example.datasource.grafana.app/v2" || v2.Spec["endpoint"] != "db:5432" || v2.Spec["host"] != "" {
		t.Errorf("converted = %s (%v)", conv.Objects[0].Raw, err)
	}

	bad, err := p.ConvertObjects(ctx, &pluginv2.ConversionRequest{
		PluginContext: &pluginv2.PluginContext{PluginId: dsID},
		TargetVersion: &pluginv2.GroupVersion{Group: "example.datasource.grafana.app", Version: "v9"},
		Objects:       []*pluginv2.RawObject{{Raw: []byte(`{"apiVersion":"example.datasource.grafana.app/v1"}`)}},
	})
	if err != nil {
		t.Fatalf("ConvertObjects v9: %v", err)
	}
	if bad.Result == nil || bad.Result.Status != "Failure" || !strings.Contains(bad.Result.Message, "v9") || len(bad.Objects) != 0 {
		t.Errorf("unknown version conversion = %+v", bad)
	}
}

func TestApp(t *testing.T) {
	h, _ := newTestHost(t, Options{})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := waitGet(t, h, appID, 20*time.Second)
	if p.Type != "app" {
		t.Fatalf("type %q", p.Type)
	}
	pc := &pluginv2.PluginContext{
		OrgId: 3, PluginId: appID,
		User: &pluginv2.User{Login: "viewer", Role: "Viewer"},
		AppInstanceSettings: &pluginv2.AppInstanceSettings{
			JsonData:                []byte(`{"greeting":"hi","limit":3}`),
			DecryptedSecureJsonData: map[string]string{"token": "tok-very-secret"},
			LastUpdatedMS:           1,
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	health, err := p.CheckHealth(ctx, &pluginv2.CheckHealthRequest{PluginContext: pc})
	if err != nil || health.Status != pluginv2.CheckHealthResponse_OK {
		t.Fatalf("CheckHealth = %+v, %v", health, err)
	}

	res := callResource(t, p, pc, http.MethodGet, "settings", "", nil)
	var settings struct {
		JSONData     map[string]any  `json:"jsonData"`
		SecureFields map[string]bool `json:"secureJsonFields"`
	}
	if err := json.Unmarshal(res.body, &settings); err != nil {
		t.Fatalf("settings: %v\n%s", err, res.body)
	}
	if res.code != 200 || settings.JSONData["greeting"] != "hi" || !settings.SecureFields["token"] {
		t.Errorf("settings = %d %s", res.code, res.body)
	}
	if bytes.Contains(res.body, []byte("tok-very-secret")) {
		t.Errorf("settings leaked secure JSON data: %s", res.body)
	}

	echo := callResource(t, p, pc, http.MethodPut, "echo", "a=b", []byte("x"))
	if echo.code != 200 || !bytes.Contains(echo.body, []byte(`"login":"viewer"`)) || !bytes.Contains(echo.body, []byte(`"method":"PUT"`)) {
		t.Errorf("echo = %d %s", echo.code, echo.body)
	}

	sub, err := p.SubscribeStream(ctx, &pluginv2.SubscribeStreamRequest{PluginContext: pc, Path: "counter"})
	if err != nil || sub.Status != pluginv2.SubscribeStreamResponse_OK {
		t.Fatalf("SubscribeStream = %+v, %v", sub, err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	stream, err := p.RunStream(runCtx, &pluginv2.RunStreamRequest{PluginContext: pc, Path: "counter/20ms"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		pkt, err := stream.Recv()
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		var f frameJSON
		if err := json.Unmarshal(pkt.Data, &f); err != nil || f.Schema.Name != "counter" || f.Data.Values[1][0] != float64(i) {
			t.Fatalf("packet %d = %s (%v)", i, pkt.Data, err)
		}
	}
}

// TestTracing checks that the gRPC client creates a child span of the
// caller's span (otelgrpc stats handler), i.e. trace context propagates.
func TestTracing(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := trace.NewTracerProvider(trace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	h, _ := newTestHost(t, Options{TracerProvider: tp})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := waitGet(t, h, dsID, 20*time.Second)

	ctx, parent := tp.Tracer("test").Start(context.Background(), "dataplane request")
	if _, err := p.CheckHealth(ctx, &pluginv2.CheckHealthRequest{PluginContext: dsContext("ds-trace", 1, `{}`)}); err != nil {
		t.Fatal(err)
	}
	parent.End()

	var found bool
	for _, s := range rec.Ended() {
		if s.SpanKind() == oteltrace.SpanKindClient && strings.Contains(s.Name(), "CheckHealth") {
			found = true
			if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
				t.Errorf("client span %q is not a child of the caller's span", s.Name())
			}
		}
	}
	if !found {
		var names []string
		for _, s := range rec.Ended() {
			names = append(names, s.Name())
		}
		t.Fatalf("no gRPC client span for CheckHealth; spans: %v", names)
	}
}
