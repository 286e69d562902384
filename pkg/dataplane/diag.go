package dataplane

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
)

// healthResult is the body of a health call (HTTP 200 whenever the plugin answered; "code"
// carries 200 for OK and 400 otherwise, as Grafana's health subresource does).
type healthResult struct {
	Kind       string          `json:"kind"`
	APIVersion string          `json:"apiVersion"`
	Status     string          `json:"status"`
	Message    string          `json:"message,omitempty"`
	Details    json.RawMessage `json:"details,omitempty"`
	Code       int             `json:"code"`
}

func init() {
	handle(v0alpha1.DataPlaneServiceServiceTypeHealth, serviceHandler{prepare: nothingToRead((*call).serveHealth)})
	handle(v0alpha1.DataPlaneServiceServiceTypeMetrics, serviceHandler{prepare: nothingToRead((*call).serveMetrics)})
}

// nothingToRead prepares a call that sends no body: the plugin call is all there is.
func nothingToRead(do func(c *call, ctx context.Context, w http.ResponseWriter)) func(*call, http.ResponseWriter) (pluginCall, *httpError) {
	return func(c *call, _ http.ResponseWriter) (pluginCall, *httpError) {
		return func(ctx context.Context, w http.ResponseWriter) { do(c, ctx, w) }, nil
	}
}

func (c *call) serveHealth(ctx context.Context, w http.ResponseWriter) {
	if c.plugin.DiagnosticsClient == nil {
		c.fail(w, classify(errUnimplemented, c.e.pluginID, "CheckHealth"))
		return
	}
	resp, err := c.plugin.CheckHealth(ctx, &pluginv2.CheckHealthRequest{
		PluginContext: c.pluginContext(),
		Headers:       queryHeaders(c.r.Header, c.org),
	})
	if err != nil {
		c.failErr(w, err, "CheckHealth")
		return
	}
	// As Grafana's health subresource: code is the plugin's status (0 UNKNOWN, 1 OK,
	// 2 ERROR), and a status other than OK answers 400 with the same body, so a client or a
	// probe that reads the HTTP status takes a failing datasource for what it is.
	out := healthResult{Kind: "HealthCheckResult", APIVersion: c.e.gv, Status: resp.Status.String(),
		Message: resp.Message, Code: int(resp.Status)}
	if len(resp.JsonDetails) > 0 && json.Valid(resp.JsonDetails) {
		out.Details = resp.JsonDetails
	}
	code := http.StatusOK
	if resp.Status != pluginv2.CheckHealthResponse_OK {
		code = http.StatusBadRequest
	}
	writeJSON(w, code, out)
}

func (c *call) serveMetrics(ctx context.Context, w http.ResponseWriter) {
	if c.plugin.DiagnosticsClient == nil {
		c.fail(w, classify(errUnimplemented, c.e.pluginID, "CollectMetrics"))
		return
	}
	resp, err := c.plugin.CollectMetrics(ctx, &pluginv2.CollectMetricsRequest{PluginContext: c.pluginContext()})
	if err != nil {
		c.failErr(w, err, "CollectMetrics")
		return
	}
	var body []byte
	if resp.Metrics != nil {
		body = resp.Metrics.Prometheus
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
