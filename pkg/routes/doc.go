// Package routes is what the reconciler, validation and the data plane share about the
// routes a DataPlaneService registers: the service types, defined once (servicetypes.go: for
// each type the plugin gRPC service its calls go to, its --timeout key and the endpoints it is
// served on, its access rule, verb, name in access reviews and discovery entry), the route
// grammar (path.go), the registration model (registration.go) and the data plane's decision
// about a request, carried in its context (match.go). A new service type is the CUE enum, one
// row here and one handler file in pkg/dataplane. It is a leaf: it imports only the
// generated API types and backendplugin.
package routes
