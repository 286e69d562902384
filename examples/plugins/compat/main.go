// Command gpx_compat is a datasource plugin built on plugin SDK v0.164.0 in a module of its
// own, so that dpa's plugin contract is tested against an SDK generation that:
//   - caches one plugin instance per DataSourceInstanceSettings.ID (and tenant) only, so two
//     datasources sent with the same id would share one instance and its settings;
//   - answers QueryData with Arrow frames only, whatever format is asked for;
//   - predates the admission and conversion APIs and streams (it implements none);
//   - is built with grpc-go 1.54, which registers only grpc.reflection.v1alpha.
//
// Each instance remembers the settings it was created with; the /instance resource, the
// "instance" query and CheckHealth answer from them, so a call served by another
// datasource's instance shows.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/datasource"
	"github.com/grafana/grafana-plugin-sdk-go/backend/instancemgmt"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"
	"github.com/grafana/grafana-plugin-sdk-go/data"
)

func main() {
	if err := datasource.Manage("compat-datasource", newInstance, datasource.ManageOpts{}); err != nil {
		log.DefaultLogger.Error("plugin exited with error", "error", err)
		os.Exit(1)
	}
}

// settings is what an instance was created with. Secrets appear as a hash only.
type settings struct {
	ID          int64    `json:"id"`
	UID         string   `json:"uid"`
	Name        string   `json:"name"`
	URL         string   `json:"url"`
	Updated     int64    `json:"updatedMs"`
	SecretKeys  []string `json:"secretKeys"`
	APIKeyHash  string   `json:"apiKeySha256,omitempty"`
	CreatedAtMs int64    `json:"createdAtMs"`
}

type instance struct{ s settings }

func newInstance(s backend.DataSourceInstanceSettings) (instancemgmt.Instance, error) {
	inst := &instance{s: settings{
		ID: s.ID, UID: s.UID, Name: s.Name, URL: s.URL, Updated: s.Updated.UnixMilli(),
		CreatedAtMs: time.Now().UnixMilli(),
	}}
	for k := range s.DecryptedSecureJSONData {
		inst.s.SecretKeys = append(inst.s.SecretKeys, k)
	}
	sort.Strings(inst.s.SecretKeys)
	if v := s.DecryptedSecureJSONData["apiKey"]; v != "" {
		sum := sha256.Sum256([]byte(v))
		inst.s.APIKeyHash = hex.EncodeToString(sum[:])
	}
	return inst, nil
}

// QueryData answers each query by its "scenario": "instance" (one row of the instance's
// settings), "empty" (a frame with zero rows), "nofields" (a frame without fields) or
// anything else (a three-row table).
func (i *instance) QueryData(_ context.Context, req *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
	resp := backend.NewQueryDataResponse()
	for _, q := range req.Queries {
		var m struct {
			Scenario string `json:"scenario"`
		}
		_ = json.Unmarshal(q.JSON, &m)
		var f *data.Frame
		switch m.Scenario {
		case "instance":
			f = data.NewFrame("instance",
				data.NewField("uid", nil, []string{i.s.UID}),
				data.NewField("url", nil, []string{i.s.URL}),
				data.NewField("id", nil, []int64{i.s.ID}),
				data.NewField("apiKeySha256", nil, []string{i.s.APIKeyHash}))
		case "empty":
			f = data.NewFrame("empty", data.NewField("time", nil, []time.Time{}), data.NewField("value", nil, []float64{}))
		case "nofields":
			f = data.NewFrame("nofields")
		default:
			f = data.NewFrame("table", data.NewField("n", nil, []int64{1, 2, 3}))
		}
		resp.Responses[q.RefID] = backend.DataResponse{Frames: data.Frames{f}}
	}
	return resp, nil
}

// CheckHealth fetches the instance's URL: OK when it answers at all.
func (i *instance) CheckHealth(ctx context.Context, _ *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	if i.s.URL == "" {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: "no url"}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, i.s.URL, nil)
	if err != nil {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: err.Error()}, nil
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: fmt.Sprintf("%s is unreachable", i.s.URL)}, nil
	}
	_ = resp.Body.Close()
	return &backend.CheckHealthResult{Status: backend.HealthStatusOk, Message: fmt.Sprintf("%s answered %d", i.s.URL, resp.StatusCode)}, nil
}

// CallResource serves GET /instance: the instance's settings.
func (i *instance) CallResource(_ context.Context, req *backend.CallResourceRequest, sender backend.CallResourceResponseSender) error {
	if req.Path != "instance" {
		return sender.Send(&backend.CallResourceResponse{Status: http.StatusNotFound, Body: []byte(`{"error":"not found"}`)})
	}
	b, _ := json.Marshal(i.s)
	return sender.Send(&backend.CallResourceResponse{Status: http.StatusOK,
		Headers: map[string][]string{"Content-Type": {"application/json"}}, Body: b})
}
