package routes

import (
	"slices"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
)

// ServiceType is a service type as written in spec.services[].type.
type ServiceType = v0alpha1.DataPlaneServiceServiceType

// Timeout keys of --timeout (one deadline per key; several types may share one).
const (
	TimeoutQuery      = "query"
	TimeoutResource   = "resource"
	TimeoutHealth     = "health"
	TimeoutMetrics    = "metrics"
	TimeoutAdmission  = "admission"
	TimeoutConversion = "conversion"
	TimeoutProxy      = "proxy"
)

// Service describes one service type.
type Service struct {
	Type ServiceType
	// PluginService is the plugin gRPC service its calls go to ("": none, dpa answers itself).
	PluginService string
	// DatasourceOnly types need a datasource's settings, so app plugins cannot declare them.
	DatasourceOnly bool
	// Timeout is the --timeout key bounding its plugin calls (streams: subscribe and publish).
	Timeout string
}

// Services lists every service type, in the order of the CUE enum.
var Services = []Service{
	{Type: v0alpha1.DataPlaneServiceServiceTypeQuery, PluginService: backendplugin.ServiceData, DatasourceOnly: true, Timeout: TimeoutQuery},
	{Type: v0alpha1.DataPlaneServiceServiceTypeResource, PluginService: backendplugin.ServiceResource, Timeout: TimeoutResource},
	{Type: v0alpha1.DataPlaneServiceServiceTypeRoute, PluginService: backendplugin.ServiceResource, Timeout: TimeoutResource},
	{Type: v0alpha1.DataPlaneServiceServiceTypeStream, PluginService: backendplugin.ServiceStream, Timeout: TimeoutResource},
	{Type: v0alpha1.DataPlaneServiceServiceTypeHealth, PluginService: backendplugin.ServiceDiagnostics, Timeout: TimeoutHealth},
	{Type: v0alpha1.DataPlaneServiceServiceTypeMetrics, PluginService: backendplugin.ServiceDiagnostics, Timeout: TimeoutMetrics},
	{Type: v0alpha1.DataPlaneServiceServiceTypeAdmission, PluginService: backendplugin.ServiceAdmissionControl, Timeout: TimeoutAdmission},
	{Type: v0alpha1.DataPlaneServiceServiceTypeConversion, PluginService: backendplugin.ServiceResourceConversion, Timeout: TimeoutConversion},
	{Type: v0alpha1.DataPlaneServiceServiceTypeDatasourceProxy, DatasourceOnly: true, Timeout: TimeoutProxy},
}

// LookupService returns the Service of t.
func LookupService(t ServiceType) (Service, bool) {
	for _, s := range Services {
		if s.Type == t {
			return s, true
		}
	}
	return Service{}, false
}

// ServiceNames lists the type names, in the order of Services.
func ServiceNames() []string {
	out := make([]string, len(Services))
	for i, s := range Services {
		out[i] = string(s.Type)
	}
	return out
}

// TimeoutKeys lists the distinct --timeout keys, in the order of Services.
func TimeoutKeys() []string {
	var out []string
	for _, s := range Services {
		if !slices.Contains(out, s.Timeout) {
			out = append(out, s.Timeout)
		}
	}
	return out
}
