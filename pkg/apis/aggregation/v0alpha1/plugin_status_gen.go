// Code generated - EDITING IS FUTILE. DO NOT EDIT.

package v0alpha1

// +k8s:openapi-gen=true
type PluginReplicaStatus struct {
	// replica is the name of the dpa replica this entry belongs to (--replica-name).
	Replica string `json:"replica"`
	// version is info.version of the plugin.json this replica has installed (it differs
	// from spec.version while replicas disagree, e.g. during an upgrade).
	Version string `json:"version"`
	// phase of the plugin on this replica: Idle (not started: lazy, or no backend),
	// Starting, Running, NotResponding (the process runs but missed its last liveness
	// probe; notResponding says why),
	// Backoff (exited or failed to start; a restart is pending) or Stopped.
	Phase PluginReplicaStatusPhase `json:"phase"`
	// running is true while the plugin's process is up and connected.
	Running bool `json:"running"`
	// restarts counts the start attempts after the plugin first ran.
	Restarts int64 `json:"restarts"`
	// lastError is the last start failure or exit reason; it stays after a successful
	// restart (running says whether the plugin is up now).
	LastError *string `json:"lastError,omitempty"`
	// notResponding says why the running process failed its last liveness probe.
	NotResponding *string `json:"notResponding,omitempty"`
	// since is when the plugin entered phase (RFC 3339); for NotResponding, when its
	// probe first failed.
	Since *string `json:"since,omitempty"`
	// pid of the plugin process on this replica's host (absent when not running or
	// standalone).
	Pid *int64 `json:"pid,omitempty"`
	// address of a standalone plugin (--plugin-address).
	Address *string `json:"address,omitempty"`
	// services are the Grafana plugin gRPC services the running process serves
	// (pluginv2.Data, pluginv2.Resource, …), learned through gRPC reflection.
	Services []string `json:"services,omitempty"`
	// unimplemented are the services among them whose calls the process answered
	// Unimplemented.
	Unimplemented []string `json:"unimplemented,omitempty"`
}

// NewPluginReplicaStatus creates a new PluginReplicaStatus object.
func NewPluginReplicaStatus() *PluginReplicaStatus {
	return &PluginReplicaStatus{}
}

// OpenAPIModelName returns the OpenAPI model name for PluginReplicaStatus.
func (PluginReplicaStatus) OpenAPIModelName() string {
	return "com.github.dataplane-aggregator.dpa.pkg.apis.aggregation.v0alpha1.PluginReplicaStatus"
}

// +k8s:openapi-gen=true
type PluginStatus struct {
	// replicas holds one entry per dpa replica that has the plugin, each written by that
	// replica only, sorted by replica name.
	Replicas []PluginReplicaStatus `json:"replicas,omitempty"`
}

// NewPluginStatus creates a new PluginStatus object.
func NewPluginStatus() *PluginStatus {
	return &PluginStatus{}
}

// OpenAPIModelName returns the OpenAPI model name for PluginStatus.
func (PluginStatus) OpenAPIModelName() string {
	return "com.github.dataplane-aggregator.dpa.pkg.apis.aggregation.v0alpha1.PluginStatus"
}

// +k8s:openapi-gen=true
type PluginReplicaStatusPhase string

const (
	PluginReplicaStatusPhaseIdle          PluginReplicaStatusPhase = "Idle"
	PluginReplicaStatusPhaseStarting      PluginReplicaStatusPhase = "Starting"
	PluginReplicaStatusPhaseRunning       PluginReplicaStatusPhase = "Running"
	PluginReplicaStatusPhaseNotResponding PluginReplicaStatusPhase = "NotResponding"
	PluginReplicaStatusPhaseBackoff       PluginReplicaStatusPhase = "Backoff"
	PluginReplicaStatusPhaseStopped       PluginReplicaStatusPhase = "Stopped"
)

// OpenAPIModelName returns the OpenAPI model name for PluginReplicaStatusPhase.
func (PluginReplicaStatusPhase) OpenAPIModelName() string {
	return "com.github.dataplane-aggregator.dpa.pkg.apis.aggregation.v0alpha1.PluginReplicaStatusPhase"
}
