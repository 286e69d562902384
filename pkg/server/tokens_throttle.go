package server

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"

	"github.com/dataplane-aggregator/dpa/pkg/ui"
)

// withTokenThrottle answers 429 with Retry-After, before authentication and without looking
// at the token, to a request with a bearer token from a client address that must still wait
// after failed tokens (failures: --auth-failure-limit within --auth-failure-window, counted
// by requestAuthenticator and the UI's sign-in alike). A valid token from that address waits
// too: letting it through would answer the guesser's question (200 or 429) at full speed.
// Requests without a bearer token (client certificates, the UI's session cookie, a front
// proxy, anonymous probes) and other addresses are not affected. client-go (kubectl) waits for
// Retry-After and tries again by itself. dpa's own in-process tokens (own: the API server's
// loopback client and dpa's internal identity, both 256 random bits that exist only in this
// process's memory) pass, so that a guesser on dpa's own host does not stop dpa's loopback
// clients.
func withTokenThrottle(next http.Handler, failures *ui.FailureLimiter, serializer runtime.NegotiatedSerializer, own ...string) http.Handler {
	if failures == nil {
		return next
	}
	isOwn := func(r *http.Request) bool {
		got := []byte(strings.SplitN(strings.TrimSpace(r.Header.Get("Authorization")), " ", 3)[1])
		for _, tok := range own {
			if tok != "" && subtle.ConstantTimeCompare(got, []byte(tok)) == 1 {
				return true
			}
		}
		return false
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hasBearerToken(r) {
			if wait := failures.Wait(ui.ClientAddr(r)); wait > 0 && !isOwn(r) {
				retry := ui.RetryAfter(wait)
				err := apierrors.NewTooManyRequests("too many requests with bearer tokens that were not accepted came from this address; try again in "+retry+"s", int((wait+time.Second-1)/time.Second))
				w.Header().Set("Retry-After", retry)
				responsewriters.ErrorNegotiated(err, serializer, schema.GroupVersion{}, w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// hasBearerToken reports whether the request carries a bearer token as
// k8s.io/apiserver's bearertoken authenticator reads it.
func hasBearerToken(r *http.Request) bool {
	parts := strings.SplitN(strings.TrimSpace(r.Header.Get("Authorization")), " ", 3)
	return len(parts) >= 2 && strings.EqualFold(parts[0], "bearer") && parts[1] != ""
}
