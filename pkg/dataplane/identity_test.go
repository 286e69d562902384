package dataplane

import (
	"net/http"
	"testing"
)

// TestQueryHeadersIdentity: Grafana's query headers reach the plugin, identity-like ones do
// not, and X-Grafana-Org-Id is the call's org, not the caller's claim.
func TestQueryHeadersIdentity(t *testing.T) {
	h := http.Header{}
	for k, v := range map[string]string{"X-Dashboard-Uid": "d1", "X-Grafana-From-Expr": "true", "X-Rule-Uid": "r1",
		"X-Grafana-User": "admin", "X-Grafana-Id": "token", "X-Grafana-Org-Id": "7", "X-Webauth-User": "admin"} {
		h.Set(k, v)
	}
	got := queryHeaders(h, 2)
	for k, want := range map[string]string{"X-Dashboard-Uid": "d1", "http_X-Dashboard-Uid": "d1", "X-Grafana-From-Expr": "true",
		"X-Rule-Uid": "r1", "X-Grafana-Org-Id": "2", "http_X-Grafana-Org-Id": "2"} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	for _, k := range []string{"X-Grafana-User", "http_X-Grafana-User", "X-Grafana-Id", "X-Webauth-User"} {
		if v, ok := got[k]; ok {
			t.Errorf("%s reached the plugin: %q", k, v)
		}
	}
	if _, ok := queryHeaders(http.Header{}, 2)["X-Grafana-Org-Id"]; ok {
		t.Error("X-Grafana-Org-Id added to a request that had none")
	}
}

// TestRedactURL: a password in a datasource URL never shows; everything else does.
func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://user:s3cret@db.example:5432/x": "http://user:xxxxx@db.example:5432/x",
		"https://db.example/path?q=1":          "https://db.example/path?q=1",
		"http://user@db.example":               "http://user@db.example",
		"":                                     "",
		"http://a:b@%zz":                       "(unparsable URL hidden: it may hold credentials)",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
