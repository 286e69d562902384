package server

import (
	"context"
	"net/http"
	"strings"

	"k8s.io/apiserver/pkg/authentication/authenticator"

	"github.com/dataplane-aggregator/dpa/pkg/ui"
)

// uiHandler serves the standalone UI. Sign-in checks the token like a bearer token.
func uiHandler(tokens authenticator.Token, dir string) http.Handler {
	return ui.Handler(ui.Options{
		Dir: dir,
		Authenticate: func(ctx context.Context, token string) (bool, error) {
			resp, ok, err := tokens.AuthenticateToken(ctx, token)
			return ok && resp != nil, err
		},
	})
}

// withUI serves /ui and /ui/ before the API chain: the pages and the sign-in form need no
// credentials (the UI handler checks the session itself); its API calls go through the
// authenticated chain with the session cookie.
func withUI(api, uiH http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ui" || strings.HasPrefix(r.URL.Path, "/ui/") {
			uiH.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// cookieAuthenticator accepts the UI's session cookie as a bearer token. Writes must carry
// the X-DPA-CSRF header that the UI sets and other sites cannot.
func cookieAuthenticator(tokens authenticator.Token) authenticator.Request {
	return authenticator.RequestFunc(func(r *http.Request) (*authenticator.Response, bool, error) {
		tok, ok := ui.CookieTokenFromRequest(r)
		if !ok {
			return nil, false, nil
		}
		return tokens.AuthenticateToken(r.Context(), tok)
	})
}
