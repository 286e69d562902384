// Code generated - EDITING IS FUTILE. DO NOT EDIT.

export interface ReplicaStatus {
	// replica is the name of the dpa replica this entry belongs to (--replica-name).
	replica: string;
	// version is info.version of the plugin.json this replica has installed (it differs
	// from spec.version while replicas disagree, e.g. during an upgrade).
	version: string;
	// phase of the plugin on this replica: Idle (not started: lazy, or no backend),
	// Starting, Running, NotResponding (the process runs but missed its last liveness
	// probe; notResponding says why),
	// Backoff (exited or failed to start; a restart is pending) or Stopped.
	phase: "Idle" | "Starting" | "Running" | "NotResponding" | "Backoff" | "Stopped";
	// running is true while the plugin's process is up and connected.
	running: boolean;
	// restarts counts the start attempts after the plugin first ran.
	restarts: number;
	// lastError is the last start failure or exit reason; it stays after a successful
	// restart (running says whether the plugin is up now).
	lastError?: string;
	// notResponding says why the running process failed its last liveness probe.
	notResponding?: string;
	// since is when the plugin entered phase (RFC 3339); for NotResponding, when its
	// probe first failed.
	since?: string;
	// pid of the plugin process on this replica's host (absent when not running or
	// standalone).
	pid?: number;
	// address of a standalone plugin (--plugin-address).
	address?: string;
	// services are the Grafana plugin gRPC services the running process serves
	// (pluginv2.Data, pluginv2.Resource, …), learned through gRPC reflection.
	services?: string[];
	// unimplemented are the services among them whose calls the process answered
	// Unimplemented.
	unimplemented?: string[];
}

export const defaultReplicaStatus = (): ReplicaStatus => ({
	replica: "",
	version: "",
	phase: "Idle",
	running: false,
	restarts: 0,
});

export interface Status {
	// replicas holds one entry per dpa replica that has the plugin, each written by that
	// replica only, sorted by replica name.
	replicas?: ReplicaStatus[];
}

export const defaultStatus = (): Status => ({
});

