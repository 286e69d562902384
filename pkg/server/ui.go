package server

import (
	"context"
	"net/http"
	"strings"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/dataplane-aggregator/dpa/pkg/ui"
)

// uiHandler serves the standalone UI. Sign-in checks the token like a bearer token and
// starts a session acting as that token's user; its failures count in failures (shared with
// the API's bearer tokens).
func uiHandler(tokens authenticator.Token, dir string, sessions *ui.Sessions, failures *ui.FailureLimiter) http.Handler {
	return ui.Handler(ui.Options{
		Dir:      dir,
		Sessions: sessions,
		Failures: failures,
		Authenticate: func(ctx context.Context, token string) (*ui.SessionUser, error) {
			resp, ok, err := tokens.AuthenticateToken(ctx, token)
			if err != nil || !ok || resp == nil {
				return nil, nil // a token that does not authenticate is refused, whatever the cause
			}
			u := resp.User
			return &ui.SessionUser{Name: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups(), Extra: u.GetExtra()}, nil
		},
	})
}

// withUI serves /ui and /ui/ before the API chain: the pages and the sign-in form need no
// credentials (the UI handler checks the session itself); its API calls go through the
// authenticated chain with the session cookie. /favicon.ico, which browsers ask for on their
// own, is sent to the UI's icon (public, like the sign-in page), not answered 401.
func withUI(api, uiH http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/favicon.ico" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			http.Redirect(w, r, "/ui/favicon.svg", http.StatusMovedPermanently)
			return
		}
		if r.URL.Path == "/ui" || strings.HasPrefix(r.URL.Path, "/ui/") {
			uiH.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// cookieAuthenticator accepts the UI's session cookie: the session's user, while the session
// lives. Writes must carry the X-DPA-CSRF header that the UI sets and other sites cannot.
func cookieAuthenticator(sessions *ui.Sessions) authenticator.Request {
	return authenticator.RequestFunc(func(r *http.Request) (*authenticator.Response, bool, error) {
		id, ok := ui.SessionIDFromRequest(r)
		if !ok {
			return nil, false, nil
		}
		u, err := sessions.Lookup(r.Context(), id)
		if err != nil || u == nil {
			return nil, false, err
		}
		return &authenticator.Response{User: &user.DefaultInfo{Name: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.Extra}}, true, nil
	})
}
