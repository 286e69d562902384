package routes

import "context"

// Match is the data plane's decision about one request under /apis/<group>/<version>/: the
// registered group/version it belongs to, the service type whose route matched, the
// namespace and its org, the datasource. It is made once, from one route-table snapshot,
// where the server decides that the data plane takes the request (pkg/server's fast path),
// and travels in the request's context like kube-apiserver's RequestInfo (WithMatch,
// MatchFrom): the API server's authorizer, its long-running check and the data plane read
// it, and none of them looks the route up again. It is defined here, in the leaf both
// pkg/authz and pkg/dataplane import.
type Match struct {
	// Group and Version are the registered group/version; PluginID the plugin serving it.
	Group, Version, PluginID string
	// Service is the matched type's row; nil when no route of the group/version matched the
	// method and path (the data plane answers 404 or 405), and the fields below are empty.
	Service *Service
	// Verb is what the call does (Service.VerbFor).
	Verb string
	// Namespace is the path's namespace ("": none); Org its org (0: none); NamespaceErr
	// why the namespace names no org (the data plane answers 400).
	Namespace    string
	Org          int64
	NamespaceErr error
	// UID is the path's datasource ("": none).
	UID string
	// Route is the data plane's own record of the match (its compiled entry and route),
	// opaque to everyone else.
	Route any
}

type matchKey struct{}

// WithMatch returns ctx carrying m.
func WithMatch(ctx context.Context, m *Match) context.Context {
	return context.WithValue(ctx, matchKey{}, m)
}

// MatchFrom returns the Match carried by ctx (nil, false: the data plane did not take the
// request).
func MatchFrom(ctx context.Context) (*Match, bool) {
	m, ok := ctx.Value(matchKey{}).(*Match)
	return m, ok && m != nil
}
