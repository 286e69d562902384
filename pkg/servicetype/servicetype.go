// Package servicetype defines the data-plane service types once: for each type a
// DataPlaneService may declare, the plugin gRPC service its calls go to, whether it needs a
// datasource (apps have none), and the --timeout key that bounds it. Validation, the
// Available condition, the timeout flag and the data plane read this table; a new type is
// added here (and in the CUE enum) first.
package servicetype

import (
	"slices"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
)

// Type is a service type as written in spec.services[].type.
type Type = v0alpha1.DataPlaneServiceServiceType

// The service types.
const (
	Query           Type = v0alpha1.DataPlaneServiceServiceTypeQuery
	Health          Type = v0alpha1.DataPlaneServiceServiceTypeHealth
	Resource        Type = v0alpha1.DataPlaneServiceServiceTypeResource
	Route           Type = v0alpha1.DataPlaneServiceServiceTypeRoute
	Stream          Type = v0alpha1.DataPlaneServiceServiceTypeStream
	Metrics         Type = v0alpha1.DataPlaneServiceServiceTypeMetrics
	Admission       Type = v0alpha1.DataPlaneServiceServiceTypeAdmission
	Conversion      Type = v0alpha1.DataPlaneServiceServiceTypeConversion
	DatasourceProxy Type = v0alpha1.DataPlaneServiceServiceTypeDatasourceProxy
)

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

// Spec describes one service type.
type Spec struct {
	Type Type
	// PluginService is the plugin gRPC service its calls go to ("": none, dpa answers itself).
	PluginService string
	// DatasourceOnly types need a datasource's settings, so app plugins cannot declare them.
	DatasourceOnly bool
	// Timeout is the --timeout key bounding its plugin calls (streams: subscribe and publish).
	Timeout string
}

// All lists every service type, in the order of the CUE enum.
var All = []Spec{
	{Type: Query, PluginService: backendplugin.ServiceData, DatasourceOnly: true, Timeout: TimeoutQuery},
	{Type: Resource, PluginService: backendplugin.ServiceResource, Timeout: TimeoutResource},
	{Type: Route, PluginService: backendplugin.ServiceResource, Timeout: TimeoutResource},
	{Type: Stream, PluginService: backendplugin.ServiceStream, Timeout: TimeoutResource},
	{Type: Health, PluginService: backendplugin.ServiceDiagnostics, Timeout: TimeoutHealth},
	{Type: Metrics, PluginService: backendplugin.ServiceDiagnostics, Timeout: TimeoutMetrics},
	{Type: Admission, PluginService: backendplugin.ServiceAdmissionControl, Timeout: TimeoutAdmission},
	{Type: Conversion, PluginService: backendplugin.ServiceResourceConversion, Timeout: TimeoutConversion},
	{Type: DatasourceProxy, DatasourceOnly: true, Timeout: TimeoutProxy},
}

// Lookup returns the Spec of t.
func Lookup(t Type) (Spec, bool) {
	for _, s := range All {
		if s.Type == t {
			return s, true
		}
	}
	return Spec{}, false
}

// Names lists the type names, in the order of All.
func Names() []string {
	out := make([]string, len(All))
	for i, s := range All {
		out[i] = string(s.Type)
	}
	return out
}

// TimeoutKeys lists the distinct --timeout keys, in the order of All.
func TimeoutKeys() []string {
	var out []string
	for _, s := range All {
		if !slices.Contains(out, s.Timeout) {
			out = append(out, s.Timeout)
		}
	}
	return out
}
