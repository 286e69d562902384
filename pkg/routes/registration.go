package routes

import (
	"slices"

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

// Equal reports whether r and o are the same registration, field by field (services by
// value).
func (r Registration) Equal(o Registration) bool {
	return r.Name == o.Name && r.UID == o.UID && r.Generation == o.Generation && r.PluginID == o.PluginID &&
		r.PluginType == o.PluginType && r.Group == o.Group && r.Version == o.Version &&
		slices.EqualFunc(r.Services, o.Services, func(a, b v0alpha1.DataPlaneServiceService) bool {
			return a.Type == b.Type && sameValue(a.Method, b.Method) && sameValue(a.Path, b.Path)
		})
}

func sameValue[T comparable](a, b *T) bool {
	return a == b || (a != nil && b != nil && *a == *b)
}

// Sink receives the complete set of active registrations each time it changes. The data
// plane implements it by compiling an immutable route table and swapping it in atomically.
// SetRegistrations must not block for long and must not retain the slice after returning.
type Sink interface {
	SetRegistrations(regs []Registration)
}
