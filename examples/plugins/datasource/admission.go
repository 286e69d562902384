package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

// admissionHandler validates and mutates Kubernetes-style objects. It is
// stateless (registered in ManageOpts), so it needs no instance settings.
type admissionHandler struct{}

var _ backend.AdmissionHandler = admissionHandler{}

// failure is a Kubernetes-style failure: Reason is a metav1.StatusReason (BadRequest, …).
func failure(code int32, msg string) *backend.StatusResult {
	return &backend.StatusResult{
		Status:  "Failure",
		Message: msg,
		Reason:  strings.ReplaceAll(http.StatusText(int(code)), " ", ""),
		Code:    code,
	}
}

// decodeObject parses the object envelope; unknown fields are kept.
func decodeObject(raw []byte) (map[string]any, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("object is empty")
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("object is not valid JSON: %w", err)
	}
	return obj, nil
}

// isSettings reports whether the request carries the SDK's own datasource settings kind,
// which Grafana (and dpa) encode in the SDK's protobuf, never JSON.
func isSettings(req *backend.AdmissionRequest) bool {
	return req.Kind.Group == "grafana-plugin-sdk-go" && req.Kind.Kind == "DataSourceInstanceSettings"
}

// validateSettings checks the datasource's own settings as a plugin validating its
// configuration does: the URL must be http(s).
func validateSettings(req *backend.AdmissionRequest) (*backend.DataSourceInstanceSettings, *backend.StatusResult) {
	s, err := backend.DataSourceInstanceSettingsFromProto(req.ObjectBytes, pluginID)
	if err != nil {
		return nil, failure(http.StatusBadRequest, "settings are not in the SDK's encoding: "+err.Error())
	}
	if !strings.HasPrefix(s.URL, "http://") && !strings.HasPrefix(s.URL, "https://") {
		return nil, failure(http.StatusBadRequest, fmt.Sprintf("url: %q is not an http(s) URL", s.URL))
	}
	return s, nil
}

// ValidateAdmission denies objects whose spec.deny is true (code 400), and datasource
// settings whose url is not http(s).
func (admissionHandler) ValidateAdmission(_ context.Context, req *backend.AdmissionRequest) (*backend.ValidationResponse, error) {
	if req.Operation == backend.AdmissionRequestDelete {
		return &backend.ValidationResponse{Allowed: true}, nil
	}
	if isSettings(req) {
		if _, res := validateSettings(req); res != nil {
			return &backend.ValidationResponse{Result: res}, nil
		}
		return &backend.ValidationResponse{Allowed: true}, nil
	}
	obj, err := decodeObject(req.ObjectBytes)
	if err != nil {
		return &backend.ValidationResponse{Result: failure(http.StatusBadRequest, err.Error())}, nil
	}
	if spec, ok := obj["spec"].(map[string]any); ok && spec["deny"] == true {
		return &backend.ValidationResponse{
			Result: failure(http.StatusBadRequest, "spec.deny: denied by example-datasource because spec.deny is true"),
		}, nil
	}
	var warnings []string
	if _, ok := obj["spec"]; !ok {
		warnings = append(warnings, "object has no spec")
	}
	return &backend.ValidationResponse{Allowed: true, Warnings: warnings}, nil
}

// MutateAdmission sets metadata.labels["mutated-by"]="example-datasource"
// and returns the mutated object.
func (admissionHandler) MutateAdmission(_ context.Context, req *backend.AdmissionRequest) (*backend.MutationResponse, error) {
	if req.Operation == backend.AdmissionRequestDelete {
		return &backend.MutationResponse{Allowed: true, ObjectBytes: req.ObjectBytes}, nil
	}
	if isSettings(req) { // default jsonData.timeout to "30s", answered in the SDK's encoding
		s, res := validateSettings(req)
		if res != nil {
			return &backend.MutationResponse{Result: res}, nil
		}
		js := map[string]any{}
		if len(s.JSONData) > 0 {
			if err := json.Unmarshal(s.JSONData, &js); err != nil {
				return &backend.MutationResponse{Result: failure(http.StatusBadRequest, "jsonData: "+err.Error())}, nil
			}
		}
		if _, ok := js["timeout"]; !ok {
			js["timeout"] = "30s"
		}
		s.JSONData, _ = json.Marshal(js)
		b, err := backend.DataSourceInstanceSettingsToProtoBytes(s)
		if err != nil {
			return nil, err
		}
		return &backend.MutationResponse{Allowed: true, ObjectBytes: b}, nil
	}
	obj, err := decodeObject(req.ObjectBytes)
	if err != nil {
		return &backend.MutationResponse{Result: failure(http.StatusBadRequest, err.Error())}, nil
	}
	meta, _ := obj["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["metadata"] = meta
	}
	labels, _ := meta["labels"].(map[string]any)
	if labels == nil {
		labels = map[string]any{}
		meta["labels"] = labels
	}
	labels["mutated-by"] = pluginID
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return &backend.MutationResponse{Allowed: true, ObjectBytes: out}, nil
}

// conversionHandler converts objects of the example.datasource.grafana.app
// group between v1 (spec.host) and v2 (spec.endpoint).
type conversionHandler struct{}

var _ backend.ConversionHandler = conversionHandler{}

const conversionGroup = "example.datasource.grafana.app"

// renames maps "from->to" version pairs to the spec field renaming.
var renames = map[string][2]string{
	"v1->v2": {"host", "endpoint"},
	"v2->v1": {"endpoint", "host"},
}

func (conversionHandler) ConvertObjects(_ context.Context, req *backend.ConversionRequest) (*backend.ConversionResponse, error) {
	resp := &backend.ConversionResponse{UID: req.UID}
	target := req.TargetVersion
	if target.Group != conversionGroup || (target.Version != "v1" && target.Version != "v2") {
		resp.Result = failure(http.StatusBadRequest, fmt.Sprintf("unsupported target version %s/%s", target.Group, target.Version))
		return resp, nil
	}
	for i, raw := range req.Objects {
		obj, err := decodeObject(raw.Raw)
		if err != nil {
			resp.Result = failure(http.StatusBadRequest, fmt.Sprintf("objects[%d]: %v", i, err))
			resp.Objects = nil
			return resp, nil
		}
		apiVersion, _ := obj["apiVersion"].(string)
		from := ""
		switch apiVersion {
		case conversionGroup + "/v1":
			from = "v1"
		case conversionGroup + "/v2":
			from = "v2"
		default:
			resp.Result = failure(http.StatusBadRequest, fmt.Sprintf("objects[%d]: unsupported apiVersion %q", i, apiVersion))
			resp.Objects = nil
			return resp, nil
		}
		if from != target.Version {
			if spec, ok := obj["spec"].(map[string]any); ok {
				rn := renames[from+"->"+target.Version]
				if v, ok := spec[rn[0]]; ok {
					spec[rn[1]] = v
					delete(spec, rn[0])
				}
			}
			obj["apiVersion"] = conversionGroup + "/" + target.Version
		}
		out, err := json.Marshal(obj)
		if err != nil {
			return nil, err
		}
		resp.Objects = append(resp.Objects, backend.RawObject{Raw: out, ContentType: "application/json"})
	}
	resp.Result = &backend.StatusResult{Status: "Success", Code: http.StatusOK}
	return resp, nil
}
