package dataplane

import (
	"net/http"
	"net/url"
	"unicode/utf8"
)

// checkInput refuses, with a 400 Status, request parts that cannot travel in the plugin
// protocol: protobuf strings must be UTF-8, so a path, query or header that is not would fail
// the gRPC call itself (a 5xx before this check). Run before anything reaches a plugin.
func checkInput(r *http.Request) *httpError {
	if !utf8.ValidString(r.URL.Path) {
		return errBadRequest("the request path is not valid UTF-8")
	}
	if !utf8.ValidString(r.URL.RawQuery) {
		return errBadRequest("the query string is not valid UTF-8")
	}
	if q, err := url.QueryUnescape(r.URL.RawQuery); err == nil && !utf8.ValidString(q) {
		return errBadRequest("the query string is not valid UTF-8 once decoded")
	}
	for k, vs := range r.Header {
		if !utf8.ValidString(k) {
			return errBadRequest("a header name is not valid UTF-8")
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return errBadRequest("the value of header %s is not valid UTF-8", k)
			}
		}
	}
	return nil
}

// setUntrustedContentHeaders marks a response whose content comes from a plugin or a
// datasource's upstream, as Grafana marks proxied responses: the browser may not sniff
// another type, and a document it renders runs sandboxed — in an opaque origin, without
// scripts, unable to use dpa's origin (its cookie, its API).
func setUntrustedContentHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "sandbox")
	h.Set("X-Content-Type-Options", "nosniff")
}
