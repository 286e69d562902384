// Code generated - EDITING IS FUTILE. DO NOT EDIT.

export interface Service {
	// type of plugin call served: query, resource, route, stream, health, metrics,
	// admission, conversion or datasource-proxy.
	type: "query" | "resource" | "route" | "stream" | "health" | "metrics" | "admission" | "conversion" | "datasource-proxy";
	// method applies to type "route" only: GET, POST, PUT, PATCH or DELETE; empty means any.
	method?: "" | "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
	// path applies to type "route" only (and is required there): it starts with "/",
	// may hold {param} placeholders and one trailing {path...} catch-all.
	path?: string;
}

export const defaultService = (): Service => ({
	type: "query",
});

export interface Spec {
	// pluginID is the Grafana plugin id: lower-case letters, digits and dashes.
	pluginID: string;
	// pluginType is "app" or "datasource". (A plain string so it can be a field selector.)
	pluginType: string;
	// group is the API group the plugin's routes are served under: a DNS-1123 subdomain.
	group: string;
	// version is the API version: a DNS-1035 label, e.g. v0alpha1.
	version: string;
	// services lists the plugin calls exposed; at least one. Several "route" entries are allowed;
	// a duplicate (type, method, path) is not.
	services: Service[];
}

export const defaultSpec = (): Spec => ({
	pluginID: "",
	pluginType: "",
	group: "",
	version: "",
	services: [],
});

