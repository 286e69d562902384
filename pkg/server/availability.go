package server

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/pluginhost"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

// Reasons of the Available condition.
const (
	ReasonAvailable           = "PluginRunning"
	ReasonPluginNotFound      = "PluginNotFound"
	ReasonPluginNotRunning    = "PluginNotRunning"
	ReasonPluginTypeMismatch  = "PluginTypeMismatch"
	ReasonServiceUnsupported  = "ServiceUnsupported"
	ReasonPluginNotResponding = "PluginNotResponding"
)

// availability answers the Available condition from the plugin host's view of the plugin.
type availability struct{ host *pluginhost.Host }

func (a availability) Available(reg routes.Registration) (v0alpha1.DataPlaneServiceConditionStatus, string, string) {
	const f, t = v0alpha1.DataPlaneServiceConditionStatusFalse, v0alpha1.DataPlaneServiceConditionStatusTrue
	if a.host == nil {
		return f, ReasonPluginNotFound, fmt.Sprintf("plugin %q not found: dpa runs without --plugins-dir or --plugin-address", reg.PluginID)
	}
	info, ok := a.host.Info(reg.PluginID)
	if !ok {
		return f, ReasonPluginNotFound, fmt.Sprintf("plugin %q is not installed in the plugins directory", reg.PluginID)
	}
	if info.Type != "" && info.Type != reg.PluginType {
		return f, ReasonPluginTypeMismatch, fmt.Sprintf("plugin %q is of type %q, the spec says %q", reg.PluginID, info.Type, reg.PluginType)
	}
	if !info.Backend {
		return f, ReasonServiceUnsupported, fmt.Sprintf("plugin %q has no backend, so it serves no data-plane calls", reg.PluginID)
	}
	if reg.PluginType == routes.PluginTypeApp {
		for _, s := range reg.Services {
			if spec, _ := routes.LookupService(s.Type); spec.DatasourceOnly() {
				return f, ReasonServiceUnsupported, fmt.Sprintf("service %q needs a datasource; app plugins have none", s.Type)
			}
		}
	}
	st := a.host.State(reg.PluginID)
	if !st.Running {
		msg := fmt.Sprintf("plugin %q is not running (%s)", reg.PluginID, st.Phase)
		if st.LastError != "" {
			msg += ": " + st.LastError
		}
		return f, ReasonPluginNotRunning, msg
	}
	if st.NotResponding != "" {
		return f, ReasonPluginNotResponding, fmt.Sprintf("plugin %q is running but not responding (pid %d): %s", reg.PluginID, st.PID, st.NotResponding)
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
		return f, ReasonServiceUnsupported, fmt.Sprintf("plugin %q does not implement the declared service types %s", reg.PluginID, strings.Join(missing, ", "))
	}
	return t, ReasonAvailable, fmt.Sprintf("plugin %q is running and serves the declared services (restarts: %d)", reg.PluginID, st.Restarts)
}
