package registry

import (
	"net/http"
	"strings"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
)

// withStrictFieldValidation makes writes to the resource API reject unknown or duplicate
// fields (400) unless the client asked for another fieldValidation level. Kubernetes'
// default for clients that do not ask is "Warn", which silently drops what it did not know.
func withStrictFieldValidation(next http.Handler) http.Handler {
	prefix := "/apis/" + v0alpha1.GroupVersion.Group + "/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			if strings.HasPrefix(r.URL.Path, prefix) && !r.URL.Query().Has("fieldValidation") {
				q := r.URL.Query()
				q.Set("fieldValidation", "Strict")
				r.URL.RawQuery = q.Encode()
			}
		}
		next.ServeHTTP(w, r)
	})
}
