// Package identityheaders names the request headers an upstream or a plugin may take for who
// the caller is — Grafana's auth proxy and user headers, Kubernetes' front-proxy and
// impersonation headers, and those of common auth proxies — once, for every place that
// passes a request on: the delegate (--delegate-url), the datasource proxy and the plugin
// calls. None of a caller's copies ever gets through; where dpa states the caller itself
// (the front proxy's X-Remote-*, the org of a query) it sets its own value after removing
// theirs.
package identityheaders

import (
	"net/http"
	"strings"
)

// Patterns are the identity-like headers (canonical names; a trailing * matches a prefix).
var Patterns = []string{
	"X-Webauth-*",                    // Grafana's auth proxy ([auth.proxy] header_name and its attribute headers)
	"X-Grafana-User", "X-Grafana-Id", // Grafana's user header to datasources, its ID token for plugins
	"X-Grafana-Org-Id",                      // the org a Grafana request acts in
	"X-Remote-*",                            // Kubernetes front proxy (user, uid, group, extra)
	"Impersonate-*",                         // Kubernetes impersonation
	"X-Forwarded-User", "X-Forwarded-Email", // oauth2-proxy and similar
	"X-Forwarded-Groups", "X-Forwarded-Preferred-Username",
	"X-Auth-Request-*",
}

// Is reports whether the header key (canonical, as in http.Header) is identity-like, or is
// named by one of the extra patterns.
func Is(key string, extra ...string) bool {
	return matches(key, Patterns) || matches(key, extra)
}

func matches(key string, patterns []string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if len(key) >= len(prefix) && strings.EqualFold(key[:len(prefix)], prefix) {
				return true
			}
		} else if strings.EqualFold(key, p) {
			return true
		}
	}
	return false
}

// Strip deletes the identity-like headers and those the extra patterns name.
func Strip(h http.Header, extra ...string) {
	for key := range h {
		if Is(key, extra...) {
			h.Del(key)
		}
	}
}
