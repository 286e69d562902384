// Package testplugin is the Grafana backend plugin the dataplane tests call (written with
// the plugin SDK's handler interfaces). It echoes what it receives so tests can check the
// translation. The tests serve it in-process through the SDK's own gRPC adapters
// (backend.GRPCServeOpts); testdata/testplugin serves it as a real plugin process.
package testplugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/prometheus/client_golang/prometheus"
)

var queries = prometheus.NewCounter(prometheus.CounterOpts{Name: "testplugin_queries_total", Help: "queries"})

func init() { prometheus.MustRegister(queries) }

// Plugin implements every SDK handler. MarkerDir, when set, receives <channel>.started and
// <channel>.cancelled files from RunStream.
type Plugin struct{ MarkerDir string }

// ServeOpts is the plugin's backend.ServeOpts.
func ServeOpts(markerDir string) backend.ServeOpts {
	p := Plugin{MarkerDir: markerDir}
	return backend.ServeOpts{
		CheckHealthHandler:  p,
		CallResourceHandler: p,
		QueryDataHandler:    p,
		StreamHandler:       p,
		AdmissionHandler:    p,
		ConversionHandler:   p,
	}
}

type pctxEcho struct {
	PluginID  string            `json:"pluginId"`
	OrgID     int64             `json:"orgId"`
	Namespace string            `json:"namespace"`
	User      string            `json:"user"`
	Email     string            `json:"email"`
	DSUID     string            `json:"dsUid"`
	DSJSON    json.RawMessage   `json:"dsJsonData,omitempty"`
	DSUpdated int64             `json:"dsUpdated"`
	AppJSON   json.RawMessage   `json:"appJsonData,omitempty"`
	HasSecret bool              `json:"hasSecret"`
	SecretKey []string          `json:"secretKeys"`
	Grafana   map[string]string `json:"grafanaConfig,omitempty"`
}

func echoContext(pc backend.PluginContext) pctxEcho {
	e := pctxEcho{PluginID: pc.PluginID, OrgID: pc.OrgID, Namespace: pc.Namespace}
	if pc.User != nil {
		e.User, e.Email = pc.User.Login, pc.User.Email
	}
	if ds := pc.DataSourceInstanceSettings; ds != nil {
		e.DSUID, e.DSJSON, e.DSUpdated = ds.UID, ds.JSONData, ds.Updated.UnixMilli()
		e.HasSecret = len(ds.DecryptedSecureJSONData) > 0
		for k := range ds.DecryptedSecureJSONData {
			e.SecretKey = append(e.SecretKey, k)
		}
	}
	if app := pc.AppInstanceSettings; app != nil {
		e.AppJSON = app.JSONData
		e.HasSecret = e.HasSecret || len(app.DecryptedSecureJSONData) > 0
	}
	return e
}

func (p Plugin) QueryData(ctx context.Context, req *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
	queries.Inc()
	resp := backend.NewQueryDataResponse()
	for _, q := range req.Queries {
		var model struct {
			Scenario string `json:"scenario"`
			SleepMS  int    `json:"sleepMs"`
		}
		_ = json.Unmarshal(q.JSON, &model)
		switch model.Scenario {
		case "error":
			resp.Responses[q.RefID] = backend.ErrDataResponse(backend.StatusBadRequest, "bad query "+q.RefID)
			continue
		case "sleep":
			select {
			case <-time.After(time.Duration(model.SleepMS) * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		hdr, _ := json.Marshal(req.Headers)
		pc, _ := json.Marshal(echoContext(req.PluginContext))
		f := data.NewFrame("echo",
			data.NewField("refId", nil, []string{q.RefID}),
			data.NewField("maxDataPoints", nil, []int64{q.MaxDataPoints}),
			data.NewField("intervalMs", nil, []int64{q.Interval.Milliseconds()}),
			data.NewField("from", nil, []int64{q.TimeRange.From.UnixMilli()}),
			data.NewField("to", nil, []int64{q.TimeRange.To.UnixMilli()}),
			data.NewField("query", nil, []string{string(q.JSON)}),
			data.NewField("headers", nil, []string{string(hdr)}),
			data.NewField("pluginContext", nil, []string{string(pc)}),
		)
		resp.Responses[q.RefID] = backend.DataResponse{Frames: data.Frames{f}}
	}
	return resp, nil
}

func (p Plugin) CheckHealth(_ context.Context, req *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	ds := req.PluginContext.DataSourceInstanceSettings
	if ds != nil && strings.Contains(string(ds.JSONData), `"unhealthy":true`) {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: "not ok"}, nil
	}
	details, _ := json.Marshal(echoContext(req.PluginContext))
	return &backend.CheckHealthResult{Status: backend.HealthStatusOk, Message: "ok", JSONDetails: details}, nil
}

func (p Plugin) CallResource(ctx context.Context, req *backend.CallResourceRequest, sender backend.CallResourceResponseSender) error {
	switch {
	case req.Path == "chunks":
		if err := sender.Send(&backend.CallResourceResponse{Status: 200, Headers: map[string][]string{"Content-Type": {"text/plain"}}, Body: []byte("chunk0\n")}); err != nil {
			return err
		}
		for i := 1; i < 3; i++ {
			time.Sleep(300 * time.Millisecond)
			if err := sender.Send(&backend.CallResourceResponse{Body: []byte(fmt.Sprintf("chunk%d\n", i))}); err != nil {
				return err
			}
		}
		return nil
	case req.Path == "teapot":
		return sender.Send(&backend.CallResourceResponse{Status: 418, Headers: map[string][]string{
			"X-Teapot": {"yes"}, "Set-Cookie": {"session=plugin"}, "Connection": {"close"},
		}, Body: []byte("short and stout")})
	case req.Path == "sleep":
		select {
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	case req.Path == "fail":
		return errors.New("resource exploded")
	}
	body, _ := json.Marshal(map[string]any{
		"path": req.Path, "method": req.Method, "url": req.URL, "headers": req.Headers,
		"body": string(req.Body), "pluginContext": echoContext(req.PluginContext),
	})
	return sender.Send(&backend.CallResourceResponse{Status: 200, Headers: map[string][]string{"Content-Type": {"application/json"}}, Body: body})
}

func (p Plugin) SubscribeStream(_ context.Context, req *backend.SubscribeStreamRequest) (*backend.SubscribeStreamResponse, error) {
	switch req.Path {
	case "deny":
		return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusPermissionDenied}, nil
	case "missing":
		return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusNotFound}, nil
	}
	initial, _ := backend.NewInitialData(json.RawMessage(fmt.Sprintf(`{"hello":%q}`, req.Path)))
	return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusOK, InitialData: initial}, nil
}

// RunStream sends {"n": <i>} every 50ms until ctx is done. Channels "fail…" and "end…"
// send two such messages and then return an error ("fail") or end normally ("end").
func (p Plugin) RunStream(ctx context.Context, req *backend.RunStreamRequest, sender *backend.StreamSender) error {
	if fail, end := strings.HasPrefix(req.Path, "fail"), strings.HasPrefix(req.Path, "end"); fail || end {
		for i := range 2 {
			if err := sender.SendJSON([]byte(fmt.Sprintf(`{"n": %d}`, i))); err != nil {
				return err
			}
		}
		if fail {
			return errors.New("the stream broke after 2 messages")
		}
		return nil
	}
	marker := p.MarkerDir
	name := strings.ReplaceAll(req.Path, "/", "_")
	if marker != "" {
		_ = os.WriteFile(filepath.Join(marker, name+".started"), nil, 0o600)
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			if marker != "" {
				_ = os.WriteFile(filepath.Join(marker, name+".cancelled"), nil, 0o600)
			}
			return nil
		case <-t.C:
			if err := sender.SendJSON([]byte(fmt.Sprintf(`{"n": %d}`, i))); err != nil {
				return err
			}
		}
	}
}

func (p Plugin) PublishStream(_ context.Context, req *backend.PublishStreamRequest) (*backend.PublishStreamResponse, error) {
	if req.Path == "deny" {
		return &backend.PublishStreamResponse{Status: backend.PublishStreamStatusPermissionDenied}, nil
	}
	return &backend.PublishStreamResponse{Status: backend.PublishStreamStatusOK,
		Data: json.RawMessage(fmt.Sprintf(`{"published":%s}`, req.Data))}, nil
}

type object struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       map[string]any `json:"spec,omitempty"`
}

func (p Plugin) ValidateAdmission(_ context.Context, req *backend.AdmissionRequest) (*backend.ValidationResponse, error) {
	var o object
	if err := json.Unmarshal(req.ObjectBytes, &o); err != nil && req.Operation != backend.AdmissionRequestDelete {
		return nil, err
	}
	if labels, _ := o.Metadata["labels"].(map[string]any); labels["deny"] != nil {
		return &backend.ValidationResponse{Allowed: false, Result: &backend.StatusResult{
			Status: "Failure", Message: "label deny is not allowed (user " + userOf(req.PluginContext) + ")", Reason: "Invalid", Code: 422}}, nil
	}
	return &backend.ValidationResponse{Allowed: true, Warnings: []string{"op=" + req.Operation.String() + " user=" + userOf(req.PluginContext)}}, nil
}

func userOf(pc backend.PluginContext) string {
	if pc.User == nil {
		return ""
	}
	return pc.User.Login
}

func (p Plugin) MutateAdmission(_ context.Context, req *backend.AdmissionRequest) (*backend.MutationResponse, error) {
	var o object
	if err := json.Unmarshal(req.ObjectBytes, &o); err != nil {
		return nil, err
	}
	labels, _ := o.Metadata["labels"].(map[string]any)
	if labels == nil {
		labels = map[string]any{}
	}
	labels["mutated"] = "yes"
	o.Metadata["labels"] = labels
	if o.Spec == nil {
		o.Spec = map[string]any{}
	}
	o.Spec["kind"] = req.Kind.Kind
	b, _ := json.Marshal(o)
	return &backend.MutationResponse{Allowed: true, ObjectBytes: b}, nil
}

func (p Plugin) ConvertObjects(_ context.Context, req *backend.ConversionRequest) (*backend.ConversionResponse, error) {
	resp := &backend.ConversionResponse{UID: req.UID}
	for _, raw := range req.Objects {
		var o map[string]any
		if err := json.Unmarshal(raw.Raw, &o); err != nil {
			return nil, err
		}
		if o["fail"] != nil {
			resp.Result = &backend.StatusResult{Status: "Failure", Message: "cannot convert objects marked fail"}
			return resp, nil
		}
		o["apiVersion"] = req.TargetVersion.Group + "/" + req.TargetVersion.Version
		b, _ := json.Marshal(o)
		resp.Objects = append(resp.Objects, backend.RawObject{Raw: b, ContentType: "application/json"})
	}
	resp.Result = &backend.StatusResult{Status: "Success"}
	return resp, nil
}
