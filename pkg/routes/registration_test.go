package routes

import (
	"testing"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
)

func TestRegistrationEqual(t *testing.T) {
	get, post := v0alpha1.DataPlaneServiceServiceMethodGET, v0alpha1.DataPlaneServiceServiceMethodPOST
	p1, p1b, p2 := "/a", "/a", "/b"
	base := func() Registration {
		return Registration{Name: "n", UID: "u", Generation: 1, PluginID: "p", PluginType: PluginTypeDatasource,
			Group: "g", Version: "v1", Services: []v0alpha1.DataPlaneServiceService{
				{Type: v0alpha1.DataPlaneServiceServiceTypeQuery},
				{Type: v0alpha1.DataPlaneServiceServiceTypeRoute, Method: &get, Path: &p1},
			}}
	}
	for name, c := range map[string]struct {
		change func(*Registration)
		equal  bool
	}{
		"same":                     {func(*Registration) {}, true},
		"same path in another var": {func(r *Registration) { r.Services[1].Path = &p1b }, true},
		"name":                     {func(r *Registration) { r.Name = "m" }, false},
		"uid":                      {func(r *Registration) { r.UID = "w" }, false},
		"generation":               {func(r *Registration) { r.Generation = 2 }, false},
		"plugin":                   {func(r *Registration) { r.PluginID = "q" }, false},
		"plugin type":              {func(r *Registration) { r.PluginType = PluginTypeApp }, false},
		"group":                    {func(r *Registration) { r.Group = "h" }, false},
		"version":                  {func(r *Registration) { r.Version = "v2" }, false},
		"route path":               {func(r *Registration) { r.Services[1].Path = &p2 }, false},
		"route method":             {func(r *Registration) { r.Services[1].Method = &post }, false},
		"route method removed":     {func(r *Registration) { r.Services[1].Method = nil }, false},
		"service type":             {func(r *Registration) { r.Services[0].Type = v0alpha1.DataPlaneServiceServiceTypeHealth }, false},
		"service added": {func(r *Registration) {
			r.Services = append(r.Services, v0alpha1.DataPlaneServiceService{Type: "health"})
		}, false},
		"services in another order": {func(r *Registration) { r.Services[0], r.Services[1] = r.Services[1], r.Services[0] }, false},
	} {
		r := base()
		c.change(&r)
		if got := base().Equal(r); got != c.equal {
			t.Errorf("%s: Equal = %v, want %v", name, got, c.equal)
		}
	}
}
