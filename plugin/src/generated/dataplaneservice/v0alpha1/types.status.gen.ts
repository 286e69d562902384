// Code generated - EDITING IS FUTILE. DO NOT EDIT.

export interface Condition {
	// type of the condition, e.g. Registered or Available.
	type: string;
	// status is one of True, False, Unknown.
	status: "True" | "False" | "Unknown";
	// reason is a CamelCase machine-readable reason for the last transition.
	reason: string;
	// message is a human-readable explanation.
	message: string;
	// lastTransitionTime is an RFC 3339 timestamp.
	lastTransitionTime: string;
	// observedGeneration is the metadata.generation the condition was computed from.
	observedGeneration?: number;
}

export const defaultCondition = (): Condition => ({
	type: "",
	status: "True",
	reason: "",
	message: "",
	lastTransitionTime: "",
});

export interface Status {
	// observedGeneration is the metadata.generation last reconciled.
	observedGeneration?: number;
	// conditions: Registered (routes are in the route table), Available (plugin serving).
	conditions?: Condition[];
}

export const defaultStatus = (): Status => ({
});

