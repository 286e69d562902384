package identityheaders

import (
	"net/http"
	"testing"
)

// TestStrip: every identity-like header goes whatever its case, prefixes match, extra
// patterns add to the list, and ordinary headers stay.
func TestStrip(t *testing.T) {
	h := http.Header{}
	gone := []string{"X-WEBAUTH-USER", "x-webauth-email", "X-Grafana-User", "X-Grafana-Org-Id", "X-Grafana-Id", "X-Remote-User",
		"X-Remote-Group", "X-Remote-Extra-Scopes", "Impersonate-User", "Impersonate-Extra-Foo", "X-Forwarded-User",
		"X-Forwarded-Email", "X-Forwarded-Groups", "X-Forwarded-Preferred-Username", "X-Auth-Request-Email", "X-Custom-Auth"}
	kept := []string{"X-Grafana-From-Expr", "X-Dashboard-Uid", "X-Forwarded-For", "Accept", "X-Remotely"}
	for _, k := range append(append([]string{}, gone...), kept...) {
		h.Set(k, "v")
	}
	Strip(h, "X-Custom-Auth")
	for _, k := range gone {
		if h.Get(k) != "" {
			t.Errorf("%s survived", k)
		}
	}
	for _, k := range kept {
		if h.Get(k) == "" {
			t.Errorf("%s was removed", k)
		}
	}
}
