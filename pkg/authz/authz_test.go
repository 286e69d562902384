package authz

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

var (
	serverAdmin = &user.DefaultInfo{Name: "root", Groups: []string{ServerAdminGroup}}
	adminToken  = &user.DefaultInfo{Name: "admin", Groups: []string{user.SystemPrivilegedGroup}}
	org1Admin   = &user.DefaultInfo{Name: "ada", Groups: []string{OrgRoleGroup(1, RoleAdmin)}}
	org1Editor  = &user.DefaultInfo{Name: "ed", Groups: []string{OrgRoleGroup(1, RoleEditor)}}
	org1Viewer  = &user.DefaultInfo{Name: "vic", Groups: []string{OrgRoleGroup(1, RoleViewer), "team-a"}}
	org2Viewer  = &user.DefaultInfo{Name: "otto", Groups: []string{OrgRoleGroup(2, RoleViewer)}}
	noRoles     = &user.DefaultInfo{Name: "nobody", Groups: []string{user.AllAuthenticated}}
	monitor     = &user.DefaultInfo{Name: "prom", Groups: []string{MonitoringGroup}}
	apiserver   = &user.DefaultInfo{Name: "kube", Groups: []string{"webhook-callers"}}
	plugin      = &user.DefaultInfo{Name: "grafana-app", Groups: []string{ImpersonatorGroup}}
	anonymous   = &user.DefaultInfo{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}
	internal    = &user.DefaultInfo{Name: InternalUser, UID: internalUID, Groups: []string{user.AllAuthenticated}}
	// impostor has the internal identity's name (a token file or a certificate may say
	// anything) but not this process's UID.
	impostor = &user.DefaultInfo{Name: InternalUser, UID: "guessed", Groups: []string{user.AllAuthenticated, user.SystemPrivilegedGroup}}
)

const internalUID = "3f1c0c2e-internal"

func TestSubjectOf(t *testing.T) {
	s := SubjectOf(&user.DefaultInfo{Name: "x", Groups: []string{
		OrgRoleGroup(1, RoleViewer), OrgRoleGroup(1, RoleEditor), OrgRoleGroup(3, RoleAdmin),
		"grafana:org:0:Admin", "grafana:org:x:Admin", "grafana:org:4:Owner", "grafana:org:5",
	}})
	if s.ServerAdmin || len(s.Orgs) != 2 || s.Orgs[1] != RoleEditor || s.Orgs[3] != RoleAdmin {
		t.Errorf("subject = %+v", s)
	}
	for org, want := range map[int64]Role{1: RoleEditor, 2: RoleNone, 3: RoleAdmin} {
		if got := s.RoleIn(org); got != want {
			t.Errorf("RoleIn(%d) = %s, want %s", org, got, want)
		}
	}
	if r := SubjectOf(adminToken).RoleIn(7); r != RoleAdmin {
		t.Errorf("server admin's role = %s", r)
	}
}

// TestAuthorize is the rule table of the API server's authorizer.
func TestAuthorize(t *testing.T) {
	a := New(Options{InternalUID: internalUID}).WithDataPlane(DataPlaneGroupsFunc(func(g, v string) bool { return g == "example.datasource.grafana.app" }))
	res := func(verb, group, resource, sub string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{Verb: verb, APIGroup: group, APIVersion: "v1", Resource: resource, Subresource: sub, ResourceRequest: true}
	}
	path := func(verb, p string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{Verb: verb, Path: p}
	}
	imp := func(resource, name string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{Verb: "impersonate", Resource: resource, Name: name, ResourceRequest: true}
	}
	const dps = "aggregation.grafana.app"
	type key struct {
		who  string
		what string
	}
	users := map[string]user.Info{"serverAdmin": serverAdmin, "adminToken": adminToken, "org1Admin": org1Admin, "org1Viewer": org1Viewer,
		"org2Viewer": org2Viewer, "noRoles": noRoles, "monitor": monitor, "plugin": plugin, "anonymous": anonymous,
		"internal": internal, "impostor": impostor}
	requests := map[string]authorizer.AttributesRecord{
		"list dps":          res("list", dps, "dataplaneservices", ""),
		"watch dps":         res("watch", dps, "dataplaneservices", ""),
		"create dps":        res("create", dps, "dataplaneservices", ""),
		"delete dps":        res("delete", dps, "dataplaneservices", ""),
		"update dps status": res("update", dps, "dataplaneservices", "status"),
		"self review":       res("create", "authentication.k8s.io", "selfsubjectreviews", ""),
		"access review":     res("create", "authorization.k8s.io", "selfsubjectaccessreviews", ""),
		"data plane":        res("create", "example.datasource.grafana.app", "datasources", "query"),
		// The same request without the data plane's match (the generic chain, which the data
		// plane does not serve), or with another group/version's: no rule lets it pass.
		"data plane, no match":     res("create", "example.datasource.grafana.app", "datasources", "query"),
		"data plane, other match":  res("create", "example.datasource.grafana.app", "datasources", "query"),
		"other group":              res("get", "other.grafana.app", "things", ""),
		"/metrics":                 path("get", "/metrics"),
		"/debug/pprof":             path("get", "/debug/pprof/heap"),
		"/debug/flags/v":           path("put", "/debug/flags/v"),
		"/apis":                    path("get", "/apis"),
		"/openapi/v3":              path("get", "/openapi/v3"),
		"/readyz":                  path("get", "/readyz"),
		"/unknown":                 path("get", "/unknown"),
		"/api/v1/pods":             path("get", "/api/v1/pods"),
		"impersonate user":         imp("users", "someone"),
		"impersonate org":          imp("groups", OrgRoleGroup(2, RoleViewer)),
		"impersonate admin":        imp("groups", ServerAdminGroup),
		"impersonate root":         imp("groups", user.SystemPrivilegedGroup),
		"impersonate extra":        imp("userextras", "scopes"),
		"impersonate internal":     imp("users", InternalUser),
		"impersonate internal uid": imp("uids", internalUID),
		// Plugins: read by everyone signed in, written by dpa's internal identity only.
		"list plugins":             res("list", dps, "plugins", ""),
		"watch plugins":            res("watch", dps, "plugins", ""),
		"get plugin":               res("get", dps, "plugins", ""),
		"get plugin status":        res("get", dps, "plugins", "status"),
		"create plugin":            res("create", dps, "plugins", ""),
		"update plugin":            res("update", dps, "plugins", ""),
		"patch plugin":             res("patch", dps, "plugins", ""),
		"delete plugin":            res("delete", dps, "plugins", ""),
		"deletecollection plugins": res("deletecollection", dps, "plugins", ""),
		"update plugin status":     res("update", dps, "plugins", "status"),
		"patch plugin status":      res("patch", dps, "plugins", "status"),
	}
	pluginWrites := []string{"create plugin", "update plugin", "patch plugin", "delete plugin", "deletecollection plugins", "update plugin status", "patch plugin status"}
	pluginReads := []string{"list plugins", "watch plugins", "get plugin", "get plugin status"}
	allowed := map[key]bool{}
	for _, who := range []string{"serverAdmin", "adminToken", "impostor"} {
		for what := range requests {
			// Server admins may do everything but write plugins or act as dpa itself.
			allowed[key{who, what}] = !slices.Contains(pluginWrites, what) && !strings.HasPrefix(what, "impersonate internal")
		}
	}
	for _, who := range []string{"org1Admin", "org1Viewer", "org2Viewer", "noRoles", "monitor", "plugin", "internal"} {
		for _, what := range []string{"self review", "access review", "data plane", "/apis", "/openapi/v3", "/readyz"} {
			allowed[key{who, what}] = true
		}
	}
	// Plugins (pids, errors, paths) are for those who may read DataPlaneServices: a role in
	// an org; identities without one (noRoles, monitor, the impersonating plugin) see none.
	for _, who := range []string{"org1Admin", "org1Viewer", "org2Viewer", "internal"} {
		for _, what := range pluginReads {
			allowed[key{who, what}] = true
		}
	}
	for _, what := range pluginWrites {
		allowed[key{"internal", what}] = true
	}
	for _, who := range []string{"org1Admin", "org1Viewer", "org2Viewer"} {
		allowed[key{who, "list dps"}], allowed[key{who, "watch dps"}] = true, true
	}
	allowed[key{"monitor", "/metrics"}] = true
	allowed[key{"plugin", "impersonate user"}], allowed[key{"plugin", "impersonate org"}] = true, true
	allowed[key{"anonymous", "/readyz"}] = true
	// With --delegate-url, what dpa does not serve goes to the delegate, which authorizes it;
	// dpa's own rules still hold for dpa's paths.
	del := New(Options{Delegating: true})
	for _, tc := range []struct {
		attrs authorizer.AttributesRecord
		want  authorizer.Decision
	}{
		{path("get", "/api/dashboards"), authorizer.DecisionAllow},
		{res("get", "other.grafana.app", "things", ""), authorizer.DecisionAllow},
		{path("get", "/metrics"), authorizer.DecisionDeny},
		{path("get", "/debug/pprof/"), authorizer.DecisionDeny},
		{res("create", dps, "dataplaneservices", ""), authorizer.DecisionDeny},
	} {
		tc.attrs.User = noRoles
		if d, reason, _ := del.Authorize(context.Background(), tc.attrs); d != tc.want {
			t.Errorf("delegating: %s %s%s = %v (%s)", tc.attrs.Verb, tc.attrs.Path, tc.attrs.Resource, d, reason)
		}
	}
	// --services-admin-group lets a group change DataPlaneServices, nothing more.
	b := New(Options{ServiceAdminGroup: OrgRoleGroup(1, RoleAdmin)})
	for _, tc := range []struct {
		u    user.Info
		verb string
		want authorizer.Decision
	}{{org1Admin, "create", authorizer.DecisionAllow}, {org1Admin, "delete", authorizer.DecisionAllow}, {org1Viewer, "create", authorizer.DecisionDeny}, {org2Viewer, "update", authorizer.DecisionDeny}} {
		attrs := res(tc.verb, dps, "dataplaneservices", "")
		attrs.User = tc.u
		if d, reason, _ := b.Authorize(context.Background(), attrs); d != tc.want {
			t.Errorf("service admin group: %s %s = %v (%s)", tc.u.GetName(), tc.verb, d, reason)
		}
	}

	// What the fast path carries for "data plane" (withDataPlaneFastPath in pkg/server).
	ctxOf := map[string]context.Context{
		"data plane":              routes.WithMatch(context.Background(), &routes.Match{Group: "example.datasource.grafana.app", Version: "v1"}),
		"data plane, other match": routes.WithMatch(context.Background(), &routes.Match{Group: "example.datasource.grafana.app", Version: "v2"}),
	}
	for who, u := range users {
		for what, attrs := range requests {
			attrs.User = u
			ctx := ctxOf[what]
			if ctx == nil {
				ctx = context.Background()
			}
			// Self access reviews (kubectl auth can-i, the UI) answer plugins with the same rule.
			if d, _, _ := a.Review(context.Background(), attrs); attrs.Resource == PluginsResource && (d == authorizer.DecisionAllow) != allowed[key{who, what}] {
				t.Errorf("review: %s %s: %v, want allowed=%v", who, what, d, allowed[key{who, what}])
			}
			d, reason, err := a.Authorize(ctx, attrs)
			if err != nil {
				t.Fatal(err)
			}
			if want := allowed[key{who, what}]; (d == authorizer.DecisionAllow) != want {
				t.Errorf("%s %s: %v (%s), want allowed=%v", who, what, d, reason, want)
			}
			if d != authorizer.DecisionAllow && reason == "" {
				t.Errorf("%s %s: a denial without a reason", who, what)
			}
		}
	}
}

// TestAuthorizeDataPlane is the rule of each data-plane access kind, with Grafana's default
// policy and with a provisioned restriction.
func TestAuthorizeDataPlane(t *testing.T) {
	dir := t.TempDir()
	writePolicy(t, dir, "restrict.yaml", `apiVersion: 2
roles:
  - uid: basic_viewer
    global: true
    permissions:
      - action: datasources:query
        scope: datasources:*
        state: absent
  - name: custom:query-prod
    orgId: 1
    permissions:
      - action: datasources:query
        scope: datasources:uid:prod
teams:
  - name: team-a
    orgId: 1
    roles:
      - name: custom:query-prod
users:
  - login: ed
    orgId: 1
    roles:
      - name: custom:query-prod
`)
	restricted, err := LoadPolicy(dir)
	if err != nil {
		t.Fatal(err)
	}
	req := func(access routes.Access, ns string, org int64, uid string) DataPlaneRequest {
		return DataPlaneRequest{Group: "g", Version: "v1", Type: "query", Access: access, Verb: "query", Namespace: ns, Org: org, UID: uid}
	}
	query := func(org int64, uid string) DataPlaneRequest {
		ns := map[int64]string{1: "default", 2: "org-2"}[org]
		return req(routes.AccessPluginCall, ns, org, uid)
	}
	for name, tc := range map[string]struct {
		u          user.Info
		r          DataPlaneRequest
		restricted bool
		deny       string // "" allowed
	}{
		"viewer queries a datasource of its org":   {u: org1Viewer, r: query(1, "prod")},
		"viewer queries another org's datasource":  {u: org1Viewer, r: query(2, "prod"), deny: `User "vic" cannot query datasource "prod" in namespace "org-2" (query of g/v1): no role in org 2 (group grafana:org:2:Viewer)`},
		"user without roles":                       {u: noRoles, r: query(1, "x"), deny: "no role in org 1"},
		"app route in own org":                     {u: org2Viewer, r: query(2, "")},
		"app route in another org":                 {u: org2Viewer, r: query(1, ""), deny: "no role in org 1"},
		"cluster route":                            {u: org1Admin, r: req(routes.AccessPluginCall, "", 0, ""), deny: "routes outside a namespace need a server admin"},
		"cluster route as server admin":            {u: serverAdmin, r: req(routes.AccessPluginCall, "", 0, "")},
		"restricted: viewer without a grant":       {u: org2Viewer, r: query(2, "prod"), restricted: true, deny: "needs datasources:query on datasources:uid:prod in org 2"},
		"restricted: team grant":                   {u: org1Viewer, r: query(1, "prod"), restricted: true},
		"restricted: team grant, other datasource": {u: org1Viewer, r: query(1, "dev"), restricted: true, deny: "needs datasources:query on datasources:uid:dev"},
		"restricted: user grant":                   {u: org1Editor, r: query(1, "prod"), restricted: true},
		"restricted: admin inherits viewer (none)": {u: org1Admin, r: query(1, "prod"), restricted: true, deny: "needs datasources:query"},
		"restricted: read is still granted":        {u: org2Viewer, r: req(routes.AccessDatasourceRead, "org-2", 2, "prod"), restricted: true},
		"metrics needs monitoring":                 {u: org1Admin, r: req(routes.AccessMonitoring, "", 0, ""), deny: "needs a server admin or group system:monitoring"},
		"metrics as monitoring":                    {u: monitor, r: req(routes.AccessMonitoring, "", 0, "")},
		"webhook as the API server":                {u: apiserver, r: req(routes.AccessWebhook, "", 0, "")},
		"webhook as an org admin":                  {u: org1Admin, r: req(routes.AccessWebhook, "", 0, ""), deny: "needs a server admin or group webhook-callers"},
		"discovery":                                {u: noRoles, r: req(routes.AccessAuthenticated, "", 0, "")},
		"datasource list of a non-member":          {u: noRoles, r: req(routes.AccessDatasourceRead, "default", 1, ""), deny: "no role in org 1"},
	} {
		a := New(Options{WebhookGroup: "webhook-callers"})
		if tc.restricted {
			a.SetPolicy(restricted)
		}
		d := a.AuthorizeDataPlane(SubjectOf(tc.u), tc.r)
		switch {
		case tc.deny == "" && d != nil:
			t.Errorf("%s: denied: %v", name, d)
		case tc.deny != "" && (d == nil || !strings.Contains(d.Error(), tc.deny)):
			t.Errorf("%s: %v, want a denial containing %q", name, d, tc.deny)
		}
	}
}

func writePolicy(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, AccessControlDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, AccessControlDir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLoadPolicyErrors: a broken file names itself and the field, and nothing is applied.
func TestLoadPolicyErrors(t *testing.T) {
	for name, tc := range map[string]struct{ content, want string }{
		"version":      {"apiVersion: 1\n", "access-control/p.yaml: apiVersion 1 is not supported"},
		"unknown key":  {"apiVersion: 2\nrolez: []\n", `access-control/p.yaml: error unmarshaling JSON: while decoding JSON: json: unknown field "rolez"`},
		"no action":    {"apiVersion: 2\nroles:\n  - name: r\n    permissions:\n      - scope: x\n", "access-control/p.yaml: roles[0].permissions[0].action: required"},
		"from":         {"apiVersion: 2\nroles:\n  - name: r\n    from:\n      - name: y\n", "roles[0].from: copying permissions"},
		"unknown role": {"apiVersion: 2\nteams:\n  - name: t\n    roles:\n      - name: missing\n", `access-control/p.yaml: teams[0].roles[0]: no role "missing" in org 1`},
		"no team name": {"apiVersion: 2\nteams:\n  - roles: []\n", "teams[0]: name (teams) or login (users) is required"},
		"bad yaml":     {"apiVersion: [\n", "access-control/p.yaml: error converting YAML to JSON"},
	} {
		dir := t.TempDir()
		writePolicy(t, dir, "p.yaml", tc.content)
		if _, err := LoadPolicy(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	if p, err := LoadPolicy(filepath.Join(t.TempDir(), "none")); err != nil || !p.Can(SubjectOf(org1Viewer), 1, ActionDatasourcesQuery, DatasourceScope("x")) {
		t.Errorf("no directory: %v (defaults must let members query)", err)
	}
}

// BenchmarkAuthorizeDataPlane is the per-request cost of the data plane's check.
func BenchmarkAuthorizeDataPlane(b *testing.B) {
	a := New(Options{})
	r := DataPlaneRequest{Group: "g", Version: "v1", Type: "query", Access: routes.AccessPluginCall, Verb: "query", Namespace: "default", Org: 1, UID: "prod"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if d := a.AuthorizeDataPlane(SubjectOf(org1Viewer), r); d != nil {
			b.Fatal(d)
		}
	}
}

// TestWithDataPlaneSharesThePolicy: the API server's authorizer (WithDataPlane) and the data
// plane's are one set of rules: a policy reload through either applies to both, and only
// the derived one knows the data plane's groups for access reviews.
func TestWithDataPlaneSharesThePolicy(t *testing.T) {
	base := New(Options{})
	derived := base.WithDataPlane(DataPlaneGroupsFunc(func(g, v string) bool { return g == "g" }))
	p := &Policy{}
	derived.SetPolicy(p)
	if base.Policy() != p {
		t.Error("a policy set on the derived authorizer does not reach the data plane's")
	}
	attrs := authorizer.AttributesRecord{User: org1Viewer, Verb: "create", APIGroup: "g", APIVersion: "v1", Namespace: "default",
		Resource: "datasources", Subresource: "query", Name: "prod", ResourceRequest: true}
	if d, reason, _ := base.Review(context.Background(), attrs); d == authorizer.DecisionAllow {
		t.Errorf("without the data plane's view a review allowed a data-plane call (%s)", reason)
	}
	derived.SetPolicy(DefaultPolicy())
	if d, reason, _ := derived.Review(context.Background(), attrs); d != authorizer.DecisionAllow {
		t.Errorf("review of a viewer's query: %v (%s)", d, reason)
	}
}

// TestAnonymousConversion: with --anonymous-conversion-groups, a call without credentials
// reaches the conversion route of those groups (a kube-apiserver's CRD conversion webhook)
// and nothing else: not admission of the same group, not conversion of another group, not a
// GET, not any other path.
func TestAnonymousConversion(t *testing.T) {
	a := New(Options{AnonymousConversionGroups: []string{"example.datasource.grafana.app"}, WebhookGroup: "kube-webhooks"})
	row := func(typ routes.ServiceType) *routes.Service {
		s, ok := routes.LookupService(typ)
		if !ok {
			t.Fatalf("no row for %s", typ)
		}
		return &s
	}
	conversion, admission := row(v0alpha1.DataPlaneServiceServiceTypeConversion), row(v0alpha1.DataPlaneServiceServiceTypeAdmission)
	anon := &user.DefaultInfo{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}
	for name, tc := range map[string]struct {
		method, path string
		match        *routes.Match
		want         bool
	}{
		"conversion of a listed group": {"POST", "/apis/example.datasource.grafana.app/v1/conversion", &routes.Match{Group: "example.datasource.grafana.app", Version: "v1", Service: conversion}, true},
		"admission of a listed group":  {"POST", "/apis/example.datasource.grafana.app/v1/admission/validate", &routes.Match{Group: "example.datasource.grafana.app", Version: "v1", Service: admission}, false},
		"conversion of another group":  {"POST", "/apis/other.grafana.app/v1/conversion", &routes.Match{Group: "other.grafana.app", Version: "v1", Service: conversion}, false},
		"GET of the conversion route":  {"GET", "/apis/example.datasource.grafana.app/v1/conversion", &routes.Match{Group: "example.datasource.grafana.app", Version: "v1", Service: conversion}, false},
		"no route matched (404)":       {"POST", "/apis/example.datasource.grafana.app/v1/nope", &routes.Match{Group: "example.datasource.grafana.app", Version: "v1"}, false},
		"the resource API":             {"POST", "/apis/aggregation.grafana.app/v0alpha1/dataplaneservices", nil, false},
		"a public path still (probes)": {"GET", "/readyz", nil, true},
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, nil)
			ctx := r.Context()
			if tc.match != nil {
				ctx = routes.WithMatch(ctx, tc.match)
			}
			r = r.WithContext(ctx)
			if got := a.AnonymousAllowed(r); got != tc.want {
				t.Errorf("AnonymousAllowed = %v, want %v", got, tc.want)
			}
			if tc.match == nil || tc.match.Service == nil || tc.method != "POST" {
				return // (the data plane answers 404/405 before it authorizes)
			}
			d := a.AuthorizeDataPlane(SubjectOf(anon), DataPlaneRequest{Group: tc.match.Group, Version: tc.match.Version,
				Type: tc.match.Service.Type, Access: tc.match.Service.Access, Verb: tc.match.Service.Verb})
			if (d == nil) != tc.want {
				t.Errorf("AuthorizeDataPlane = %v, want allowed=%v", d, tc.want)
			}
			if d != nil && !strings.Contains(d.Error(), "--anonymous-conversion-groups") {
				t.Errorf("the denial does not say how it opens: %v", d)
			}
		})
	}
	// Without the flag nobody anonymous reaches conversion.
	none := New(Options{})
	m := &routes.Match{Group: "example.datasource.grafana.app", Version: "v1", Service: conversion}
	r := httptest.NewRequest("POST", "/apis/example.datasource.grafana.app/v1/conversion", nil)
	if none.AnonymousAllowed(r.WithContext(routes.WithMatch(r.Context(), m))) {
		t.Error("anonymous conversion allowed without --anonymous-conversion-groups")
	}
}

// TestDelegate: with --authorization-kubeconfig the cluster's RBAC (the Delegate) is asked
// only about what dpa's own rules do not allow on the resource API; it can never open a
// Plugin write, impersonation, a data-plane route or anything to anonymous, and a denial says
// both sides.
func TestDelegate(t *testing.T) {
	var asked []string
	rbac := authorizer.AuthorizerFunc(func(_ context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
		asked = append(asked, attrs.GetVerb()+" "+attrs.GetResource())
		if attrs.GetUser().GetName() == "kube-user" && attrs.GetVerb() != "delete" {
			return authorizer.DecisionAllow, "", nil
		}
		return authorizer.DecisionNoOpinion, "RBAC: no rule", nil
	})
	a := New(Options{Delegate: rbac})
	kubeUser := &user.DefaultInfo{Name: "kube-user", Groups: []string{user.AllAuthenticated}}
	anon := &user.DefaultInfo{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}
	dps := func(u user.Info, verb string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: u, Verb: verb, APIGroup: v0alpha1.GroupVersion.Group, APIVersion: "v0alpha1", Resource: "dataplaneservices", ResourceRequest: true}
	}
	dataPlane := routes.WithMatch(context.Background(), &routes.Match{Group: "example.datasource.grafana.app", Version: "v1"})
	for name, tc := range map[string]struct {
		ctx   context.Context
		attrs authorizer.AttributesRecord
		allow bool
		asked bool
		why   string
	}{
		"dpa allows: the cluster is not asked":      {context.Background(), dps(org1Viewer, "list"), true, false, ""},
		"dpa denies, the cluster allows":            {context.Background(), dps(kubeUser, "create"), true, true, ""},
		"both deny: the reason says both":           {context.Background(), dps(kubeUser, "delete"), false, true, "changing DataPlaneServices needs a server admin; the cluster: RBAC: no rule"},
		"Plugin writes stay dpa's":                  {context.Background(), authorizer.AttributesRecord{User: kubeUser, Verb: "create", APIGroup: v0alpha1.GroupVersion.Group, Resource: PluginsResource, ResourceRequest: true}, false, false, "plugins are read-only"},
		"impersonation stays dpa's":                 {context.Background(), authorizer.AttributesRecord{User: kubeUser, Verb: "impersonate", Resource: "users", Name: "admin", ResourceRequest: true}, false, false, ""},
		"anonymous is never delegated":              {context.Background(), dps(anon, "list"), false, false, "anonymous access is limited"},
		"a data-plane request is not delegated":     {dataPlane, authorizer.AttributesRecord{User: noRoles, Verb: "create", APIGroup: "example.datasource.grafana.app", APIVersion: "v1", Resource: "datasources", ResourceRequest: true}, true, false, ""},
		"non-resource paths may be (e.g. /metrics)": {context.Background(), authorizer.AttributesRecord{User: kubeUser, Verb: "get", Path: "/metrics"}, true, true, ""},
	} {
		t.Run(name, func(t *testing.T) {
			asked = nil
			d, why, err := a.Authorize(tc.ctx, tc.attrs)
			if err != nil || (d == authorizer.DecisionAllow) != tc.allow || (len(asked) > 0) != tc.asked || !strings.Contains(why, tc.why) {
				t.Errorf("Authorize = %v %q %v (cluster asked: %v); want allow=%v asked=%v reason with %q", d, why, err, asked, tc.allow, tc.asked, tc.why)
			}
		})
	}
}

// TestRulesFor: `kubectl auth can-i --list` lists what Authorize allows on dpa's own
// resources and paths, per identity, and says it is incomplete (data-plane routes are asked
// one at a time).
func TestRulesFor(t *testing.T) {
	a := New(Options{})
	list := func(u user.Info) (map[string]string, []string, bool) {
		res, paths, incomplete, err := a.RulesFor(context.Background(), u, "default")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, r := range res {
			out[r.GetResources()[0]] = strings.Join(r.GetVerbs(), ",")
		}
		var ps []string
		for _, p := range paths {
			ps = append(ps, p.GetNonResourceURLs()[0])
		}
		return out, ps, incomplete
	}
	viewer, paths, incomplete := list(org1Viewer)
	if viewer["dataplaneservices"] != "get,list,watch" || viewer["plugins"] != "get,list,watch" || viewer["selfsubjectaccessreviews"] != "create" ||
		viewer["selfsubjectrulesreviews"] != "create" || !incomplete {
		t.Errorf("org viewer: %v (incomplete %v)", viewer, incomplete)
	}
	if slices.Contains(paths, "/metrics") || !slices.Contains(paths, "/apis/*") || !slices.Contains(paths, "/readyz") {
		t.Errorf("org viewer paths: %v", paths)
	}
	if none, _, _ := list(noRoles); none["dataplaneservices"] != "" || none["plugins"] != "" || none["selfsubjectaccessreviews"] != "create" {
		t.Errorf("no role: %v", none)
	}
	admin, adminPaths, _ := list(serverAdmin)
	if admin["dataplaneservices"] != strings.Join(listedVerbs, ",") || admin["plugins"] != "get,list,watch" || !slices.Contains(adminPaths, "/metrics") {
		t.Errorf("server admin: %v %v", admin, adminPaths)
	}
	if _, mon, _ := list(monitor); !slices.Contains(mon, "/metrics") {
		t.Errorf("monitoring: %v", mon)
	}
}
