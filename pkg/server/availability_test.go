package server

import (
	"strings"
	"testing"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/app"
	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
	"github.com/dataplane-aggregator/dpa/pkg/pluginhost"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

// hostView is the plugin host's view of one plugin, as the tests set it.
type hostView struct {
	info  *pluginhost.PluginInfo
	state pluginhost.PluginState
}

func (v hostView) Info(string) (pluginhost.PluginInfo, bool) {
	if v.info == nil {
		return pluginhost.PluginInfo{}, false
	}
	return *v.info, true
}
func (v hostView) State(string) pluginhost.PluginState { return v.state }

// TestAvailability: each plugin-host state gives its Available reason and a message that names
// what is wrong (the end-to-end TestAvailableReasons reaches the same with real plugins).
func TestAvailability(t *testing.T) {
	ds := &pluginhost.PluginInfo{ID: "p", Type: routes.PluginTypeDatasource, Backend: true}
	running := pluginhost.PluginState{Running: true, Restarts: 2,
		Services: []string{backendplugin.ServiceData, backendplugin.ServiceDiagnostics, backendplugin.ServiceResource}}
	svc := func(types ...v0alpha1.DataPlaneServiceServiceType) []v0alpha1.DataPlaneServiceService {
		var out []v0alpha1.DataPlaneServiceService
		for _, t := range types {
			out = append(out, v0alpha1.DataPlaneServiceService{Type: t})
		}
		return out
	}
	query, admission := v0alpha1.DataPlaneServiceServiceTypeQuery, v0alpha1.DataPlaneServiceServiceTypeAdmission
	for name, tc := range map[string]struct {
		view       pluginView
		pluginType string
		services   []v0alpha1.DataPlaneServiceService
		reason     string
		msg        string
	}{
		"no plugin host":  {nil, routes.PluginTypeDatasource, svc(query), app.ReasonPluginNotFound, "without --plugins-dir"},
		"not installed":   {hostView{}, routes.PluginTypeDatasource, svc(query), app.ReasonPluginNotFound, "not installed"},
		"type mismatch":   {hostView{info: ds, state: running}, routes.PluginTypeApp, nil, app.ReasonPluginTypeMismatch, `is of type "datasource"`},
		"no backend":      {hostView{info: &pluginhost.PluginInfo{Type: routes.PluginTypeDatasource}}, routes.PluginTypeDatasource, svc(query), app.ReasonServiceUnsupported, "no backend"},
		"app with query":  {hostView{info: &pluginhost.PluginInfo{Type: routes.PluginTypeApp, Backend: true}, state: running}, routes.PluginTypeApp, svc(query), app.ReasonServiceUnsupported, "needs a datasource"},
		"crashed":         {hostView{info: ds, state: pluginhost.PluginState{Phase: "backoff", LastError: "exit status 2"}}, routes.PluginTypeDatasource, svc(query), app.ReasonPluginNotRunning, "exit status 2"},
		"hung":            {hostView{info: ds, state: pluginhost.PluginState{Running: true, PID: 42, NotResponding: "probe timed out"}}, routes.PluginTypeDatasource, svc(query), app.ReasonPluginNotResponding, "pid 42"},
		"service missing": {hostView{info: ds, state: running}, routes.PluginTypeDatasource, svc(query, admission), app.ReasonServiceUnsupported, "admission (" + backendplugin.ServiceAdmissionControl + ")"},
		"unimplemented": {hostView{info: ds, state: pluginhost.PluginState{Running: true, Unimplemented: []string{backendplugin.ServiceData}}},
			routes.PluginTypeDatasource, svc(query), app.ReasonServiceUnsupported, "query (" + backendplugin.ServiceData + ")"},
		"available": {hostView{info: ds, state: running}, routes.PluginTypeDatasource, svc(query), app.ReasonPluginRunning, "restarts: 2"},
	} {
		t.Run(name, func(t *testing.T) {
			status, reason, msg := availability{host: tc.view}.Available(routes.Registration{PluginID: "p", PluginType: tc.pluginType, Services: tc.services})
			wantStatus := v0alpha1.DataPlaneServiceConditionStatusFalse
			if tc.reason == app.ReasonPluginRunning {
				wantStatus = v0alpha1.DataPlaneServiceConditionStatusTrue
			}
			if status != wantStatus || reason != tc.reason || !strings.Contains(msg, tc.msg) {
				t.Errorf("Available = %s, %s, %q; want %s, %s, a message with %q", status, reason, msg, wantStatus, tc.reason, tc.msg)
			}
		})
	}
	if a := newAvailability(nil); a.host != nil {
		t.Error("newAvailability(nil) has a non-nil plugin view: a nil *Host would be called")
	}
}
