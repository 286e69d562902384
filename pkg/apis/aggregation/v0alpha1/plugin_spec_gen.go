// Code generated - EDITING IS FUTILE. DO NOT EDIT.

package v0alpha1

// +k8s:openapi-gen=true
type PluginSpec struct {
	// id is the plugin id from plugin.json (also the object's name).
	Id string `json:"id"`
	// type is plugin.json's type: datasource, app, panel, …
	Type string `json:"type"`
	// name is plugin.json's display name.
	Name string `json:"name"`
	// version is plugin.json's info.version.
	Version string `json:"version"`
	// backend is true for plugins with a backend process.
	Backend bool `json:"backend"`
}

// NewPluginSpec creates a new PluginSpec object.
func NewPluginSpec() *PluginSpec {
	return &PluginSpec{}
}

// OpenAPIModelName returns the OpenAPI model name for PluginSpec.
func (PluginSpec) OpenAPIModelName() string {
	return "com.github.dataplane-aggregator.dpa.pkg.apis.aggregation.v0alpha1.PluginSpec"
}
