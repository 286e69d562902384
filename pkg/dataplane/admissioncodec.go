package dataplane

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

// The plugin SDK's own kinds (group grafana-plugin-sdk-go: DataSourceInstanceSettings and
// AppInstanceSettings) travel to plugins in the SDK's protobuf encoding, as Grafana sends
// them when a datasource is saved; every other kind travels as the JSON the client sent.
// dpa's clients send the SDK kinds as JSON in Grafana's datasource field names (settingsJSON);
// a mutated reply comes back the same way, so the JSON patch is computed between JSON
// documents.

const (
	sdkGroup          = "grafana-plugin-sdk-go"
	kindDatasourceSet = "DataSourceInstanceSettings"
	kindAppSet        = "AppInstanceSettings"
)

// settingsJSON is the JSON form of the SDK's settings kinds (apps use jsonData,
// secureJsonData and apiVersion only).
type settingsJSON struct {
	ID             int64             `json:"id,omitempty"`
	UID            string            `json:"uid,omitempty"`
	Name           string            `json:"name,omitempty"`
	Type           string            `json:"type,omitempty"`
	URL            string            `json:"url,omitempty"`
	User           string            `json:"user,omitempty"`
	Database       string            `json:"database,omitempty"`
	BasicAuth      bool              `json:"basicAuth,omitempty"`
	BasicAuthUser  string            `json:"basicAuthUser,omitempty"`
	JSONData       json.RawMessage   `json:"jsonData,omitempty"`
	SecureJSONData map[string]string `json:"secureJsonData,omitempty"`
	APIVersion     string            `json:"apiVersion,omitempty"`
	// Updated is RFC 3339; empty means now.
	Updated string `json:"updated,omitempty"`
}

// isSDKKind reports whether group/kind is one of the SDK's protobuf-encoded kinds.
func isSDKKind(group, kind string) bool {
	return group == sdkGroup && (kind == kindDatasourceSet || kind == kindAppSet)
}

// encodeSDKObject turns the JSON of an SDK kind into the SDK's protobuf bytes. version is the
// kind's version (the settings' apiVersion when they name none).
func encodeSDKObject(kind, version string, raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var in settingsJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("%s object: %w", kind, err)
	}
	if len(in.JSONData) > 0 && !bytes.HasPrefix(bytes.TrimSpace(in.JSONData), []byte("{")) {
		return nil, fmt.Errorf("%s object: jsonData must be an object", kind)
	}
	if in.APIVersion == "" {
		in.APIVersion = version
	}
	updated := time.Now()
	if in.Updated != "" {
		t, err := time.Parse(time.RFC3339, in.Updated)
		if err != nil {
			return nil, fmt.Errorf("%s object: updated: %w", kind, err)
		}
		updated = t
	}
	if kind == kindAppSet {
		return backend.AppInstanceSettingsToProtoBytes(&backend.AppInstanceSettings{
			JSONData: in.JSONData, DecryptedSecureJSONData: in.SecureJSONData, Updated: updated, APIVersion: in.APIVersion,
		})
	}
	return backend.DataSourceInstanceSettingsToProtoBytes(&backend.DataSourceInstanceSettings{
		ID: in.ID, UID: in.UID, Name: in.Name, Type: in.Type, URL: in.URL, User: in.User, Database: in.Database,
		BasicAuthEnabled: in.BasicAuth, BasicAuthUser: in.BasicAuthUser, JSONData: in.JSONData,
		DecryptedSecureJSONData: in.SecureJSONData, Updated: updated, APIVersion: in.APIVersion,
	})
}

// decodeSDKObject turns a plugin's protobuf reply for an SDK kind back into its JSON form,
// keeping original's fields the protobuf does not carry (type, updated) and leaving out the
// apiVersion encodeSDKObject filled in from the kind's version.
func decodeSDKObject(kind, version, pluginID string, b, original []byte) ([]byte, error) {
	var out settingsJSON
	_ = json.Unmarshal(original, &out)
	origVersion := out.APIVersion
	if kind == kindAppSet {
		s, err := backend.AppInstanceSettingsFromProto(b)
		if err != nil {
			return nil, err
		}
		out.JSONData, out.SecureJSONData, out.APIVersion = s.JSONData, s.DecryptedSecureJSONData, s.APIVersion
	} else {
		s, err := backend.DataSourceInstanceSettingsFromProto(b, pluginID)
		if err != nil {
			return nil, err
		}
		out.ID, out.UID, out.Name, out.URL, out.User, out.Database = s.ID, s.UID, s.Name, s.URL, s.User, s.Database
		out.BasicAuth, out.BasicAuthUser, out.JSONData = s.BasicAuthEnabled, s.BasicAuthUser, s.JSONData
		out.SecureJSONData, out.APIVersion = s.DecryptedSecureJSONData, s.APIVersion
	}
	if origVersion == "" && out.APIVersion == version {
		out.APIVersion = ""
	}
	return json.Marshal(out)
}
