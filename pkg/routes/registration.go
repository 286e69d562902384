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

// GroupVersion is the API group/version a Registration claims.
type GroupVersion struct{ Group, Version string }

// GroupVersion returns the group/version r claims.
func (r Registration) GroupVersion() GroupVersion { return GroupVersion{r.Group, r.Version} }

// Sink receives the active registrations as changes: set holds each registration that is new
// or changed since the previous call (one per group/version; it replaces what that
// group/version had), removed the group/versions no longer served. A sink starts empty, and
// the changes arrive in order, so a start-up over N objects costs O(N) in all, not O(N) per
// call. The data plane implements it by updating an immutable route table and swapping it in
// atomically. UpdateRegistrations must not block for long and must not retain the slices.
type Sink interface {
	UpdateRegistrations(set []Registration, removed []GroupVersion)
}
