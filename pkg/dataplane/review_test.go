package dataplane

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/authz"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

// TestReviewAgreesWithTheDataPlane: what `kubectl auth can-i` answers (authz.Review, through
// the attributes the API server's RequestInfo resolver derives from a request's path, as a
// user would name them) is what the data plane decides for that request (its match, then
// AuthorizeDataPlane) — the same decision and the same reason — for every endpoint of every
// service type, custom routes included, every method, and callers in every role. A type
// named one way in reviews and another in the data plane (once `proxy` against
// `datasource-proxy`) shows as differing reasons.
func TestReviewAgreesWithTheDataPlane(t *testing.T) {
	const group, app = "review.datasource.grafana.app", "review.app.grafana.app"
	h := New(Options{Plugins: PluginProviderFunc(nil)})
	t.Cleanup(h.Close)
	h.SetRegistrations([]routes.Registration{
		{Name: "ds", PluginID: "p", PluginType: routes.PluginTypeDatasource, Group: group, Version: "v1", Services: allServices(
			routeSvc(v0alpha1.DataPlaneServiceServiceMethodGET, "/namespaces/{ns}/things/{name}"),
			routeSvc(v0alpha1.DataPlaneServiceServiceMethodPOST, "/hooks/{path...}"),
		)},
		{Name: "app", PluginID: "a", PluginType: routes.PluginTypeApp, Group: app, Version: "v1", Services: allServices(
			routeSvc("", "/namespaces/{ns}/items/{id}"),
		)},
	})
	rules := authz.New(authz.Options{WebhookGroup: "webhook-callers"})
	reviews := rules.WithDataPlane(h)
	resolver := &request.RequestInfoFactory{APIPrefixes: sets.NewString("apis", "api"), GrouplessAPIPrefixes: sets.NewString("api")}
	users := map[string]user.Info{
		"server admin": &user.DefaultInfo{Name: "root", Groups: []string{authz.ServerAdminGroup}},
		"org 1 viewer": &user.DefaultInfo{Name: "vic", Groups: []string{authz.OrgRoleGroup(1, authz.RoleViewer)}},
		"org 2 editor": &user.DefaultInfo{Name: "ed", Groups: []string{authz.OrgRoleGroup(2, authz.RoleEditor)}},
		"no roles":     &user.DefaultInfo{Name: "nobody"},
		"monitoring":   &user.DefaultInfo{Name: "prom", Groups: []string{authz.MonitoringGroup}},
		"webhook":      &user.DefaultInfo{Name: "kube", Groups: []string{"webhook-callers"}},
	}

	// Every endpoint of every row, for both plugin types, and the custom routes.
	type call struct{ gv, method, path string }
	var calls []call
	fill := strings.NewReplacer("{uid}", "ds1", "{path...}", "x/y", "{ns}", "org-2", "{name}", "t1", "{id}", "7")
	for _, s := range routes.All() {
		for _, ep := range s.Endpoints {
			gv := group + "/v1"
			if ep.PluginType == routes.PluginTypeApp {
				gv = app + "/v1"
			}
			methods := ep.Methods
			if methods == nil {
				methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete}
			}
			for _, ns := range []string{"default", "org-2"} {
				p := fill.Replace(strings.ReplaceAll(ep.Path, "{namespace}", ns))
				for _, m := range methods {
					calls = append(calls, call{gv, m, p})
				}
				if !strings.Contains(ep.Path, "{namespace}") {
					break
				}
			}
		}
	}
	calls = append(calls, call{group + "/v1", http.MethodGet, fill.Replace("/namespaces/{ns}/things/{name}")},
		call{group + "/v1", http.MethodPost, fill.Replace("/hooks/{path...}")},
		call{app + "/v1", http.MethodDelete, fill.Replace("/namespaces/{ns}/items/{id}")})

	types := map[routes.ServiceType]bool{}
	for _, c := range calls {
		target := "/apis/" + c.gv + strings.TrimSuffix(c.path, "/")
		req := httptest.NewRequest(c.method, target, nil)
		m, ok := h.Match(req)
		if !ok || m.Service == nil {
			t.Errorf("%s %s: the data plane matched no route", c.method, target)
			continue
		}
		types[m.Service.Type] = true
		ri, err := resolver.NewRequestInfo(req)
		if err != nil {
			t.Fatal(err)
		}
		for who, u := range users {
			name := fmt.Sprintf("%s %s as %s (%s)", c.method, target, who, m.Service.Type)
			attrs := authorizer.AttributesRecord{User: u, Verb: ri.Verb, Namespace: ri.Namespace, APIGroup: ri.APIGroup,
				APIVersion: ri.APIVersion, Resource: ri.Resource, Subresource: ri.Subresource, Name: ri.Name,
				ResourceRequest: ri.IsResourceRequest, Path: ri.Path}
			decision, reason, err := reviews.Review(context.Background(), attrs)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var want string
			if d := rules.AuthorizeDataPlane(authz.SubjectOf(u), authz.DataPlaneRequestOf(m)); d != nil {
				want = d.Error()
			}
			switch {
			case (decision == authorizer.DecisionAllow) != (want == ""):
				t.Errorf("%s: review %v (%s), the data plane %s", name, decision, reason, orAllowed(want))
			case want != "" && reason != want:
				t.Errorf("%s: review says\n\t%s\nthe data plane\n\t%s", name, reason, want)
			}
		}
	}
	for _, s := range routes.All() {
		if !types[s.Type] {
			t.Errorf("no call of type %s was compared", s.Type)
		}
	}
}

func orAllowed(denial string) string {
	if denial == "" {
		return "allows"
	}
	return "denies: " + denial
}
