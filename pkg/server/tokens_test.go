package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/dataplane-aggregator/dpa/pkg/authz"
	"github.com/dataplane-aggregator/dpa/pkg/ui"
)

func writeTokens(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func userOf(t *testing.T, a authenticator.Token, token string) user.Info {
	t.Helper()
	resp, ok, err := a.AuthenticateToken(context.Background(), token)
	if err != nil || !ok {
		return nil
	}
	return resp.User
}

// TestTokenTableReload: --token-auth-file is read again; a good file replaces the table, a
// broken or missing one keeps the last good; dpa's own tokens stay.
func TestTokenTableReload(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.csv")
	writeTokens(t, file, "alice-token,alice,a1,\"grafana:org:1:Viewer\"\nbob-token,bob,b1\n")
	tt, err := newTokenTable("admin-tok", internalIdentity{token: "int-tok", uid: "int-uid"}, file, "r1", nil)
	if err != nil {
		t.Fatal(err)
	}
	reloads := 0
	tt.OnReload(func() { reloads++ })
	if u := userOf(t, tt, "alice-token"); u == nil || u.GetName() != "alice" || !slices.Equal(u.GetGroups(), []string{"grafana:org:1:Viewer"}) {
		t.Fatalf("alice: %v", u)
	}
	if u := userOf(t, tt, "admin-tok"); u == nil || u.GetName() != AdminUser {
		t.Fatalf("admin: %v", u)
	}
	gen := tt.TokenGeneration()

	writeTokens(t, file, "alice-token,alice,a1,\"grafana:org:1:Editor\"\n")
	if err := tt.reload(); err != nil {
		t.Fatal(err)
	}
	if userOf(t, tt, "bob-token") != nil {
		t.Error("a removed token still authenticates")
	}
	if u := userOf(t, tt, "alice-token"); u == nil || !slices.Equal(u.GetGroups(), []string{"grafana:org:1:Editor"}) {
		t.Errorf("alice's changed groups: %v", u)
	}
	if tt.TokenGeneration() == gen || reloads != 1 {
		t.Errorf("generation %d (was %d), %d reload hooks run", tt.TokenGeneration(), gen, reloads)
	}

	for name, content := range map[string]string{"too few columns": "carol-token,carol\n", "bad quoting": "x,\"y\n"} {
		writeTokens(t, file, content)
		if err := tt.reload(); err == nil {
			t.Errorf("%s: reload passed", name)
		}
		if userOf(t, tt, "alice-token") == nil || userOf(t, tt, "admin-tok") == nil {
			t.Errorf("%s: the last good table is gone", name)
		}
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := tt.reload(); err == nil || userOf(t, tt, "alice-token") == nil {
		t.Errorf("a missing file: %v, alice %v", err, userOf(t, tt, "alice-token"))
	}
	if reloads != 1 {
		t.Errorf("hooks ran after failed reloads: %d", reloads)
	}
	if _, err := newTokenTable("admin-tok", internalIdentity{}, file, "r1", nil); err == nil || !strings.Contains(err.Error(), "--token-auth-file") {
		t.Errorf("a missing file at start: %v", err)
	}
}

// TestSessionsFollowTokens: a UI session acts as its token's current user, ends when the
// token leaves the file (at the re-check after a reload and on its next use), and a
// replica's own admin token is judged by that replica alone. The store never holds a token.
func TestSessionsFollowTokens(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "tokens.csv")
	writeTokens(t, file, "alice-token,alice,a1,\"grafana:org:1:Viewer\"\nbob-token,bob,b1,\"grafana:org:1:Viewer\"\n")
	tt, err := newTokenTable("admin-tok", internalIdentity{}, file, "r1", nil)
	if err != nil {
		t.Fatal(err)
	}
	store := ui.NewMemorySessionStore()
	sessions := ui.NewSessions(store, time.Hour, 12*time.Hour)
	tt.followedBy(ctx, sessions)
	start := func(s *ui.Sessions, tok string) string {
		u := sessionUser(userOf(t, tt, tok))
		id, _, err := s.Start(ctx, *u, tok)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	alice, bob, admin := start(sessions, "alice-token"), start(sessions, "bob-token"), start(sessions, "admin-tok")
	// Another replica (r2, its own admin token) on the same store.
	tt2, err := newTokenTable("other-admin-tok", internalIdentity{}, file, "r2", nil)
	if err != nil {
		t.Fatal(err)
	}
	sessions2 := ui.NewSessions(store, time.Hour, 12*time.Hour)
	sessions2.FollowTokens(tt2)
	if u, _ := sessions2.Lookup(ctx, admin); u == nil || u.Name != AdminUser {
		t.Fatalf("r1's admin session on r2: %v", u)
	}

	all, _ := store.List(ctx)
	raw, _ := json.Marshal(all)
	for _, tok := range []string{"alice-token", "bob-token", "admin-tok"} {
		if strings.Contains(string(raw), tok) {
			t.Fatalf("the store holds the token %q: %s", tok, raw)
		}
	}

	writeTokens(t, file, "alice-token,alice,a1,\"grafana:org:1:Editor\",extra-column\n")
	if err := tt.reload(); err != nil { // runs the re-check
		t.Fatal(err)
	}
	if all, _ := store.List(ctx); len(all) != 2 {
		t.Errorf("after bob's token went: %d sessions stored, want 2 (alice, admin)", len(all))
	}
	if u, _ := sessions.Lookup(ctx, bob); u != nil {
		t.Errorf("bob's session outlived his token: %v", u)
	}
	if u, _ := sessions.Lookup(ctx, alice); u == nil || !slices.Equal(u.Groups, []string{"grafana:org:1:Editor"}) {
		t.Errorf("alice's session does not follow her groups: %v", u)
	}
	// r2 has not read the new file yet: it still has alice as a Viewer.
	if u, _ := sessions2.Lookup(ctx, alice); u == nil || !slices.Equal(u.Groups, []string{"grafana:org:1:Viewer"}) {
		t.Errorf("alice on r2 before its reload: %v", u)
	}
	if err := tt2.reload(); err != nil {
		t.Fatal(err)
	}
	if u, _ := sessions2.Lookup(ctx, alice); u == nil || !slices.Equal(u.Groups, []string{"grafana:org:1:Editor"}) {
		t.Errorf("alice on r2 after its reload: %v", u)
	}

	// r1 restarts with a new admin token (a new data dir): its old admin sessions end at the
	// start's re-check; sessions stored without a source (older dpa) end too.
	if err := store.Put(ctx, "legacy", ui.Session{User: ui.SessionUser{Name: "old"}, Expires: time.Now().Add(time.Hour), LastSeen: time.Now()}); err != nil {
		t.Fatal(err)
	}
	tt3, err := newTokenTable("new-admin-tok", internalIdentity{}, file, "r1", nil)
	if err != nil {
		t.Fatal(err)
	}
	sessions3 := ui.NewSessions(store, time.Hour, 12*time.Hour)
	if n, err := sessions3.Recheck(ctx); n != 0 || err != nil {
		t.Errorf("re-check without a token source: %d %v", n, err)
	}
	sessions3.FollowTokens(tt3)
	if n, err := sessions3.Recheck(ctx); n != 2 || err != nil {
		t.Errorf("re-check at r1's new start ended %d sessions (%v), want 2 (old admin, legacy)", n, err)
	}
	if u, _ := sessions3.Lookup(ctx, admin); u != nil {
		t.Errorf("the old admin session survived a new admin token: %v", u)
	}
	if u, _ := sessions3.Lookup(ctx, alice); u == nil {
		t.Error("alice's session ended at r1's restart")
	}
}

// TestTokenThrottle: bearer tokens nobody accepted count per address, also when another
// credential (the UI cookie) authenticates the request; past the limit the address gets 429
// with Retry-After without its token being looked at, valid or not; other addresses and
// requests without a bearer token go on.
func TestTokenThrottle(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.csv")
	writeTokens(t, file, "alice-token,alice,a1\n")
	tt, err := newTokenTable("admin-tok", internalIdentity{}, file, "r1", nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	failures := ui.NewFailureLimiter(3, time.Minute, func() time.Time { return now })
	cookie := authenticator.RequestFunc(func(r *http.Request) (*authenticator.Response, bool, error) {
		if r.Header.Get("Cookie") == "ok" {
			return &authenticator.Response{User: &user.DefaultInfo{Name: "cookie-user"}}, true, nil
		}
		return nil, false, nil
	})
	authn := requestAuthenticator(tt, nil, clientCerts{}, authz.New(authz.Options{}).AnonymousAllowed, failures, cookie)
	checked := 0
	h := withTokenThrottle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		checked++
		if _, ok, _ := authn.AuthenticateRequest(r); !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}), failures, scheme.Codecs, "admin-tok")
	do := func(addr, token, cookie string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/apis", nil)
		r.RemoteAddr = addr + ":40000"
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := do("192.0.2.1", "alice-token", ""); w.Code != 200 {
		t.Fatalf("a valid token: %d", w.Code)
	}
	for i := range 2 {
		if w := do("192.0.2.1", "guess", ""); w.Code != 401 {
			t.Fatalf("failure %d: %d", i+1, w.Code)
		}
	}
	// A third guess rides on a valid cookie: it is still a failed token.
	if w := do("192.0.2.1", "guess", "ok"); w.Code != 200 {
		t.Fatalf("a bogus token with a valid cookie: %d", w.Code)
	}
	before := checked
	for _, tok := range []string{"guess", "alice-token"} {
		w := do("192.0.2.1", tok, "")
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" || !strings.Contains(w.Body.String(), `"reason":"TooManyRequests"`) {
			t.Errorf("%s after 3 failures: %d %v %s", tok, w.Code, w.Header(), w.Body)
		}
	}
	if checked != before {
		t.Error("a throttled request reached authentication")
	}
	if w := do("192.0.2.1", "admin-tok", ""); w.Code != 200 {
		t.Errorf("dpa's own in-process token (here: the admin token) from the throttled address: %d", w.Code)
	}
	if w := do("192.0.2.1", "", "ok"); w.Code != 200 {
		t.Errorf("the cookie alone from the throttled address: %d", w.Code)
	}
	if w := do("192.0.2.2", "alice-token", ""); w.Code != 200 {
		t.Errorf("another address: %d", w.Code)
	}
	now = now.Add(1100 * time.Millisecond)
	if w := do("192.0.2.1", "alice-token", ""); w.Code != 200 {
		t.Errorf("a valid token after Retry-After: %d", w.Code)
	}
	// The success reset nothing: the next guess waits twice as long.
	if w := do("192.0.2.1", "guess", ""); w.Code != 401 {
		t.Errorf("a guess after the wait: %d", w.Code)
	}
	if w := do("192.0.2.1", "guess", ""); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "2" {
		t.Errorf("the next guess: %d %v", w.Code, w.Header())
	}
}
