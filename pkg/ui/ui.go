// Package ui serves the standalone web UI of the Data Plane Aggregator at /ui/: the bundle
// built from plugin/ (embedded from dist/ or read from Options.Dir), a sign-in page that
// checks a bearer token once and starts a server-side session (sessions.go: the HttpOnly
// cookie holds a random id, never the token), and sign-out, which revokes the session.
//
// The API server authenticates browser requests with SessionIDFromRequest, which only yields
// the cookie's id for safe methods or for requests carrying X-DPA-CSRF: 1.
package ui

import (
	"bytes"
	"compress/gzip"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed all:dist
var embedded embed.FS

// favicon is the UI's icon, served at <prefix>/favicon.svg without a session and whether or
// not the bundle is built: the sign-in page links it, so the browser does not ask dpa's API
// for /favicon.ico (which needs credentials there: a 401 on every sign-in).
//
//go:embed favicon.svg
var favicon []byte

const (
	// CookieName is the session cookie holding the session id.
	CookieName = "dpa_session"
	// CSRFHeader must be set to "1" on cookie-authenticated writes.
	CSRFHeader = "X-DPA-CSRF"
	// DefaultPrefix is where the UI is mounted.
	DefaultPrefix = "/ui"
)

// Options configures Handler.
type Options struct {
	// Prefix the handler is mounted at (default "/ui"). The handler sees full request paths.
	Prefix string
	// Dir, if set, serves the bundle from this directory instead of the embedded copy.
	Dir string
	// Authenticate checks a bearer token (e.g. with the API server's token authenticator) and
	// returns its user, nil when the token is not accepted. Required: without it sign-in
	// always fails.
	Authenticate func(ctx context.Context, token string) (*SessionUser, error)
	// Sessions keeps the sessions. Required.
	Sessions *Sessions
	// Failures counts failed sign-ins per client address (nil: a limiter of its own with the
	// defaults). dpa shares it with the API's bearer tokens: one budget per address.
	Failures *FailureLimiter
	// Now is for tests.
	Now func() time.Time
}

type handler struct {
	opts     Options
	prefix   string
	files    fs.FS
	failures *FailureLimiter
	// gzipped caches compressed copies of the bundle's scripts and styles (immutable).
	gzipped sync.Map // name → []byte
}

// Handler returns the /ui/ handler. Mount it for Prefix and Prefix+"/".
func Handler(opts Options) http.Handler {
	h := &handler{opts: opts, prefix: strings.TrimRight(opts.Prefix, "/")}
	if h.prefix == "" {
		h.prefix = DefaultPrefix
	}
	if opts.Now == nil {
		h.opts.Now = time.Now
	}
	h.failures = opts.Failures
	if h.failures == nil {
		h.failures = NewFailureLimiter(DefaultFailureLimit, DefaultFailureWindow, h.opts.Now)
	}
	if opts.Dir != "" {
		h.files = os.DirFS(opts.Dir)
	} else {
		sub, err := fs.Sub(embedded, "dist")
		if err == nil {
			h.files = sub
		}
	}
	return h
}

// SessionIDFromRequest returns the session cookie's id when the request may be
// authenticated by it: safe methods (GET, HEAD, OPTIONS) always, other methods only with the
// header X-DPA-CSRF: 1 (a cross-site form cannot set it; cross-origin fetch needs CORS).
func SessionIDFromRequest(r *http.Request) (string, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return "", false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if r.Header.Get(CSRFHeader) != "1" {
			return "", false
		}
	}
	return c.Value, true
}

// RemoveSessionCookie deletes the session cookie from the Cookie headers in h and keeps every
// other cookie byte for byte: a request dpa passes on to another server must not carry dpa's
// session.
func RemoveSessionCookie(h http.Header) {
	lines := h.Values("Cookie")
	if len(lines) == 0 {
		return
	}
	var kept []string
	for _, line := range lines {
		for _, pair := range strings.Split(line, ";") {
			pair = strings.TrimSpace(pair)
			if name, _, _ := strings.Cut(pair, "="); pair != "" && strings.TrimSpace(name) != CookieName {
				kept = append(kept, pair)
			}
		}
	}
	h.Del("Cookie")
	if len(kept) > 0 {
		h.Set("Cookie", strings.Join(kept, "; "))
	}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == h.prefix {
		http.Redirect(w, r, h.prefix+"/", http.StatusMovedPermanently)
		return
	}
	if !strings.HasPrefix(p, h.prefix+"/") {
		http.NotFound(w, r)
		return
	}
	rel := strings.TrimPrefix(p, h.prefix) // starts with "/"
	setSecurityHeaders(w)
	switch rel {
	case "/favicon.svg":
		serveFavicon(w, r)
		return
	case "/login":
		h.login(w, r)
		return
	case "/logout":
		h.logout(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !h.bundlePresent() {
		h.notBuilt(w)
		return
	}
	clean := path.Clean(rel)
	if clean != "/" && clean != "/index.html" {
		name := strings.TrimPrefix(clean, "/")
		if st, err := fs.Stat(h.files, name); err == nil && !st.IsDir() {
			if strings.HasPrefix(name, "build/") {
				w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
				if strings.Contains(name, "/img/") {
					w.Header().Set("Cache-Control", "public, max-age=86400")
				}
			}
			if h.serveCompressed(w, r, name) {
				return
			}
			http.ServeFileFS(w, r, h.files, name)
			return
		}
		// Unknown assets are 404s; anything else is a client-side route.
		if strings.HasPrefix(name, "build/") || path.Ext(name) != "" {
			http.NotFound(w, r)
			return
		}
	}
	h.index(w, r)
}

func serveFavicon(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Header().Set("Content-Length", strconv.Itoa(len(favicon)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(favicon)
	}
}

func (h *handler) bundlePresent() bool {
	if h.files == nil {
		return false
	}
	st, err := fs.Stat(h.files, "index.html")
	return err == nil && !st.IsDir()
}

// index serves the SPA shell; without a valid session it sends the browser to sign in.
func (h *handler) index(w http.ResponseWriter, r *http.Request) {
	ok := false
	if id, has := SessionIDFromRequest(r); has && h.opts.Sessions != nil {
		u, err := h.opts.Sessions.Lookup(r.Context(), id)
		ok = err == nil && u != nil
	}
	if !ok {
		http.Redirect(w, r, h.prefix+"/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
		return
	}
	b, err := fs.ReadFile(h.files, "index.html")
	if err != nil {
		h.notBuilt(w)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

func (h *handler) notBuilt(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>UI not built</title>
<link rel="icon" href="` + template.HTMLEscapeString(h.prefix) + `/favicon.svg" type="image/svg+xml"></head>
<body style="font-family:sans-serif;max-width:40em;margin:3em auto">
<h1>UI not built: run make ui</h1>
<p>The web UI bundle is missing from this binary. Build it with <code>make ui</code>
(<code>cd plugin &amp;&amp; npm ci &amp;&amp; npm run build:standalone</code>), then rebuild <code>dpa</code>,
or point the server at a built bundle directory.</p>
<p>The API under <code>/apis/</code> works without the UI.</p>
</body></html>`))
}

var loginTmpl = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Data Plane Aggregator</title>
<link rel="icon" href="{{.Icon}}" type="image/svg+xml">
<style>
:root{color-scheme:light dark}
body{font-family:Inter,Helvetica,Arial,sans-serif;background:#111217;color:#ccccdc;display:flex;min-height:100vh;align-items:center;justify-content:center;margin:0}
@media (prefers-color-scheme: light){body{background:#f4f5f5;color:#24292e}.card{background:#fff!important;border-color:#d8d9da!important}input{background:#fff!important;color:#24292e!important}button:focus-visible{outline-color:#1f62e0!important}}
.card{background:#181b1f;border:1px solid #2c3235;border-radius:4px;padding:32px;width:min(420px,90vw)}
h1{font-size:20px;margin:0 0 16px}
label{display:block;margin-bottom:6px;font-weight:500}
input{width:100%;box-sizing:border-box;padding:8px;border:1px solid #5b5d61;border-radius:2px;background:#111217;color:#ccccdc;font:inherit}
input:focus{outline:2px solid #3d71d9;outline-offset:1px}
button{margin-top:16px;padding:8px 16px;border:0;border-radius:2px;background:#3d71d9;color:#fff;font:inherit;cursor:pointer}
button:focus-visible{outline:2px solid #fff;outline-offset:2px}
.err{background:#d10e5c;color:#fff;padding:8px;border-radius:2px;margin-bottom:16px}
.hint{font-size:12px;opacity:.8;margin-top:12px}
</style></head>
<body><main class="card">
<h1>Data Plane Aggregator</h1>
{{if .Error}}<div class="err" role="alert" id="login-error">{{.Error}}</div>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="next" value="{{.Next}}">
<label for="token">Bearer token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form>
<p class="hint">Use a token the API server accepts, the same one kubectl uses: the admin token is the file <code>admin-token</code> in dpa's data directory (<code>--data-dir</code>, <code>./data</code> by default); other users' tokens come from <code>--token-auth-file</code>.</p>
</main></body></html>
`))

type loginPage struct {
	Action, Next, Error, Icon string
}

func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	page := loginPage{Action: h.prefix + "/login", Next: h.safeNext(r.FormValue("next")), Icon: h.prefix + "/favicon.svg"}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.renderLogin(w, http.StatusOK, page)
	case http.MethodPost:
		// A sign-in form posted from another site (login CSRF) is refused: browsers send
		// Origin on every POST, and ours is this server.
		if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r) {
			page.Error = "Sign-in from another site is not allowed."
			h.renderLogin(w, http.StatusForbidden, page)
			return
		}
		client := ClientAddr(r)
		if wait := h.failures.Wait(client); wait > 0 {
			retry := RetryAfter(wait)
			w.Header().Set("Retry-After", retry)
			page.Error = fmt.Sprintf("Too many tokens from your address were not accepted. Try again in %ss.", retry)
			h.renderLogin(w, http.StatusTooManyRequests, page)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			page.Error = "Malformed form."
			h.renderLogin(w, http.StatusBadRequest, page)
			return
		}
		page.Next = h.safeNext(r.PostForm.Get("next"))
		token := strings.TrimSpace(r.PostForm.Get("token"))
		if token == "" {
			page.Error = "Enter a token."
			h.renderLogin(w, http.StatusBadRequest, page)
			return
		}
		if h.opts.Authenticate == nil || h.opts.Sessions == nil {
			page.Error = "Sign-in is not configured on this server."
			h.renderLogin(w, http.StatusServiceUnavailable, page)
			return
		}
		u, err := h.opts.Authenticate(r.Context(), token)
		if err != nil && !errors.Is(err, context.Canceled) {
			page.Error = "Could not verify the token."
			h.renderLogin(w, http.StatusInternalServerError, page)
			return
		}
		if u == nil {
			h.failures.Fail(client)
			page.Error = "The token was not accepted."
			h.renderLogin(w, http.StatusUnauthorized, page)
			return
		}
		id, expires, err := h.opts.Sessions.Start(r.Context(), *u, token)
		if err != nil {
			page.Error = "Could not start a session."
			h.renderLogin(w, http.StatusServiceUnavailable, page)
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name:     CookieName,
			Value:    id,
			Path:     "/",
			Expires:  expires,
			MaxAge:   int(time.Until(expires) / time.Second),
			HttpOnly: true,
			Secure:   true,
			SameSite: http.SameSiteStrictMode,
		})
		http.Redirect(w, r, page.Next, http.StatusSeeOther)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// sameOrigin reports whether an Origin header names this server as the client reached it.
func sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Scheme == "https" && strings.EqualFold(u.Host, r.Host)
}

func (h *handler) renderLogin(w http.ResponseWriter, status int, page loginPage) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = loginTmpl.Execute(w, page)
}

// logout revokes the session (in the store, so on every replica), clears the cookie (GET or
// POST) and returns to the sign-in page.
func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil && h.opts.Sessions != nil {
		_ = h.opts.Sessions.End(r.Context(), c.Value)
	}
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    "",
		Path:     "/",
		Expires:  time.Unix(0, 0),
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   true,
		SameSite: http.SameSiteStrictMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, h.prefix+"/login", http.StatusSeeOther)
}

// safeNext only allows redirects to paths under the UI prefix (no open redirects).
func (h *handler) safeNext(next string) string {
	def := h.prefix + "/"
	if next == "" || !strings.HasPrefix(next, h.prefix+"/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\r\n") {
		return def
	}
	if strings.HasPrefix(next, h.prefix+"/login") || strings.HasPrefix(next, h.prefix+"/logout") {
		return def
	}
	return next
}

func setSecurityHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Content-Security-Policy",
		"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'")
}

// serveCompressed answers a script or stylesheet of the bundle gzip-compressed when the
// client accepts it (the 1.2 MB bundle is ~300 KB so). The compressed bytes are made once per
// file and kept: bundle files are immutable (hashed names).
func (h *handler) serveCompressed(w http.ResponseWriter, r *http.Request, name string) bool {
	ext := path.Ext(name)
	if ext != ".js" && ext != ".css" {
		return false
	}
	w.Header().Add("Vary", "Accept-Encoding")
	if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
		return false
	}
	v, ok := h.gzipped.Load(name)
	if !ok {
		raw, err := fs.ReadFile(h.files, name)
		if err != nil {
			return false
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(raw)
		_ = zw.Close()
		v, _ = h.gzipped.LoadOrStore(name, buf.Bytes())
	}
	b := v.([]byte)
	hd := w.Header()
	hd.Set("Content-Encoding", "gzip")
	hd.Set("Content-Type", mime.TypeByExtension(ext))
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
	return true
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip (its q, or *'s, above 0).
func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if enc = strings.TrimSpace(enc); !strings.EqualFold(enc, "gzip") && enc != "*" {
			continue
		}
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		return q > 0
	}
	return false
}
