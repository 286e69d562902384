package routes

import (
	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
)

// Plugin types accepted in spec.pluginType.
const (
	PluginTypeApp        = "app"
	PluginTypeDatasource = "datasource"
)

// Registration is one DataPlaneService's live claim on an API group/version: the data plane
// serves Services under /apis/<Group>/<Version>/ by calling plugin PluginID.
type Registration struct {
	// Name is the DataPlaneService's metadata.name.
	Name string
	// UID and Generation identify the object revision the registration was built from.
	UID        string
	Generation int64
	PluginID   string
	// PluginType is PluginTypeApp or PluginTypeDatasource.
	PluginType string
	Group      string
	Version    string
	Services   []v0alpha1.DataPlaneServiceService
}

// Sink receives the complete set of active registrations each time it changes. The data
// plane implements it by compiling an immutable route table and swapping it in atomically.
// SetRegistrations must not block for long and must not retain the slice after returning.
type Sink interface {
	SetRegistrations(regs []Registration)
}
