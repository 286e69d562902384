// Code generated - EDITING IS FUTILE. DO NOT EDIT.

export interface Spec {
	// id is the plugin id from plugin.json (also the object's name).
	id: string;
	// type is plugin.json's type: datasource, app, panel, …
	type: string;
	// name is plugin.json's display name.
	name: string;
	// version is plugin.json's info.version.
	version: string;
	// backend is true for plugins with a backend process.
	backend: boolean;
}

export const defaultSpec = (): Spec => ({
	id: "",
	type: "",
	name: "",
	version: "",
	backend: false,
});

