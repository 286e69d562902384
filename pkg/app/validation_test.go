package app

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
)

func ptr[T any](v T) *T { return &v }

func validObject() *v0alpha1.DataPlaneService {
	return &v0alpha1.DataPlaneService{
		ObjectMeta: metav1.ObjectMeta{Name: "testdata"},
		Spec: v0alpha1.DataPlaneServiceSpec{
			PluginID:   "grafana-testdata-datasource",
			PluginType: "datasource",
			Group:      "testdata.datasource.grafana.app",
			Version:    "v0alpha1",
			Services: []v0alpha1.DataPlaneServiceService{
				{Type: "query"},
				{Type: "health"},
				{Type: "route", Method: ptr(v0alpha1.DataPlaneServiceServiceMethodGET), Path: ptr("/items/{id}")},
				{Type: "route", Method: ptr(v0alpha1.DataPlaneServiceServiceMethodPOST), Path: ptr("/items/{id}")},
				{Type: "route", Path: ptr("/files/{path...}")},
			},
		},
	}
}

type fakeClaims map[string][]string

func (f fakeClaims) ClaimedBy(group, version string) []string { return f[group+"/"+version] }

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*v0alpha1.DataPlaneService)
		claims ClaimLookup
		// want lists "field: type" pairs expected, in order; empty means valid.
		want []string
	}{
		{name: "valid with several routes", mutate: func(*v0alpha1.DataPlaneService) {}},
		{name: "app type", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.PluginType = "app" }},
		{name: "every service type", mutate: func(o *v0alpha1.DataPlaneService) {
			o.Spec.Services = nil
			for _, ty := range serviceTypes {
				s := v0alpha1.DataPlaneServiceService{Type: v0alpha1.DataPlaneServiceServiceType(ty)}
				if ty == "route" {
					s.Path = ptr("/")
				}
				o.Spec.Services = append(o.Spec.Services, s)
			}
		}},
		{name: "empty method on route means any", mutate: func(o *v0alpha1.DataPlaneService) {
			o.Spec.Services = []v0alpha1.DataPlaneServiceService{{Type: "route", Method: ptr(v0alpha1.DataPlaneServiceServiceMethodNone), Path: ptr("/x")}}
		}},
		{name: "missing pluginID", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.PluginID = "" }, want: []string{"spec.pluginID: Required value"}},
		{name: "upper-case pluginID", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.PluginID = "Grafana-X" }, want: []string{"spec.pluginID: Invalid value"}},
		{name: "pluginID with double dash", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.PluginID = "a--b" }, want: []string{"spec.pluginID: Invalid value"}},
		{name: "pluginID too long", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.PluginID = strings.Repeat("a", 64) }, want: []string{"spec.pluginID: Too long"}},
		{name: "missing pluginType", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.PluginType = "" }, want: []string{"spec.pluginType: Required value"}},
		{name: "panel pluginType", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.PluginType = "panel" }, want: []string{"spec.pluginType: Unsupported value"}},
		{name: "missing group", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.Group = "" }, want: []string{"spec.group: Required value"}},
		{name: "group not DNS-1123", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.Group = "Test_Data" }, want: []string{"spec.group: Invalid value"}},
		{name: "dpa's own group", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.Group = "aggregation.grafana.app" }, want: []string{"spec.group: Forbidden: group aggregation.grafana.app is served by dpa itself"}},
		{name: "the self reviews' group", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.Group = "authorization.k8s.io" }, want: []string{"spec.group: Forbidden: group authorization.k8s.io is served by dpa itself"}},
		{name: "a *.k8s.io group", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.Group = "apiregistration.k8s.io" }, want: []string{"spec.group: Forbidden: group apiregistration.k8s.io is a built-in Kubernetes API group"}},
		{name: "a built-in group without k8s.io", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.Group = "apps" }, want: []string{"spec.group: Forbidden: group apps is a built-in Kubernetes API group"}},
		{name: "missing version", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.Version = "" }, want: []string{"spec.version: Required value"}},
		{name: "version not DNS-1035", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.Version = "0alpha1" }, want: []string{"spec.version: Invalid value"}},
		{name: "no services", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.Services = nil }, want: []string{"spec.services: Required value"}},
		{name: "unknown service type", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.Services[0].Type = "graphql" }, want: []string{"spec.services[0].type: Unsupported value"}},
		{name: "method on non-route", mutate: func(o *v0alpha1.DataPlaneService) {
			o.Spec.Services[0].Method = ptr(v0alpha1.DataPlaneServiceServiceMethodGET)
		}, want: []string{"spec.services[0].method: Forbidden"}},
		{name: "path on non-route", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.Services[1].Path = ptr("/x") }, want: []string{"spec.services[1].path: Forbidden"}},
		{name: "route without path", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.Services[2].Path = nil }, want: []string{"spec.services[2].path: Required value"}},
		{name: "route method not allowed", mutate: func(o *v0alpha1.DataPlaneService) {
			o.Spec.Services[2].Method = ptr(v0alpha1.DataPlaneServiceServiceMethod("HEAD"))
		}, want: []string{"spec.services[2].method: Unsupported value"}},
		{name: "route path without slash", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.Services[2].Path = ptr("items") }, want: []string{"spec.services[2].path: Invalid value"}},
		{name: "catch-all not last", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.Services[2].Path = ptr("/{rest...}/x") }, want: []string{"spec.services[2].path: Invalid value"}},
		{name: "placeholder twice", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.Services[2].Path = ptr("/{id}/{id}") }, want: []string{"spec.services[2].path: Invalid value"}},
		{name: "partial placeholder", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.Services[2].Path = ptr("/item-{id}") }, want: []string{"spec.services[2].path: Invalid value"}},
		{name: "dot-dot segment", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.Services[2].Path = ptr("/a/../b") }, want: []string{"spec.services[2].path: Invalid value"}},
		{name: "trailing slash", mutate: func(o *v0alpha1.DataPlaneService) { o.Spec.Services[2].Path = ptr("/a/") }, want: []string{"spec.services[2].path: Invalid value"}},
		{name: "duplicate route", mutate: func(o *v0alpha1.DataPlaneService) {
			o.Spec.Services[3].Method = ptr(v0alpha1.DataPlaneServiceServiceMethodGET)
		}, want: []string{"spec.services[3]: Duplicate value"}},
		{name: "duplicate query", mutate: func(o *v0alpha1.DataPlaneService) {
			o.Spec.Services = append(o.Spec.Services, v0alpha1.DataPlaneServiceService{Type: "query"})
		}, want: []string{"spec.services[5]: Duplicate value"}},
		{name: "group/version claimed by another", claims: fakeClaims{"testdata.datasource.grafana.app/v0alpha1": {"other"}}, mutate: func(*v0alpha1.DataPlaneService) {}, want: []string{"spec.group: Invalid value"}},
		{name: "own claim is fine", claims: fakeClaims{"testdata.datasource.grafana.app/v0alpha1": {"testdata"}}, mutate: func(*v0alpha1.DataPlaneService) {}},
		{name: "several errors at once", mutate: func(o *v0alpha1.DataPlaneService) {
			o.Spec.PluginID = ""
			o.Spec.Version = "V1"
		}, want: []string{"spec.pluginID: Required value", "spec.version: Invalid value"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := validObject()
			tc.mutate(obj)
			errs := Validate(obj, tc.claims)
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors %v, want %v", len(errs), errs, tc.want)
			}
			for i, e := range errs {
				if !strings.HasPrefix(e.Error(), tc.want[i]) {
					t.Errorf("error %d = %q, want it to start with %q", i, e.Error(), tc.want[i])
				}
			}
		})
	}
}
