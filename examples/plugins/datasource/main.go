// Command gpx_example-datasource is an example Grafana backend datasource
// plugin. It exists to exercise every call of the Grafana plugin protocol
// (data, resources, health, metrics, streaming, admission and conversion)
// against a real plugin process; see ../README.md.
//
// Nothing may be written to stdout before go-plugin's handshake line: all
// logging goes through the SDK logger (hclog JSON on stderr).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/datasource"
	"github.com/grafana/grafana-plugin-sdk-go/backend/instancemgmt"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"
	"github.com/grafana/grafana-plugin-sdk-go/backend/resource/httpadapter"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dataplane-aggregator/dpa/examples/plugins/internal/pluginlog"
)

const pluginID = "example-datasource"

// queriesServed counts the queries answered by QueryData. It is registered
// in the default Prometheus registry, which the SDK gathers and encodes in
// the text exposition format for CollectMetrics.
var queriesServed = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "example_datasource",
	Name:      "queries_total",
	Help:      "Queries served by the example datasource, by scenario.",
}, []string{"scenario"})

func main() {
	pluginlog.Setup()
	prometheus.MustRegister(queriesServed)
	err := datasource.Manage(pluginID, newInstance, datasource.ManageOpts{
		AdmissionHandler:  admissionHandler{},
		ConversionHandler: conversionHandler{},
	})
	if err != nil {
		log.DefaultLogger.Error("plugin exited with error", "error", err)
		os.Exit(1)
	}
}

// jsonSettings is the datasource's jsonData.
type jsonSettings struct {
	// FailHealth makes CheckHealth report an error.
	FailHealth bool `json:"failHealth"`
}

// instance is one configured datasource (one per DataSourceInstanceSettings
// and Updated timestamp; the SDK disposes it when the settings change).
type instance struct {
	id       int64
	uid      string
	name     string
	url      string
	settings jsonSettings
	// apiKeyHash is the SHA-256 of secureJsonData.apiKey: /instance shows which secret the
	// instance holds without revealing it.
	apiKeyHash string
	jsonData   json.RawMessage
	resource   backend.CallResourceHandler
}

var (
	_ backend.QueryDataHandler      = (*instance)(nil)
	_ backend.CheckHealthHandler    = (*instance)(nil)
	_ backend.CallResourceHandler   = (*instance)(nil)
	_ backend.StreamHandler         = (*instance)(nil)
	_ instancemgmt.InstanceDisposer = (*instance)(nil)
)

func newInstance(_ context.Context, s backend.DataSourceInstanceSettings) (instancemgmt.Instance, error) {
	inst := &instance{id: s.ID, uid: s.UID, name: s.Name, url: s.URL, jsonData: s.JSONData}
	if v := s.DecryptedSecureJSONData["apiKey"]; v != "" {
		sum := sha256.Sum256([]byte(v))
		inst.apiKeyHash = hex.EncodeToString(sum[:])
	}
	if len(s.JSONData) > 0 {
		if err := json.Unmarshal(s.JSONData, &inst.settings); err != nil {
			return nil, fmt.Errorf("invalid jsonData: %w", err)
		}
	}
	mux := newResourceMux()
	mux.HandleFunc("GET /instance", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"id": inst.id, "uid": inst.uid, "url": inst.url, "apiKeySha256": inst.apiKeyHash, "jsonData": inst.jsonData})
	})
	inst.resource = httpadapter.New(mux)
	log.DefaultLogger.Debug("datasource instance created", "uid", s.UID, "updated", s.Updated)
	return inst, nil
}

// Dispose is called by the instance manager when the settings changed.
func (inst *instance) Dispose() {
	log.DefaultLogger.Debug("datasource instance disposed", "uid", inst.uid)
}

// CheckHealth reports OK unless jsonData has {"failHealth": true}.
func (inst *instance) CheckHealth(_ context.Context, _ *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	details, _ := json.Marshal(map[string]string{"uid": inst.uid, "url": inst.url})
	if inst.settings.FailHealth {
		return &backend.CheckHealthResult{
			Status:      backend.HealthStatusError,
			Message:     fmt.Sprintf("datasource %q at %s is failing: failHealth is set", inst.name, inst.url),
			JSONDetails: details,
		}, nil
	}
	return &backend.CheckHealthResult{
		Status:      backend.HealthStatusOk,
		Message:     fmt.Sprintf("datasource %q at %s is working", inst.name, inst.url),
		JSONDetails: details,
	}, nil
}

// CallResource serves the HTTP routes of newResourceMux.
func (inst *instance) CallResource(ctx context.Context, req *backend.CallResourceRequest, sender backend.CallResourceResponseSender) error {
	return inst.resource.CallResource(ctx, req, sender)
}
