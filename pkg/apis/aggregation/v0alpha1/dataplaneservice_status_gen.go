// Code generated - EDITING IS FUTILE. DO NOT EDIT.

package v0alpha1

// +k8s:openapi-gen=true
type DataPlaneServiceCondition struct {
	// type of the condition, e.g. Registered or Available.
	Type string `json:"type"`
	// status is one of True, False, Unknown.
	Status DataPlaneServiceConditionStatus `json:"status"`
	// reason is a CamelCase machine-readable reason for the last transition.
	Reason string `json:"reason"`
	// message is a human-readable explanation.
	Message string `json:"message"`
	// lastTransitionTime is an RFC 3339 timestamp.
	LastTransitionTime string `json:"lastTransitionTime"`
	// observedGeneration is the metadata.generation the condition was computed from.
	ObservedGeneration *int64 `json:"observedGeneration,omitempty"`
}

// NewDataPlaneServiceCondition creates a new DataPlaneServiceCondition object.
func NewDataPlaneServiceCondition() *DataPlaneServiceCondition {
	return &DataPlaneServiceCondition{}
}

// OpenAPIModelName returns the OpenAPI model name for DataPlaneServiceCondition.
func (DataPlaneServiceCondition) OpenAPIModelName() string {
	return "com.github.dataplane-aggregator.dpa.pkg.apis.aggregation.v0alpha1.DataPlaneServiceCondition"
}

// +k8s:openapi-gen=true
type DataPlaneServiceStatus struct {
	// observedGeneration is the metadata.generation last reconciled.
	ObservedGeneration *int64 `json:"observedGeneration,omitempty"`
	// conditions: Registered (routes are in the route table), Available (plugin serving).
	Conditions []DataPlaneServiceCondition `json:"conditions,omitempty"`
}

// NewDataPlaneServiceStatus creates a new DataPlaneServiceStatus object.
func NewDataPlaneServiceStatus() *DataPlaneServiceStatus {
	return &DataPlaneServiceStatus{}
}

// OpenAPIModelName returns the OpenAPI model name for DataPlaneServiceStatus.
func (DataPlaneServiceStatus) OpenAPIModelName() string {
	return "com.github.dataplane-aggregator.dpa.pkg.apis.aggregation.v0alpha1.DataPlaneServiceStatus"
}

// +k8s:openapi-gen=true
type DataPlaneServiceConditionStatus string

const (
	DataPlaneServiceConditionStatusTrue    DataPlaneServiceConditionStatus = "True"
	DataPlaneServiceConditionStatusFalse   DataPlaneServiceConditionStatus = "False"
	DataPlaneServiceConditionStatusUnknown DataPlaneServiceConditionStatus = "Unknown"
)

// OpenAPIModelName returns the OpenAPI model name for DataPlaneServiceConditionStatus.
func (DataPlaneServiceConditionStatus) OpenAPIModelName() string {
	return "com.github.dataplane-aggregator.dpa.pkg.apis.aggregation.v0alpha1.DataPlaneServiceConditionStatus"
}
