// Code generated - EDITING IS FUTILE. DO NOT EDIT.

package v0alpha1

// +k8s:openapi-gen=true
type DataPlaneServiceService struct {
	// type of plugin call served: query, resource, route, stream, health, metrics,
	// admission, conversion or datasource-proxy.
	Type DataPlaneServiceServiceType `json:"type"`
	// method applies to type "route" only: GET, POST, PUT, PATCH or DELETE; empty means any.
	Method *DataPlaneServiceServiceMethod `json:"method,omitempty"`
	// path applies to type "route" only (and is required there): it starts with "/",
	// may hold {param} placeholders and one trailing {path...} catch-all.
	Path *string `json:"path,omitempty"`
}

// NewDataPlaneServiceService creates a new DataPlaneServiceService object.
func NewDataPlaneServiceService() *DataPlaneServiceService {
	return &DataPlaneServiceService{}
}

// OpenAPIModelName returns the OpenAPI model name for DataPlaneServiceService.
func (DataPlaneServiceService) OpenAPIModelName() string {
	return "com.github.dataplane-aggregator.dpa.pkg.apis.aggregation.v0alpha1.DataPlaneServiceService"
}

// +k8s:openapi-gen=true
type DataPlaneServiceSpec struct {
	// pluginID is the Grafana plugin id: lower-case letters, digits and dashes.
	PluginID string `json:"pluginID"`
	// pluginType is "app" or "datasource". (A plain string so it can be a field selector.)
	PluginType string `json:"pluginType"`
	// group is the API group the plugin's routes are served under: a DNS-1123 subdomain.
	Group string `json:"group"`
	// version is the API version: a DNS-1035 label, e.g. v0alpha1.
	Version string `json:"version"`
	// services lists the plugin calls exposed; at least one. Several "route" entries are allowed;
	// a duplicate (type, method, path) is not.
	Services []DataPlaneServiceService `json:"services"`
}

// NewDataPlaneServiceSpec creates a new DataPlaneServiceSpec object.
func NewDataPlaneServiceSpec() *DataPlaneServiceSpec {
	return &DataPlaneServiceSpec{
		Services: []DataPlaneServiceService{},
	}
}

// OpenAPIModelName returns the OpenAPI model name for DataPlaneServiceSpec.
func (DataPlaneServiceSpec) OpenAPIModelName() string {
	return "com.github.dataplane-aggregator.dpa.pkg.apis.aggregation.v0alpha1.DataPlaneServiceSpec"
}

// +k8s:openapi-gen=true
type DataPlaneServiceServiceType string

const (
	DataPlaneServiceServiceTypeQuery           DataPlaneServiceServiceType = "query"
	DataPlaneServiceServiceTypeResource        DataPlaneServiceServiceType = "resource"
	DataPlaneServiceServiceTypeRoute           DataPlaneServiceServiceType = "route"
	DataPlaneServiceServiceTypeStream          DataPlaneServiceServiceType = "stream"
	DataPlaneServiceServiceTypeHealth          DataPlaneServiceServiceType = "health"
	DataPlaneServiceServiceTypeMetrics         DataPlaneServiceServiceType = "metrics"
	DataPlaneServiceServiceTypeAdmission       DataPlaneServiceServiceType = "admission"
	DataPlaneServiceServiceTypeConversion      DataPlaneServiceServiceType = "conversion"
	DataPlaneServiceServiceTypeDatasourceProxy DataPlaneServiceServiceType = "datasource-proxy"
)

// OpenAPIModelName returns the OpenAPI model name for DataPlaneServiceServiceType.
func (DataPlaneServiceServiceType) OpenAPIModelName() string {
	return "com.github.dataplane-aggregator.dpa.pkg.apis.aggregation.v0alpha1.DataPlaneServiceServiceType"
}

// +k8s:openapi-gen=true
type DataPlaneServiceServiceMethod string

const (
	DataPlaneServiceServiceMethodNone   DataPlaneServiceServiceMethod = ""
	DataPlaneServiceServiceMethodGET    DataPlaneServiceServiceMethod = "GET"
	DataPlaneServiceServiceMethodPOST   DataPlaneServiceServiceMethod = "POST"
	DataPlaneServiceServiceMethodPUT    DataPlaneServiceServiceMethod = "PUT"
	DataPlaneServiceServiceMethodPATCH  DataPlaneServiceServiceMethod = "PATCH"
	DataPlaneServiceServiceMethodDELETE DataPlaneServiceServiceMethod = "DELETE"
)

// OpenAPIModelName returns the OpenAPI model name for DataPlaneServiceServiceMethod.
func (DataPlaneServiceServiceMethod) OpenAPIModelName() string {
	return "com.github.dataplane-aggregator.dpa.pkg.apis.aggregation.v0alpha1.DataPlaneServiceServiceMethod"
}
