package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
	"github.com/dataplane-aggregator/dpa/pkg/pluginhost"
	"github.com/dataplane-aggregator/dpa/pkg/provisioning"
)

// admitDatasource is the provisioning store's admission: what Grafana does when a datasource
// is saved, for a provisioned datasource that is new or changed. When its plugin serves
// admission, the settings go to ValidateAdmission and then MutateAdmission as the SDK's own
// kind (group grafana-plugin-sdk-go, version = the datasource's apiVersion, kind
// DataSourceInstanceSettings) in the SDK's protobuf encoding. A denial rejects the
// datasource; a mutation's URL, user, database, basic auth, jsonData and secureJsonData are
// taken over, as Grafana takes them over. Plugins that are not installed or do not implement
// admission are not asked (Grafana tolerates both).
func admitDatasource(host *pluginhost.Host) provisioning.AdmitFunc {
	return func(ctx context.Context, ds, old *provisioning.Datasource) error {
		if host == nil {
			return nil
		}
		info, ok := host.Info(ds.Type)
		if !ok || !info.Backend {
			return nil
		}
		p, err := host.Get(ctx, ds.Type)
		if err != nil {
			return fmt.Errorf("plugin %s could not validate the settings: %w", ds.Type, err)
		}
		if st := host.State(ds.Type); st.Services != nil && !slices.Contains(st.Services, backendplugin.ServiceAdmissionControl) {
			return nil
		}
		obj, err := backend.DataSourceInstanceSettingsToProtoBytes(ds.InstanceSettings())
		if err != nil {
			return err
		}
		req := &pluginv2.AdmissionRequest{
			PluginContext: &pluginv2.PluginContext{PluginId: ds.Type, OrgId: ds.OrgID, PluginVersion: info.Version},
			Operation:     pluginv2.AdmissionRequest_CREATE,
			Kind:          &pluginv2.GroupVersionKind{Group: "grafana-plugin-sdk-go", Version: ds.APIVersion, Kind: "DataSourceInstanceSettings"},
			ObjectBytes:   obj,
		}
		if old != nil {
			req.Operation = pluginv2.AdmissionRequest_UPDATE
			if req.OldObjectBytes, err = backend.DataSourceInstanceSettingsToProtoBytes(old.InstanceSettings()); err != nil {
				return err
			}
		}
		v, err := p.ValidateAdmission(ctx, req)
		if done, err := verdict(ds.Type, "ValidateAdmission", err, v.GetAllowed(), v.GetResult()); done {
			return err
		}
		m, err := p.MutateAdmission(ctx, req)
		if done, err := verdict(ds.Type, "MutateAdmission", err, m.GetAllowed(), m.GetResult()); done || len(m.ObjectBytes) == 0 {
			return err
		}
		s, err := backend.DataSourceInstanceSettingsFromProto(m.ObjectBytes, ds.Type)
		if err != nil {
			return fmt.Errorf("plugin %s: MutateAdmission answered settings that cannot be decoded: %w", ds.Type, err)
		}
		var jsonData map[string]any
		if len(s.JSONData) > 0 {
			if err := json.Unmarshal(s.JSONData, &jsonData); err != nil {
				return fmt.Errorf("plugin %s: MutateAdmission answered jsonData that is not an object: %w", ds.Type, err)
			}
		}
		ds.URL, ds.User, ds.Database = s.URL, s.User, s.Database
		ds.BasicAuth, ds.BasicAuthUser = s.BasicAuthEnabled, s.BasicAuthUser
		ds.JSONData, ds.SecureJSONData = jsonData, provisioning.Secrets(s.DecryptedSecureJSONData)
		return nil
	}
}

// verdict reads one admission call's answer: done is true when admission ends here — the
// plugin does not implement it (nil error, as Grafana tolerates), the call failed, or the
// plugin denied (an error with its message).
func verdict(pluginID, op string, err error, allowed bool, r *pluginv2.StatusResult) (done bool, _ error) {
	switch {
	case status.Code(err) == codes.Unimplemented:
		return true, nil
	case err != nil:
		return true, fmt.Errorf("plugin %s: %s: %w", pluginID, op, err)
	case !allowed:
		msg := "denied"
		if r.GetMessage() != "" {
			msg = r.GetMessage()
		}
		return true, errors.New("rejected by plugin " + pluginID + ": " + msg)
	}
	return false, nil
}
