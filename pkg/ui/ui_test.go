package ui

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodToken = "s3cret"

func auth(_ context.Context, token string) (*SessionUser, error) {
	if token != goodToken {
		return nil, nil
	}
	return &SessionUser{Name: "alice", Groups: []string{"grafana:org:1:Viewer"}}, nil
}

// testOptions is a handler with an in-memory session store.
func testOptions(t *testing.T, dir string) (Options, *Sessions) {
	t.Helper()
	sessions := NewSessions(NewMemorySessionStore(), time.Hour, 12*time.Hour)
	return Options{Dir: dir, Authenticate: auth, Sessions: sessions}, sessions
}

// signIn signs in and returns the session cookie's value.
func signIn(t *testing.T, h http.Handler) string {
	t.Helper()
	w := do(h, http.MethodPost, "/ui/login", url.Values{"token": {goodToken}}.Encode(), nil)
	for _, c := range w.Result().Cookies() {
		if c.Name == CookieName && c.Value != "" {
			return c.Value
		}
	}
	t.Fatalf("sign-in: %d %s", w.Code, w.Body)
	return ""
}

func bundleDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "build"), 0o755); err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte(`<!doctype html><div id="root"></div>`), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "build", "app.123.js"), []byte(`console.log(1)`), 0o644))
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func do(h http.Handler, method, target string, body string, mod func(*http.Request)) *httptest.ResponseRecorder {
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	if mod != nil {
		mod(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func withCookie(v string) func(*http.Request) {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: CookieName, Value: v}) }
}

// TestLoginStartsServerSideSession: the cookie holds a random id, never the token; the
// session acts as the token's user.
func TestLoginStartsServerSideSession(t *testing.T) {
	opts, sessions := testOptions(t, bundleDir(t))
	h := Handler(opts)
	w := do(h, http.MethodPost, "/ui/login", url.Values{"token": {goodToken}, "next": {"/ui/services/x"}}.Encode(), nil)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("status %d, body %s", w.Code, w.Body)
	}
	if loc := w.Header().Get("Location"); loc != "/ui/services/x" {
		t.Errorf("Location = %q", loc)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies: %v", cookies)
	}
	c := cookies[0]
	if c.Name != "dpa_session" || strings.Contains(c.Value, goodToken) || len(c.Value) < 40 || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Errorf("cookie attributes wrong: %+v", c)
	}
	if c.MaxAge < 12*3600-5 || c.MaxAge > 12*3600 {
		t.Errorf("MaxAge = %d, want the absolute lifetime", c.MaxAge)
	}
	u, err := sessions.Lookup(context.Background(), c.Value)
	if err != nil || u == nil || u.Name != "alice" {
		t.Errorf("session user = %+v, %v", u, err)
	}
	if second := signIn(t, h); second == c.Value {
		t.Error("two sign-ins got the same session id")
	}
	raw := w.Header().Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "Secure", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(raw, want) {
			t.Errorf("Set-Cookie %q lacks %s", raw, want)
		}
	}
}

func TestLoginRejectsBadTokenAndOpenRedirect(t *testing.T) {
	opts, _ := testOptions(t, bundleDir(t))
	h := Handler(opts)
	w := do(h, http.MethodPost, "/ui/login", url.Values{"token": {"nope"}}.Encode(), nil)
	if w.Code != http.StatusUnauthorized || len(w.Result().Cookies()) != 0 {
		t.Fatalf("bad token: status %d cookies %v", w.Code, w.Result().Cookies())
	}
	if !strings.Contains(w.Body.String(), "not accepted") {
		t.Errorf("no error message: %s", w.Body)
	}
	for _, next := range []string{"https://evil.example/", "//evil.example/ui/", "/apis/x", "/ui/login"} {
		w = do(h, http.MethodPost, "/ui/login", url.Values{"token": {goodToken}, "next": {next}}.Encode(), nil)
		if loc := w.Header().Get("Location"); loc != "/ui/" {
			t.Errorf("next=%q redirected to %q", next, loc)
		}
	}
	w = do(h, http.MethodGet, "/ui/login", "", nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `name="token"`) {
		t.Errorf("login page: %d %s", w.Code, w.Body)
	}
}

// TestLogoutRevokesSession: sign-out clears the cookie and ends the session in the store, so
// the old cookie value no longer opens the UI.
func TestLogoutRevokesSession(t *testing.T) {
	opts, sessions := testOptions(t, bundleDir(t))
	h := Handler(opts)
	for _, m := range []string{http.MethodPost, http.MethodGet} {
		id := signIn(t, h)
		if w := do(h, http.MethodGet, "/ui/", "", withCookie(id)); w.Code != 200 {
			t.Fatalf("signed in: /ui/ = %d", w.Code)
		}
		w := do(h, m, "/ui/logout", "", withCookie(id))
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/login" {
			t.Fatalf("%s logout: %d %q", m, w.Code, w.Header().Get("Location"))
		}
		c := w.Result().Cookies()
		if len(c) != 1 || c[0].Name != CookieName || c[0].Value != "" || c[0].MaxAge >= 0 || !c[0].HttpOnly || !c[0].Secure {
			t.Errorf("%s logout cookie: %+v", m, c)
		}
		if u, _ := sessions.Lookup(context.Background(), id); u != nil {
			t.Errorf("%s logout: the session still works", m)
		}
		if w := do(h, http.MethodGet, "/ui/", "", withCookie(id)); w.Code != http.StatusFound {
			t.Errorf("%s logout: the old cookie still opens /ui/ (%d)", m, w.Code)
		}
	}
}

// TestSessionExpiry: idle and absolute lifetimes end a session.
func TestSessionExpiry(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := NewSessions(NewMemorySessionStore(), time.Hour, 3*time.Hour)
	s.now = func() time.Time { return now }
	ctx := context.Background()
	id, _, err := s.Start(ctx, SessionUser{Name: "a"}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		advance time.Duration
		alive   bool
	}{
		{50 * time.Minute, true},  // used within the idle time …
		{50 * time.Minute, true},  // … again: use moved LastSeen
		{50 * time.Minute, true},  // 2h30 after sign-in
		{40 * time.Minute, false}, // 3h10: past the absolute lifetime
	} {
		now = now.Add(step.advance)
		if u, _ := s.Lookup(ctx, id); (u != nil) != step.alive {
			t.Fatalf("after %v: alive=%v, want %v", step.advance, u != nil, step.alive)
		}
	}
	id, _, _ = s.Start(ctx, SessionUser{Name: "b"}, "")
	now = now.Add(61 * time.Minute)
	if u, _ := s.Lookup(ctx, id); u != nil {
		t.Error("a session idle for longer than the idle time still works")
	}
}

// TestLoginOriginAndThrottle: a cross-site sign-in is refused; repeated failures from one
// address slow down, and the wait is per address.
func TestLoginOriginAndThrottle(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	opts, _ := testOptions(t, bundleDir(t))
	opts.Now = func() time.Time { return now }
	h := Handler(opts)
	form := url.Values{"token": {goodToken}}.Encode()
	fromOrigin := func(o string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Origin", o) }
	}
	if w := do(h, http.MethodPost, "/ui/login", form, fromOrigin("https://evil.example")); w.Code != http.StatusForbidden || len(w.Result().Cookies()) != 0 {
		t.Errorf("cross-site sign-in: %d", w.Code)
	}
	if w := do(h, http.MethodPost, "/ui/login", form, fromOrigin("https://example.com")); w.Code != http.StatusSeeOther {
		t.Errorf("same-origin sign-in (httptest's Host is example.com): %d %s", w.Code, w.Body)
	}
	bad := url.Values{"token": {"wrong"}}.Encode()
	for i := 0; i < 5; i++ {
		if w := do(h, http.MethodPost, "/ui/login", bad, nil); w.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, w.Code)
		}
	}
	w := do(h, http.MethodPost, "/ui/login", form, nil)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("after 5 failures: %d %v", w.Code, w.Header())
	}
	other := func(r *http.Request) { r.RemoteAddr = "192.0.2.99:1234" }
	if w := do(h, http.MethodPost, "/ui/login", form, other); w.Code != http.StatusSeeOther {
		t.Errorf("another address is slowed down too: %d", w.Code)
	}
	now = now.Add(2 * time.Second)
	if w := do(h, http.MethodPost, "/ui/login", bad, nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("after the wait: %d", w.Code)
	}
	if w := do(h, http.MethodPost, "/ui/login", form, nil); w.Code != http.StatusTooManyRequests {
		t.Errorf("the 6th failure doubles the wait: %d", w.Code)
	}
	now = now.Add(3 * time.Second)
	if w := do(h, http.MethodPost, "/ui/login", form, nil); w.Code != http.StatusSeeOther {
		t.Errorf("a success after the wait: %d", w.Code)
	}
}

func TestSessionIDFromRequestCSRF(t *testing.T) {
	cases := []struct {
		method string
		cookie bool
		header string
		ok     bool
	}{
		{"GET", true, "", true},
		{"HEAD", true, "", true},
		{"OPTIONS", true, "", true},
		{"POST", true, "", false},
		{"PUT", true, "", false},
		{"DELETE", true, "0", false},
		{"PATCH", true, "1", true},
		{"POST", true, "1", true},
		{"DELETE", true, "1", true},
		{"GET", false, "1", false},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, "/apis/x", nil)
		if c.cookie {
			r.AddCookie(&http.Cookie{Name: CookieName, Value: goodToken})
		}
		if c.header != "" {
			r.Header.Set(CSRFHeader, c.header)
		}
		tok, ok := SessionIDFromRequest(r)
		if ok != c.ok || (ok && tok != goodToken) {
			t.Errorf("%s cookie=%v header=%q: got (%q,%v), want ok=%v", c.method, c.cookie, c.header, tok, ok, c.ok)
		}
	}
}

func TestMissingBundlePage(t *testing.T) {
	opts, _ := testOptions(t, t.TempDir())
	h := Handler(opts)
	for _, p := range []string{"/ui/", "/ui/services/x"} {
		w := do(h, http.MethodGet, p, "", withCookie("any"))
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "UI not built: run make ui") {
			t.Errorf("%s: %d %s", p, w.Code, w.Body)
		}
	}
	// Sign-in still works without a bundle.
	if w := do(h, http.MethodGet, "/ui/login", "", nil); w.Code != 200 {
		t.Errorf("login without bundle: %d", w.Code)
	}
}

// TestFavicon: the icon is served without a session, with or without a bundle, and every
// page dpa writes itself links it (else the browser asks the API for /favicon.ico: 401).
func TestFavicon(t *testing.T) {
	for name, dir := range map[string]string{"bundle": bundleDir(t), "no bundle": t.TempDir()} {
		opts, _ := testOptions(t, dir)
		h := Handler(opts)
		w := do(h, http.MethodGet, "/ui/favicon.svg", "", nil)
		if w.Code != 200 || w.Header().Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(w.Body.String(), "<svg") {
			t.Errorf("%s: favicon %d %q", name, w.Code, w.Header().Get("Content-Type"))
		}
		if w := do(h, http.MethodPost, "/ui/favicon.svg", "", nil); w.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: POST favicon %d", name, w.Code)
		}
		link := `<link rel="icon" href="/ui/favicon.svg" type="image/svg+xml">`
		if w := do(h, http.MethodGet, "/ui/login", "", nil); !strings.Contains(w.Body.String(), link) {
			t.Errorf("%s: the sign-in page does not link the favicon", name)
		}
		bad := do(h, http.MethodPost, "/ui/login", url.Values{"token": {"wrong"}}.Encode(), nil)
		if bad.Code != http.StatusUnauthorized || !strings.Contains(bad.Body.String(), link) {
			t.Errorf("%s: the sign-in error page does not link the favicon: %d", name, bad.Code)
		}
	}
	opts, _ := testOptions(t, t.TempDir())
	if w := do(Handler(opts), http.MethodGet, "/ui/", "", withCookie("any")); !strings.Contains(w.Body.String(), `href="/ui/favicon.svg"`) {
		t.Errorf("the UI-not-built page does not link the favicon")
	}
}

func TestSPAFallbackAndAssets(t *testing.T) {
	opts, _ := testOptions(t, bundleDir(t))
	h := Handler(opts)
	id := signIn(t, h)
	// The token itself is no session.
	if w := do(h, http.MethodGet, "/ui/", "", withCookie(goodToken)); w.Code != http.StatusFound {
		t.Errorf("the raw token as cookie opened /ui/: %d", w.Code)
	}
	for _, p := range []string{"/ui/", "/ui/services/my-ds", "/ui/services/my-ds/edit", "/ui/new"} {
		w := do(h, http.MethodGet, p, "", withCookie(id))
		if w.Code != 200 || !strings.Contains(w.Body.String(), `<div id="root">`) {
			t.Errorf("%s: %d %s", p, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("%s content type %q", p, ct)
		}
	}
	w := do(h, http.MethodGet, "/ui/build/app.123.js", "", nil)
	if w.Code != 200 || w.Body.String() != "console.log(1)" || !strings.Contains(w.Header().Get("Cache-Control"), "immutable") {
		t.Errorf("asset: %d %q %q", w.Code, w.Body, w.Header().Get("Cache-Control"))
	}
	if w := do(h, http.MethodGet, "/ui/build/missing.js", "", withCookie(id)); w.Code != 404 {
		t.Errorf("missing asset: %d", w.Code)
	}
	if w := do(h, http.MethodGet, "/ui", "", nil); w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "/ui/" {
		t.Errorf("/ui: %d %q", w.Code, w.Header().Get("Location"))
	}
	// Without a session (or with a rejected one) the shell redirects to sign-in.
	for _, mod := range []func(*http.Request){nil, withCookie("stale")} {
		w := do(h, http.MethodGet, "/ui/services/x?y=1", "", mod)
		if w.Code != http.StatusFound || w.Header().Get("Location") != "/ui/login?next=%2Fui%2Fservices%2Fx%3Fy%3D1" {
			t.Errorf("no session: %d %q", w.Code, w.Header().Get("Location"))
		}
	}
	if w := do(h, http.MethodPost, "/ui/services/x", "", withCookie(id)); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST to shell: %d", w.Code)
	}
	if w := do(h, http.MethodGet, "/ui/", "", withCookie(id)); w.Header().Get("X-Frame-Options") != "DENY" {
		t.Errorf("security headers missing")
	}
}

func TestRemoveSessionCookie(t *testing.T) {
	cases := []struct {
		name string
		in   []string
		want []string
	}{
		{"only the session", []string{"dpa_session=tok"}, nil},
		{"others kept byte for byte", []string{`grafana_session=abc; dpa_session=tok; x="q v"`}, []string{`grafana_session=abc; x="q v"`}},
		{"several headers", []string{"a=1", "dpa_session=tok;b=2"}, []string{"a=1; b=2"}},
		{"a similar name stays", []string{"dpa_session2=x"}, []string{"dpa_session2=x"}},
		{"none", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tc.in {
				h.Add("Cookie", v)
			}
			RemoveSessionCookie(h)
			if got := h.Values("Cookie"); strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("Cookie = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestBundleServedCompressed: scripts go out gzip-compressed to clients that accept it, as
// they are to the others.
func TestBundleServedCompressed(t *testing.T) {
	opts, _ := testOptions(t, bundleDir(t))
	h := Handler(opts)
	w := do(h, http.MethodGet, "/ui/build/app.123.js", "", func(r *http.Request) { r.Header.Set("Accept-Encoding", "br, gzip") })
	if w.Code != 200 || w.Header().Get("Content-Encoding") != "gzip" || !strings.Contains(w.Header().Get("Vary"), "Accept-Encoding") {
		t.Fatalf("gzip: %d %v", w.Code, w.Header())
	}
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(zr); string(b) != "console.log(1)" {
		t.Errorf("decompressed %q", b)
	}
	for _, ae := range []string{"", "identity", "gzip;q=0"} {
		w = do(h, http.MethodGet, "/ui/build/app.123.js", "", func(r *http.Request) { r.Header.Set("Accept-Encoding", ae) })
		if w.Header().Get("Content-Encoding") != "" || w.Body.String() != "console.log(1)" {
			t.Errorf("Accept-Encoding %q: %v %q", ae, w.Header(), w.Body)
		}
	}
}

// fakeTokens is a TokenSource over a map of token → groups.
type fakeTokens struct {
	gen    uint64
	groups map[string][]string
	asked  int
}

func (f *fakeTokens) TokenGeneration() uint64 { return f.gen }
func (f *fakeTokens) DescribeToken(string) (string, string) {
	return "file", ""
}
func (f *fakeTokens) CurrentUser(src SessionSource) (*SessionUser, bool) {
	f.asked++
	for tok, g := range f.groups {
		if src.Matches(tok) {
			return &SessionUser{Name: tok, Groups: g}, true
		}
	}
	return nil, true
}

// TestSessionsFollowTokens: sign-in records the token's source (never the token); a session
// acts as its token's current user, asked once per generation of the tokens, and ends when the
// token is gone.
func TestSessionsFollowTokens(t *testing.T) {
	ctx := context.Background()
	tokens := &fakeTokens{groups: map[string][]string{goodToken: {"v"}}}
	opts, sessions := testOptions(t, bundleDir(t))
	sessions.FollowTokens(tokens)
	h := Handler(opts)
	id := signIn(t, h)
	all, _ := sessions.store.List(ctx)
	for _, s := range all {
		if s.Source == nil || s.Source.Kind != "file" || !s.Source.Matches(goodToken) || s.Source.Matches("other") || strings.Contains(string(s.Source.Sum), goodToken) {
			t.Fatalf("source %+v", s.Source)
		}
	}
	for range 3 {
		if u, _ := sessions.Lookup(ctx, id); u == nil || u.Groups[0] != "v" {
			t.Fatalf("lookup: %v", u)
		}
	}
	if tokens.asked != 1 {
		t.Errorf("the token source was asked %d times within one generation", tokens.asked)
	}
	tokens.groups[goodToken], tokens.gen = []string{"e"}, 1
	if u, _ := sessions.Lookup(ctx, id); u == nil || u.Groups[0] != "e" {
		t.Errorf("after a reload: %v", u)
	}
	delete(tokens.groups, goodToken)
	tokens.gen = 2
	if n, err := sessions.Recheck(ctx); n != 1 || err != nil {
		t.Errorf("re-check: %d %v", n, err)
	}
	if u, _ := sessions.Lookup(ctx, id); u != nil {
		t.Errorf("a session outlived its token: %v", u)
	}
	if w := do(h, http.MethodGet, "/ui/", "", withCookie(id)); w.Code != http.StatusFound {
		t.Errorf("/ui/ with the ended session: %d", w.Code)
	}
}
