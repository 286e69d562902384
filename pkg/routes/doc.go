// Package routes is what the reconciler, validation and the data plane share about the
// routes a DataPlaneService registers: the service types, defined once (servicetypes.go: for
// each type the plugin gRPC service its calls go to, its --timeout key and the endpoints it is
// served on), the route grammar (path.go) and the registration model (registration.go). A new
// service type is added here (and in the CUE enum) first. It is a leaf: it imports only the
// generated API types and backendplugin.
package routes
