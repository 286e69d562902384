// Command gpx_example-app is an example Grafana backend app plugin: health,
// two resource routes and a counter stream. See ../README.md.
//
// Nothing may be written to stdout before go-plugin's handshake line: all
// logging goes through the SDK logger (hclog JSON on stderr).
package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/app"
	"github.com/grafana/grafana-plugin-sdk-go/backend/instancemgmt"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"
	"github.com/grafana/grafana-plugin-sdk-go/backend/resource/httpadapter"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/dataplane-aggregator/dpa/examples/plugins/internal/pluginlog"
)

const pluginID = "example-app"

func main() {
	pluginlog.Setup()
	if err := app.Manage(pluginID, newApp, app.ManageOpts{}); err != nil {
		log.DefaultLogger.Error("plugin exited with error", "error", err)
		os.Exit(1)
	}
}

// appInstance is one app configuration (per org and Updated timestamp).
type appInstance struct {
	jsonData     json.RawMessage
	secureFields []string
	resource     backend.CallResourceHandler
}

var (
	_ backend.CheckHealthHandler  = (*appInstance)(nil)
	_ backend.CallResourceHandler = (*appInstance)(nil)
	_ backend.StreamHandler       = (*appInstance)(nil)
)

func newApp(_ context.Context, s backend.AppInstanceSettings) (instancemgmt.Instance, error) {
	a := &appInstance{jsonData: s.JSONData}
	if len(a.jsonData) == 0 || !json.Valid(a.jsonData) {
		a.jsonData = json.RawMessage("{}")
	}
	for k := range s.DecryptedSecureJSONData {
		a.secureFields = append(a.secureFields, k)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /settings", a.handleSettings)
	mux.HandleFunc("/echo", handleEcho)
	a.resource = httpadapter.New(mux)
	return a, nil
}

func (a *appInstance) CheckHealth(_ context.Context, _ *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	return &backend.CheckHealthResult{Status: backend.HealthStatusOk, Message: "example-app is running"}, nil
}

func (a *appInstance) CallResource(ctx context.Context, req *backend.CallResourceRequest, sender backend.CallResourceResponseSender) error {
	return a.resource.CallResource(ctx, req, sender)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// handleSettings returns the app's jsonData and the names (never the
// values) of its secure settings.
func (a *appInstance) handleSettings(w http.ResponseWriter, _ *http.Request) {
	secure := make(map[string]bool, len(a.secureFields))
	for _, k := range a.secureFields {
		secure[k] = true
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"jsonData":         a.jsonData,
		"secureJsonFields": secure,
	})
}

// handleEcho echoes the request and the caller's identity.
func handleEcho(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Body != nil { // the SDK passes no body for body-less calls
		body, _ = io.ReadAll(r.Body)
	}
	pc := backend.PluginConfigFromContext(r.Context())
	resp := map[string]any{
		"method":   r.Method,
		"path":     r.URL.Path,
		"query":    r.URL.Query(),
		"headers":  r.Header,
		"body":     string(body),
		"orgId":    pc.OrgID,
		"pluginId": pc.PluginID,
	}
	if pc.User != nil {
		resp["user"] = map[string]string{"login": pc.User.Login, "role": pc.User.Role}
	}
	writeJSON(w, http.StatusOK, resp)
}

// SubscribeStream allows the "counter" and "counter/<duration>" channels.
func (a *appInstance) SubscribeStream(_ context.Context, req *backend.SubscribeStreamRequest) (*backend.SubscribeStreamResponse, error) {
	if req.Path == "counter" || strings.HasPrefix(req.Path, "counter/") {
		return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusOK}, nil
	}
	return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusNotFound}, nil
}

// RunStream sends an increasing counter every interval (default 500ms).
func (a *appInstance) RunStream(ctx context.Context, req *backend.RunStreamRequest, sender *backend.StreamSender) error {
	interval := 500 * time.Millisecond
	if _, rest, ok := strings.Cut(req.Path, "/"); ok {
		if d, err := time.ParseDuration(rest); err == nil && d >= 10*time.Millisecond {
			interval = d
		}
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var n int64
	for {
		select {
		case <-ctx.Done():
			log.DefaultLogger.Info("counter stream stopped", "path", req.Path, "sent", n)
			return nil
		case t := <-ticker.C:
			n++
			frame := data.NewFrame("counter",
				data.NewField("time", nil, []time.Time{t.UTC()}),
				data.NewField("count", nil, []int64{n}),
			)
			if err := sender.SendFrame(frame, data.IncludeAll); err != nil {
				return err
			}
		}
	}
}

// PublishStream: clients may not publish to the counter.
func (a *appInstance) PublishStream(_ context.Context, _ *backend.PublishStreamRequest) (*backend.PublishStreamResponse, error) {
	return &backend.PublishStreamResponse{Status: backend.PublishStreamStatusPermissionDenied}, nil
}
