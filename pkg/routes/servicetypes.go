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
		Endpoints: []Endpoint{
			{Methods: post, Path: dsPath + "/query", PluginType: PluginTypeDatasource},
			{Methods: post, Path: "/namespaces/{namespace}/connections/{uid}/query", PluginType: PluginTypeDatasource},
		}},
	{Type: v0alpha1.DataPlaneServiceServiceTypeResource, PluginService: backendplugin.ServiceResource, Timeout: TimeoutResource, Access: AccessPluginCall,
		Endpoints: both(nil, "/resource/{path...}", false)},
	{Type: v0alpha1.DataPlaneServiceServiceTypeRoute, PluginService: backendplugin.ServiceResource, Timeout: TimeoutResource, Access: AccessPluginCall},
	{Type: v0alpha1.DataPlaneServiceServiceTypeStream, PluginService: backendplugin.ServiceStream, Timeout: TimeoutResource, Access: AccessPluginCall,
		Endpoints: both(getPost, "/stream/{path...}", true)},
	{Type: v0alpha1.DataPlaneServiceServiceTypeHealth, PluginService: backendplugin.ServiceDiagnostics, Timeout: TimeoutHealth, Access: AccessPluginCall,
		Endpoints: both(get, "/health", false)},
	{Type: v0alpha1.DataPlaneServiceServiceTypeMetrics, PluginService: backendplugin.ServiceDiagnostics, Timeout: TimeoutMetrics, Access: AccessMonitoring,
		Endpoints: forAll(get, "/metrics")},
	{Type: v0alpha1.DataPlaneServiceServiceTypeAdmission, PluginService: backendplugin.ServiceAdmissionControl, Timeout: TimeoutAdmission, Access: AccessWebhook,
		Endpoints: forAll(post, "/admission", "validate", "mutate")},
	{Type: v0alpha1.DataPlaneServiceServiceTypeConversion, PluginService: backendplugin.ServiceResourceConversion, Timeout: TimeoutConversion, Access: AccessWebhook,
		Endpoints: forAll(post, "/conversion")},
	{Type: v0alpha1.DataPlaneServiceServiceTypeDatasourceProxy, Timeout: TimeoutProxy, Access: AccessPluginCall,
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
	{Type: Discovery, Access: AccessAuthenticated, Endpoints: forAll(get, "/")},
	{Type: Datasources, Access: AccessDatasourceRead, Endpoints: []Endpoint{
		{Methods: get, Path: "/namespaces/{namespace}/datasources", PluginType: PluginTypeDatasource, Action: "list"},
		{Methods: get, Path: dsPath, PluginType: PluginTypeDatasource, Action: "get"},
	}},
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
