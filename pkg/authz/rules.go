package authz

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/provisioning"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

// PublicPaths answer without credentials (probes and version), like Kubernetes'
// system:public-info-viewer role.
var PublicPaths = []string{"/livez", "/readyz", "/healthz", "/version"}

// IsPublicPath reports whether p is one of PublicPaths or below one.
func IsPublicPath(p string) bool {
	for _, pp := range PublicPaths {
		if p == pp || strings.HasPrefix(p, pp+"/") {
			return true
		}
	}
	return false
}

// Options configure an Authorizer.
type Options struct {
	// WebhookGroup members may call admission and conversion routes ("": server admins only).
	WebhookGroup string
	// ServiceAdminGroup members may create, change and delete DataPlaneServices besides
	// server admins ("": server admins only), e.g. grafana:org:1:Admin.
	ServiceAdminGroup string
	// Delegating: requests for other API groups go to --delegate-url, which authorizes them
	// itself; otherwise they are refused.
	Delegating bool
	// AnonymousConversionGroups are the data-plane API groups whose conversion route takes
	// calls without credentials: a kube-apiserver calls CRD conversion webhooks without any
	// (it has no setting to send them). Nothing else of these groups is open.
	AnonymousConversionGroups []string
	// Delegate, when set, is asked about a request to the resource API that dpa's own rules
	// do not allow (the kube-apiserver's RBAC, --authorization-kubeconfig). It is never asked
	// about data-plane routes, impersonation, Plugin writes or anonymous requests, which stay
	// dpa's alone.
	Delegate authorizer.Authorizer
	// InternalUID is the per-process UID of dpa's own identity (InternalUser), the only one
	// that may write Plugin objects ("": nobody may).
	InternalUID string
}

// InternalUser is dpa's own identity for the objects only dpa writes (Plugin): a token that
// exists only in the process's memory, sent over the loopback connection, with a random UID
// per process (Options.InternalUID). Nobody may impersonate it.
const InternalUser = "system:dpa:internal"

// PluginsResource is the read-only resource of installed plugins.
const PluginsResource = "plugins"

// isInternal reports whether u is this process's own identity.
func (a *Authorizer) isInternal(u user.Info) bool {
	return a.opts.InternalUID != "" && u.GetName() == InternalUser && u.GetUID() == a.opts.InternalUID
}

// Authorizer applies the rules of every route with the current Policy. It is the API
// server's authorizer (authorizer.Authorizer) and the data plane's (AuthorizeDataPlane).
//
// A data-plane request is recognised by the routes.Match its context carries (the data
// plane's one decision about the request): the API server's filter lets it pass, and the
// data plane authorizes its route with AuthorizeDataPlane. Access reviews have no request;
// they ask the data plane's view (WithDataPlane) whether a group is a data-plane group.
type Authorizer struct {
	opts Options
	// policy is shared by the Authorizers WithDataPlane derives, so one SetPolicy reaches
	// all of them.
	policy *atomic.Pointer[Policy]
	// dataPlane answers access reviews' "is this a data-plane group?" (nil: none is).
	dataPlane DataPlaneGroups
}

// DataPlaneGroups is the data plane's view access reviews need: whether it serves
// group/version (version "": any version, as reviews may ask). pkg/dataplane's Handler
// satisfies it; authz owns the interface so that it imports nothing of the data plane.
type DataPlaneGroups interface {
	Registered(group, version string) bool
}

// DataPlaneGroupsFunc adapts a function to DataPlaneGroups.
type DataPlaneGroupsFunc func(group, version string) bool

// Registered implements DataPlaneGroups.
func (f DataPlaneGroupsFunc) Registered(group, version string) bool { return f(group, version) }

// New returns an Authorizer with Grafana's default policy.
func New(opts Options) *Authorizer {
	a := &Authorizer{opts: opts, policy: new(atomic.Pointer[Policy])}
	a.policy.Store(DefaultPolicy())
	return a
}

// WithDataPlane returns an Authorizer with a's rules and policy (SetPolicy on either sets
// both) whose access reviews know the data plane's groups from dp. The data plane is built
// with a (it authorizes its routes with it) and then given here: an order without a cycle
// and without a pointer set later.
func (a *Authorizer) WithDataPlane(dp DataPlaneGroups) *Authorizer {
	return &Authorizer{opts: a.opts, policy: a.policy, dataPlane: dp}
}

// SetPolicy swaps the policy in (after a reload of the access-control files).
func (a *Authorizer) SetPolicy(p *Policy) { a.policy.Store(p) }

// Policy is the current policy.
func (a *Authorizer) Policy() *Policy { return a.policy.Load() }

var readVerbs = []string{"get", "list", "watch"}

// Authorize implements authorizer.Authorizer: the rules of the resource API, discovery,
// /metrics, /debug, impersonation and the self-reviews. Reasons are what the 403 Status
// shows after Kubernetes' "User … cannot …".
func (a *Authorizer) Authorize(ctx context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	d, reason, err := a.rules(ctx, attrs)
	if d == authorizer.DecisionAllow || a.opts.Delegate == nil || !delegable(ctx, attrs) {
		return d, reason, err
	}
	dd, dreason, derr := a.opts.Delegate.Authorize(ctx, attrs)
	if dd == authorizer.DecisionAllow {
		return authorizer.DecisionAllow, "", nil
	}
	if derr != nil {
		dreason = derr.Error()
	}
	if dreason == "" {
		dreason = "no RBAC rule allows this"
	}
	return authorizer.DecisionDeny, reason + "; the cluster: " + dreason, nil
}

// delegable reports whether the Delegate may decide attrs: requests to the resource API and
// other paths by an authenticated user, never a data-plane route (dpa's rules decide them
// once the route is known), impersonation or a Plugin write.
func delegable(ctx context.Context, attrs authorizer.Attributes) bool {
	u := attrs.GetUser()
	if u == nil || u.GetName() == user.Anonymous || attrs.GetVerb() == "impersonate" {
		return false
	}
	if _, ok := routes.MatchFrom(ctx); ok {
		return false
	}
	return !(attrs.IsResourceRequest() && attrs.GetAPIGroup() == v0alpha1.GroupVersion.Group && attrs.GetResource() == PluginsResource)
}

// rules are dpa's own rules.
func (a *Authorizer) rules(ctx context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	u := attrs.GetUser()
	if u == nil {
		return authorizer.DecisionDeny, "no user", nil
	}
	if u.GetName() == user.Anonymous {
		if !attrs.IsResourceRequest() && attrs.IsReadOnly() && IsPublicPath(attrs.GetPath()) {
			return authorizer.DecisionAllow, "", nil
		}
		if m, ok := routes.MatchFrom(ctx); ok && m.Service != nil && a.anonymousConversion(m.Group, m.Service.Type) {
			return authorizer.DecisionAllow, "the data plane authorizes its routes", nil
		}
		return authorizer.DecisionDeny, "anonymous access is limited to " + strings.Join(PublicPaths, ", "), nil
	}
	s := SubjectOf(u)
	if attrs.GetVerb() == "impersonate" {
		return a.impersonate(s, attrs)
	}
	// Plugins mirror the plugin host (process ids, errors, paths): readable by those who may
	// read DataPlaneServices — a role in an org, or a server admin — and written by dpa alone,
	// not even by server admins, so this rule comes before theirs.
	if attrs.IsResourceRequest() && attrs.GetAPIGroup() == v0alpha1.GroupVersion.Group && attrs.GetResource() == PluginsResource {
		switch {
		case a.isInternal(u):
			return authorizer.DecisionAllow, "", nil
		case !slices.Contains(readVerbs, attrs.GetVerb()):
			return authorizer.DecisionDeny, "plugins are read-only: dpa writes them from its plugin host", nil
		case s.ServerAdmin || len(s.Orgs) > 0:
			return authorizer.DecisionAllow, "", nil
		}
		return authorizer.DecisionDeny, "reading plugins needs a role in an org (group grafana:org:<id>:<role>)", nil
	}
	if s.ServerAdmin {
		return authorizer.DecisionAllow, "", nil
	}
	if !attrs.IsResourceRequest() {
		return a.nonResource(s, attrs.GetPath())
	}
	group, resource := attrs.GetAPIGroup(), attrs.GetResource()
	switch {
	case group == v0alpha1.GroupVersion.Group && resource == "dataplaneservices":
		if attrs.GetSubresource() == "" && slices.Contains(readVerbs, attrs.GetVerb()) {
			if len(s.Orgs) > 0 {
				return authorizer.DecisionAllow, "", nil
			}
			return authorizer.DecisionDeny, "reading DataPlaneServices needs a role in an org (group grafana:org:<id>:<role>)", nil
		}
		if ok, needs := adminOr(s, a.opts.ServiceAdminGroup); !ok {
			return authorizer.DecisionDeny, "changing DataPlaneServices " + needs, nil
		}
		return authorizer.DecisionAllow, "", nil
	case group == "authentication.k8s.io" && resource == "selfsubjectreviews",
		group == "authorization.k8s.io" && (resource == "selfsubjectaccessreviews" || resource == "selfsubjectrulesreviews"):
		if attrs.GetVerb() == "create" {
			return authorizer.DecisionAllow, "", nil
		}
	case isDataPlaneRequest(ctx, group, attrs.GetAPIVersion()):
		return authorizer.DecisionAllow, "the data plane authorizes its routes", nil
	case group != v0alpha1.GroupVersion.Group && a.opts.Delegating:
		return authorizer.DecisionAllow, "the delegate authorizes", nil
	}
	return authorizer.DecisionDeny, "no rule allows this", nil
}

// anonymousConversion reports whether a call of service type t in group may come without
// credentials (Options.AnonymousConversionGroups).
func (a *Authorizer) anonymousConversion(group string, t routes.ServiceType) bool {
	return t == v0alpha1.DataPlaneServiceServiceTypeConversion && slices.Contains(a.opts.AnonymousConversionGroups, group)
}

// AnonymousAllowed reports whether r may be served without credentials: the public paths
// (probes, version) and the conversion route of a group in AnonymousConversionGroups (the
// request carries the data plane's match). The request authenticator asks it.
func (a *Authorizer) AnonymousAllowed(r *http.Request) bool {
	if IsPublicPath(r.URL.Path) {
		return true
	}
	m, ok := routes.MatchFrom(r.Context())
	return ok && m.Service != nil && r.Method == http.MethodPost && a.anonymousConversion(m.Group, m.Service.Type)
}

// isDataPlaneRequest reports whether the request carries the data plane's match for
// group/version: the data plane took it and authorizes its route itself (AuthorizeDataPlane,
// once the namespace and datasource are known).
func isDataPlaneRequest(ctx context.Context, group, version string) bool {
	m, ok := routes.MatchFrom(ctx)
	return ok && m.Group == group && m.Version == version
}

func (a *Authorizer) nonResource(s Subject, path string) (authorizer.Decision, string, error) {
	switch {
	case path == "/metrics":
		if ok, needs := adminOr(s, MonitoringGroup); !ok {
			return authorizer.DecisionDeny, "/metrics " + needs, nil
		}
		return authorizer.DecisionAllow, "", nil
	case path == "/debug" || strings.HasPrefix(path, "/debug/"):
		return authorizer.DecisionDeny, "/debug needs a server admin", nil
	case IsPublicPath(path), path == "/api", path == "/apis", strings.HasPrefix(path, "/apis/"),
		path == "/openapi" || strings.HasPrefix(path, "/openapi/"):
		// Discovery (system:discovery in Kubernetes). /apis/<group>/<version> of a plugin
		// group is the data plane's discovery route, open to the same users.
		return authorizer.DecisionAllow, "", nil
	case a.opts.Delegating:
		return authorizer.DecisionAllow, "the delegate authorizes", nil
	}
	return authorizer.DecisionDeny, "no rule allows this path", nil
}

// adminOr is the rule "a server admin or a member of group" ("": server admins only): whether
// s passes, and else what it needs.
func adminOr(s Subject, group string) (bool, string) {
	switch {
	case s.ServerAdmin || (group != "" && s.inGroup(group)):
		return true, ""
	case group != "":
		return false, "needs a server admin or group " + group
	}
	return false, "needs a server admin"
}

// privilegedGroup can never be impersonated by the impersonator group (system:masters and
// system:monitoring are system: groups).
func privilegedGroup(g string) bool {
	return strings.HasPrefix(g, "system:") || g == ServerAdminGroup || g == ImpersonatorGroup
}

// impersonate is Kubernetes' impersonate verb: server admins may impersonate anyone. Members
// of ImpersonatorGroup (the Grafana app plugin's backend) may impersonate a user with org
// role and team groups, never a privileged group or extra.
func (a *Authorizer) impersonate(s Subject, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	if (attrs.GetResource() == "users" && attrs.GetName() == InternalUser) || (attrs.GetResource() == "uids" && a.opts.InternalUID != "" && attrs.GetName() == a.opts.InternalUID) {
		return authorizer.DecisionDeny, "nobody may impersonate dpa's internal identity", nil
	}
	if s.ServerAdmin {
		return authorizer.DecisionAllow, "", nil
	}
	if !s.inGroup(ImpersonatorGroup) {
		return authorizer.DecisionDeny, "impersonation needs a server admin", nil
	}
	switch attrs.GetResource() {
	case "users", "uids":
		return authorizer.DecisionAllow, "", nil
	case "groups":
		if !privilegedGroup(attrs.GetName()) {
			return authorizer.DecisionAllow, "", nil
		}
	}
	return authorizer.DecisionDeny, fmt.Sprintf("group %s may impersonate users, org roles and teams only", ImpersonatorGroup), nil
}

// DataPlaneRequest is a data-plane request whose route has been matched.
type DataPlaneRequest struct {
	Group, Version string
	// Type is the service type; Access its rule (routes.Service.Access).
	Type   routes.ServiceType
	Access routes.Access
	// Verb is what the caller does: "query", "get", "call" (resource, route, proxy),
	// "subscribe", "publish", "list", "admit", "convert".
	Verb      string
	Namespace string
	// Org is the namespace's org (0: no namespace).
	Org int64
	UID string
}

// DataPlaneRequestOf is the request the data plane's match describes: its type's access
// rule and verb come from the type's row.
func DataPlaneRequestOf(m *routes.Match) DataPlaneRequest {
	r := DataPlaneRequest{Group: m.Group, Version: m.Version, Verb: m.Verb, Namespace: m.Namespace, Org: m.Org, UID: m.UID}
	if m.Service != nil {
		r.Type, r.Access = m.Service.Type, m.Service.Access
	}
	return r
}

// Denied is a refused data-plane request; Error is the 403 Status message.
type Denied struct{ msg string }

func (d *Denied) Error() string { return d.msg }

func (r DataPlaneRequest) what() string {
	switch {
	case r.UID != "":
		return fmt.Sprintf("datasource %q in namespace %q (%s of %s/%s)", r.UID, r.Namespace, r.Type, r.Group, r.Version)
	case r.Namespace != "":
		return fmt.Sprintf("namespace %q (%s of %s/%s)", r.Namespace, r.Type, r.Group, r.Version)
	}
	return fmt.Sprintf("%s of %s/%s", r.Type, r.Group, r.Version)
}

// AuthorizeDataPlane applies the service type's access rule to s (SubjectOf the caller,
// read once per request). nil means allowed.
func (a *Authorizer) AuthorizeDataPlane(s Subject, r DataPlaneRequest) *Denied {
	if s.ServerAdmin {
		return nil
	}
	deny := func(reason string, args ...any) *Denied {
		return &Denied{msg: fmt.Sprintf("User %q cannot %s %s: %s", s.Login, r.Verb, r.what(), fmt.Sprintf(reason, args...))}
	}
	switch r.Access {
	case routes.AccessAuthenticated:
		return nil
	case routes.AccessWebhook:
		if s.Login == user.Anonymous {
			if a.anonymousConversion(r.Group, r.Type) {
				return nil
			}
			return deny("only the conversion route of an API group in --anonymous-conversion-groups takes calls without credentials")
		}
		if ok, needs := adminOr(s, a.opts.WebhookGroup); !ok {
			return deny("%s", needs)
		}
		return nil
	case routes.AccessMonitoring:
		if ok, needs := adminOr(s, MonitoringGroup); !ok {
			return deny("%s", needs)
		}
		return nil
	case routes.AccessDatasourceRead, routes.AccessPluginCall:
		if r.Namespace == "" {
			return deny("routes outside a namespace need a server admin")
		}
		if !s.MemberOf(r.Org) {
			return deny("no role in org %d (group %s)", r.Org, OrgRoleGroup(r.Org, RoleViewer))
		}
		if r.UID == "" {
			return nil // membership: app routes, namespaced routes, datasource lists (filtered)
		}
		action := ActionDatasourcesQuery
		if r.Access == routes.AccessDatasourceRead {
			action = ActionDatasourcesRead
		}
		if a.Policy().Can(s, r.Org, action, DatasourceScope(r.UID)) {
			return nil
		}
		return deny("needs %s on %s in org %d", action, DatasourceScope(r.UID), r.Org)
	}
	return deny("no rule allows this")
}

// CanReadDatasource reports whether s may see datasource uid of org in lists.
func (a *Authorizer) CanReadDatasource(s Subject, org int64, uid string) bool {
	return a.Policy().Can(s, org, ActionDatasourcesRead, DatasourceScope(uid))
}

// Review answers "may this user do this?" for SelfSubjectAccessReview (kubectl auth can-i,
// the UI): Authorize's rules, and for a data-plane group the rule of the route the
// attributes name, with the match a request for it would get (reviewMatch). Resources of a
// data-plane group read as the request paths do: each service type's routes.Service.Resource
// — datasources (list, get) and datasources/<query|health|resource|stream|proxy> with the
// uid as name (connections/query too), health, resource and stream in a namespace (app
// plugins), metrics, admission and conversion; anything else is a custom route.
func (a *Authorizer) Review(ctx context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	if !attrs.IsResourceRequest() || attrs.GetVerb() == "impersonate" || a.dataPlane == nil ||
		!a.dataPlane.Registered(attrs.GetAPIGroup(), attrs.GetAPIVersion()) {
		return a.Authorize(ctx, attrs)
	}
	m := reviewMatch(attrs)
	if m.NamespaceErr != nil {
		return authorizer.DecisionDeny, m.NamespaceErr.Error(), nil
	}
	if d := a.AuthorizeDataPlane(SubjectOf(attrs.GetUser()), DataPlaneRequestOf(m)); d != nil {
		return authorizer.DecisionDeny, d.Error(), nil
	}
	return authorizer.DecisionAllow, "", nil
}

// reviewMatch is the routes.Match the data plane would make for a request doing what attrs
// name: the service type whose row's Resource they name (a custom route when none does), its
// verb for the HTTP method of the Kubernetes verb, the namespace's org and the datasource.
func reviewMatch(attrs authorizer.Attributes) *routes.Match {
	m := &routes.Match{Group: attrs.GetAPIGroup(), Version: attrs.GetAPIVersion(), Namespace: attrs.GetNamespace()}
	if m.Namespace != "" {
		if info, err := provisioning.ParseNamespace(m.Namespace); err != nil {
			m.NamespaceErr = err
		} else {
			m.Org = info.OrgID
		}
	}
	res, sub := attrs.GetResource(), attrs.GetSubresource()
	name := res
	switch {
	case res == string(routes.Datasources) && sub == "":
		m.UID = attrs.GetName()
	case res == string(routes.Datasources) || res == "connections":
		name, m.UID = sub, attrs.GetName()
	}
	m.Service = serviceNamed(name)
	m.Verb = m.Service.VerbFor(methodOf[attrs.GetVerb()], attrs.GetVerb())
	return m
}

// serviceNamed is the row whose Resource is name, else the custom route's.
func serviceNamed(name string) *routes.Service {
	var route *routes.Service
	for _, list := range [][]routes.Service{routes.Own, routes.Services} {
		for i := range list {
			switch s := &list[i]; {
			case name != "" && s.Resource == name:
				return s
			case s.Type == v0alpha1.DataPlaneServiceServiceTypeRoute:
				route = s
			}
		}
	}
	return route
}

// methodOf is the HTTP method of each Kubernetes verb, as the API server derives the verb
// from the method.
var methodOf = map[string]string{
	"get": http.MethodGet, "list": http.MethodGet, "watch": http.MethodGet,
	"create": http.MethodPost, "update": http.MethodPut, "patch": http.MethodPatch,
	"delete": http.MethodDelete, "deletecollection": http.MethodDelete,
}
