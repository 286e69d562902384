package server

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/app"
	"github.com/dataplane-aggregator/dpa/pkg/pluginhost"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

// availability answers the Available condition from the plugin host's view of the plugin.
type availability struct{ host pluginView }

// pluginView is what availability reads of the plugin host (*pluginhost.Host).
type pluginView interface {
	Info(id string) (pluginhost.PluginInfo, bool)
	State(id string) pluginhost.PluginState
}

// newAvailability reads host; without a plugin host (nil), no plugin is found.
func newAvailability(host *pluginhost.Host) availability {
	if host == nil {
		return availability{}
	}
	return availability{host: host}
}

func (a availability) Available(reg routes.Registration) (v0alpha1.DataPlaneServiceConditionStatus, string, string) {
	const f, t = v0alpha1.DataPlaneServiceConditionStatusFalse, v0alpha1.DataPlaneServiceConditionStatusTrue
	if a.host == nil {
		return f, app.ReasonPluginNotFound, fmt.Sprintf("plugin %q not found: dpa runs without --plugins-dir or --plugin-address", reg.PluginID)
	}
	info, ok := a.host.Info(reg.PluginID)
	if !ok {
		return f, app.ReasonPluginNotFound, fmt.Sprintf("plugin %q is not installed in the plugins directory", reg.PluginID)
	}
	if info.Type != "" && info.Type != reg.PluginType {
		return f, app.ReasonPluginTypeMismatch, fmt.Sprintf("plugin %q is of type %q, the spec says %q", reg.PluginID, info.Type, reg.PluginType)
	}
	if !info.Backend {
		return f, app.ReasonServiceUnsupported, fmt.Sprintf("plugin %q has no backend, so it serves no data-plane calls", reg.PluginID)
	}
	if reg.PluginType == routes.PluginTypeApp {
		for _, s := range reg.Services {
			if spec, _ := routes.LookupService(s.Type); spec.DatasourceOnly() {
				return f, app.ReasonServiceUnsupported, fmt.Sprintf("service %q needs a datasource; app plugins have none", s.Type)
			}
		}
	}
	st := a.host.State(reg.PluginID)
	if !st.Running {
		msg := fmt.Sprintf("plugin %q is not running (%s)", reg.PluginID, st.Phase)
		if st.LastError != "" {
			msg += ": " + st.LastError
		}
		return f, app.ReasonPluginNotRunning, msg
	}
	if st.NotResponding != "" {
		return f, app.ReasonPluginNotResponding, fmt.Sprintf("plugin %q is running but not responding (pid %d): %s", reg.PluginID, st.PID, st.NotResponding)
	}
	// Every declared service type whose plugin service the process does not register, or
	// answered Unimplemented (SDK plugins register them all), is named.
	var missing []string
	for _, s := range reg.Services {
		spec, _ := routes.LookupService(s.Type)
		need := spec.PluginService
		if need == "" {
			continue
		}
		if (st.Services != nil && !slices.Contains(st.Services, need)) || slices.Contains(st.Unimplemented, need) {
			if m := fmt.Sprintf("%s (%s)", s.Type, need); !slices.Contains(missing, m) {
				missing = append(missing, m)
			}
		}
	}
	if len(missing) > 0 {
		return f, app.ReasonServiceUnsupported, fmt.Sprintf("plugin %q does not implement the declared service types %s", reg.PluginID, strings.Join(missing, ", "))
	}
	return t, app.ReasonPluginRunning, fmt.Sprintf("plugin %q is running and serves the declared services (restarts: %d)", reg.PluginID, st.Restarts)
}
