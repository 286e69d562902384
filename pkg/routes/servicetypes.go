package routes

import (
	"net/http"
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
	// Timeout is the --timeout key bounding its plugin calls (streams: subscribe and publish).
	Timeout string
	// Endpoints are the paths it is served on, in the route grammar, relative to
	// /apis/{group}/{version}. The route type has none: its paths are the spec's.
	Endpoints []Endpoint
	// Access is who may call it (pkg/authz applies it).
	Access Access
	// Verb is what a call does, as the data plane's denials and access reviews (kubectl auth
	// can-i) name it: "query", "get", "call", … ("": the endpoint's Action, as datasources'
	// "list" and "get"). MethodVerbs overrides it per HTTP method (a stream: a GET subscribes,
	// a POST publishes). Read it with VerbFor.
	Verb        string
	MethodVerbs map[string]string
	// Resource is the type's name in access reviews: the subresource of datasources (or
	// connections) for its datasource endpoints ("query" for datasources/query), the resource
	// in a namespace or outside one for the others ("health", "metrics"). "": reviews cannot
	// name it (a custom route is whatever else a review names; discovery is a path).
	Resource string
	// Discovery is how the type shows in its group/version's discovery document (datasource
	// plugins only, as Grafana lists them; nil: not listed).
	Discovery *DiscoveryEntry
}

// DiscoveryEntry is a service type's entry in a group/version's APIResourceList.
type DiscoveryEntry struct {
	// Name is the resource ("datasources") or resource/subresource ("datasources/query").
	Name         string
	SingularName string
	// Verbs are the Kubernetes verbs it answers.
	Verbs []string
}

// VerbFor is the verb of a call with HTTP method (HEAD as GET) to an endpoint with action
// (see Verb).
func (s Service) VerbFor(method, action string) string {
	if method == http.MethodHead {
		method = http.MethodGet
	}
	if v, ok := s.MethodVerbs[method]; ok {
		return v
	}
	if s.Verb == "" {
		return action
	}
	return s.Verb
}

// Access is the access rule of a service type, applied by pkg/authz.
type Access string

// The access rules.
const (
	// AccessPluginCall: a call about a datasource needs datasources:query on it; one in a
	// namespace without a datasource (app plugins, namespaced custom routes) needs membership
	// of the namespace's org; one outside any namespace needs a server admin.
	AccessPluginCall Access = "plugin-call"
	// AccessDatasourceRead: datasources:read on each datasource (lists show only those).
	AccessDatasourceRead Access = "datasource-read"
	// AccessWebhook: the API server calling in (admission, conversion): a server admin or a
	// member of --webhook-group.
	AccessWebhook Access = "webhook"
	// AccessMonitoring: a server admin or a member of system:monitoring.
	AccessMonitoring Access = "monitoring"
	// AccessAuthenticated: every authenticated user (discovery).
	AccessAuthenticated Access = "authenticated"
)

// Endpoint is one built-in path of a service type. The data plane matches it with the same
// matcher and grammar (ParsePath) as a spec's custom routes, built-in endpoints first. Its
// placeholders name what the call needs: {namespace} (the org whose settings are sent), {uid}
// (the datasource), and a trailing {path...}, the sub-path handed to the plugin or upstream.
type Endpoint struct {
	// Methods allowed; nil allows every method. GET also answers HEAD.
	Methods []string
	Path    string
	// PluginType is the plugin type served (PluginTypeDatasource or PluginTypeApp).
	PluginType string
	// Action is passed to the handler ("validate" or "mutate"; "list" or "get").
	Action string
	// PathRequired: the {path...} must not be empty (a stream names its channel).
	PathRequired bool
}

// DatasourceOnly reports whether the type needs a datasource's settings (it has no endpoint
// for app plugins), so app plugins cannot declare it.
func (s Service) DatasourceOnly() bool {
	if len(s.Endpoints) == 0 {
		return false
	}
	for _, e := range s.Endpoints {
		if e.PluginType == PluginTypeApp {
			return false
		}
	}
	return true
}

var (
	// The verbs of discovery documents.
	readOnly  = []string{"get"}
	readWrite = []string{"get", "create", "update", "patch", "delete"}

	get     = []string{http.MethodGet}
	post    = []string{http.MethodPost}
	getPost = []string{http.MethodGet, http.MethodPost}
)

// endpoint paths shared by several types
const (
	dsPath  = "/namespaces/{namespace}/datasources/{uid}"
	appPath = "/namespaces/{namespace}"
)

func both(methods []string, sub string, pathRequired bool) []Endpoint {
	return []Endpoint{
		{Methods: methods, Path: dsPath + sub, PluginType: PluginTypeDatasource, PathRequired: pathRequired},
		{Methods: methods, Path: appPath + sub, PluginType: PluginTypeApp, PathRequired: pathRequired},
	}
}

func forAll(methods []string, path string, actions ...string) []Endpoint {
	var out []Endpoint
	for _, pt := range []string{PluginTypeDatasource, PluginTypeApp} {
		if len(actions) == 0 {
			out = append(out, Endpoint{Methods: methods, Path: path, PluginType: pt})
		}
		for _, a := range actions {
			out = append(out, Endpoint{Methods: methods, Path: path + "/" + a, PluginType: pt, Action: a})
		}
	}
	return out
}

// Services lists every service type, in the order of the CUE enum.
var Services = []Service{
	{Type: v0alpha1.DataPlaneServiceServiceTypeQuery, PluginService: backendplugin.ServiceData, Timeout: TimeoutQuery, Access: AccessPluginCall,
		Verb: "query", Resource: "query", Discovery: &DiscoveryEntry{Name: "datasources/query", Verbs: []string{"create"}},
		Endpoints: []Endpoint{
			{Methods: post, Path: dsPath + "/query", PluginType: PluginTypeDatasource},
			{Methods: post, Path: "/namespaces/{namespace}/connections/{uid}/query", PluginType: PluginTypeDatasource},
		}},
	{Type: v0alpha1.DataPlaneServiceServiceTypeResource, PluginService: backendplugin.ServiceResource, Timeout: TimeoutResource, Access: AccessPluginCall,
		Verb: "call", Resource: "resource", Discovery: &DiscoveryEntry{Name: "datasources/resource", Verbs: readWrite},
		Endpoints: both(nil, "/resource/{path...}", false)},
	{Type: v0alpha1.DataPlaneServiceServiceTypeRoute, PluginService: backendplugin.ServiceResource, Timeout: TimeoutResource, Access: AccessPluginCall,
		Verb: "call"},
	{Type: v0alpha1.DataPlaneServiceServiceTypeStream, PluginService: backendplugin.ServiceStream, Timeout: TimeoutResource, Access: AccessPluginCall,
		MethodVerbs: map[string]string{http.MethodGet: "subscribe", http.MethodPost: "publish"},
		Resource:    "stream", Discovery: &DiscoveryEntry{Name: "datasources/stream", Verbs: []string{"get", "create"}},
		Endpoints: both(getPost, "/stream/{path...}", true)},
	{Type: v0alpha1.DataPlaneServiceServiceTypeHealth, PluginService: backendplugin.ServiceDiagnostics, Timeout: TimeoutHealth, Access: AccessPluginCall,
		Verb: "get", Resource: "health", Discovery: &DiscoveryEntry{Name: "datasources/health", Verbs: readOnly},
		Endpoints: both(get, "/health", false)},
	{Type: v0alpha1.DataPlaneServiceServiceTypeMetrics, PluginService: backendplugin.ServiceDiagnostics, Timeout: TimeoutMetrics, Access: AccessMonitoring,
		Verb: "get", Resource: "metrics",
		Endpoints: forAll(get, "/metrics")},
	{Type: v0alpha1.DataPlaneServiceServiceTypeAdmission, PluginService: backendplugin.ServiceAdmissionControl, Timeout: TimeoutAdmission, Access: AccessWebhook,
		Verb: "admit", Resource: "admission",
		Endpoints: forAll(post, "/admission", "validate", "mutate")},
	{Type: v0alpha1.DataPlaneServiceServiceTypeConversion, PluginService: backendplugin.ServiceResourceConversion, Timeout: TimeoutConversion, Access: AccessWebhook,
		Verb: "convert", Resource: "conversion",
		Endpoints: forAll(post, "/conversion")},
	{Type: v0alpha1.DataPlaneServiceServiceTypeDatasourceProxy, Timeout: TimeoutProxy, Access: AccessPluginCall,
		Verb: "call", Resource: "proxy", Discovery: &DiscoveryEntry{Name: "datasources/proxy", Verbs: readWrite},
		Endpoints: []Endpoint{{Path: dsPath + "/proxy/{path...}", PluginType: PluginTypeDatasource}}},
}

// Own service types are served by dpa itself for every registration, without being declared
// and without a plugin call: the group/version's discovery document and the datasource
// objects of a datasource plugin.
const (
	Discovery   ServiceType = "discovery"
	Datasources ServiceType = "datasources"
)

// Own lists dpa's own service types, matched before the declared ones.
var Own = []Service{
	{Type: Discovery, Access: AccessAuthenticated, Verb: "get", Endpoints: forAll(get, "/")},
	{Type: Datasources, Access: AccessDatasourceRead, Resource: "datasources",
		Discovery: &DiscoveryEntry{Name: "datasources", SingularName: "datasource", Verbs: []string{"get", "list"}},
		Endpoints: []Endpoint{
			{Methods: get, Path: "/namespaces/{namespace}/datasources", PluginType: PluginTypeDatasource, Action: "list"},
			{Methods: get, Path: dsPath, PluginType: PluginTypeDatasource, Action: "get"},
		}},
}

// All lists every service type the data plane serves: Own, then Services (the order the
// data plane matches built-in endpoints in).
func All() []Service { return append(slices.Clone(Own), Services...) }

// Lookup returns the Service of t among All.
func Lookup(t ServiceType) (Service, bool) {
	for _, list := range [][]Service{Own, Services} {
		for _, s := range list {
			if s.Type == t {
				return s, true
			}
		}
	}
	return Service{}, false
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
