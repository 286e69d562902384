package delegate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apiserver/pkg/authentication/user"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"

	"github.com/dataplane-aggregator/dpa/internal/testpki"
)

var codecs = func() serializer.CodecFactory {
	s := runtime.NewScheme()
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	return serializer.NewCodecFactory(s)
}()

// clientCert writes a client certificate for cn, signed by a CA of its own, into dir, and
// returns the pool of that CA.
func clientCert(t *testing.T, dir, cn string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	ca, err := testpki.NewCA(dir, cn+"-ca")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err = ca.IssueFiles(testpki.Spec{CommonName: cn, Usage: x509.ExtKeyUsageClientAuth})
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, ca.Pool
}

// tlsUpstream is an HTTPS upstream that requires a client certificate signed by clients and
// records the last request; caFile verifies it.
func tlsUpstream(t *testing.T, clients *x509.CertPool, h http.HandlerFunc) (srv *httptest.Server, caFile string) {
	t.Helper()
	srv = httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are what some tests want
	srv.TLS = &tls.Config{ClientCAs: clients, ClientAuth: tls.VerifyClientCertIfGiven}
	if clients != nil {
		srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "upstream-ca.crt")
	if err := testpki.WritePEM(caFile, "CERTIFICATE", srv.Certificate().Raw); err != nil {
		t.Fatal(err)
	}
	return srv, caFile
}

func newDelegate(t *testing.T, o Options) *Delegate {
	t.Helper()
	o.Serializer = codecs
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// serve sends r through d as the authenticated caller u.
func serve(d http.Handler, r *http.Request, u user.Info) *httptest.ResponseRecorder {
	if u != nil {
		r = r.WithContext(apirequest.WithUser(r.Context(), u))
	}
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, r)
	return rec
}

// forged are identity headers a caller may send to pose as someone else.
var forged = map[string]string{
	"X-Remote-User": "mallory", "X-Remote-Uid": "0", "X-Remote-Group": "system:masters", "X-Remote-Extra-Scopes": "all",
	"Impersonate-User": "admin", "Impersonate-Group": "system:masters", "X-Webauth-User": "admin", "X-Grafana-Org-Id": "1",
	"X-Forwarded-User": "admin", "X-Auth-Request-Email": "a@b",
}

// TestFrontProxy: with dpa's client certificate the upstream sees the authenticated caller in
// X-Remote-* headers and none of the caller's own identity headers; without one it sees no
// identity at all.
func TestFrontProxy(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, clients := clientCert(t, dir, "dpa-front-proxy")
	var seen *http.Request
	srv, caFile := tlsUpstream(t, clients, func(w http.ResponseWriter, r *http.Request) {
		seen = r
		_, _ = io.WriteString(w, "ok")
	})
	alice := &user.DefaultInfo{Name: "alice", UID: "alice-uid", Groups: []string{"team-a", "system:authenticated"},
		Extra: map[string][]string{"scopes": {"read", "write"}}}

	t.Run("as front proxy", func(t *testing.T) {
		d := newDelegate(t, Options{URL: srv.URL, ClientCertFile: certFile, ClientKeyFile: keyFile, CAFile: caFile})
		r := httptest.NewRequest("GET", "/api/v1/namespaces?watch=1", nil)
		for k, v := range forged {
			r.Header.Set(k, v)
		}
		rec := serve(d, r, alice)
		if rec.Code != 200 || seen == nil {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		if cn := seen.TLS.PeerCertificates[0].Subject.CommonName; cn != "dpa-front-proxy" {
			t.Errorf("client certificate %q", cn)
		}
		if got := seen.Header.Get("X-Remote-User"); got != "alice" {
			t.Errorf("X-Remote-User %q", got)
		}
		if got := seen.Header.Values("X-Remote-Group"); !slices.Equal(got, alice.Groups) {
			t.Errorf("X-Remote-Group %q", got)
		}
		if got := seen.Header.Values("X-Remote-Extra-Scopes"); !slices.Equal(got, []string{"read", "write"}) {
			t.Errorf("X-Remote-Extra-Scopes %q", got)
		}
		for _, h := range []string{"Impersonate-User", "Impersonate-Group", "X-Webauth-User", "X-Grafana-Org-Id", "X-Forwarded-User", "X-Auth-Request-Email"} {
			if v := seen.Header.Get(h); v != "" {
				t.Errorf("the caller's %s reached the upstream: %q", h, v)
			}
		}
		if seen.URL.RequestURI() != "/api/v1/namespaces?watch=1" {
			t.Errorf("upstream got %s", seen.URL.RequestURI())
		}
	})
	t.Run("without a client certificate", func(t *testing.T) {
		plain, plainCA := tlsUpstream(t, nil, func(w http.ResponseWriter, r *http.Request) { seen = r })
		d := newDelegate(t, Options{URL: plain.URL, CAFile: plainCA})
		r := httptest.NewRequest("GET", "/api/v1/namespaces", nil)
		for k, v := range forged {
			r.Header.Set(k, v)
		}
		if rec := serve(d, r, alice); rec.Code != 200 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		for k := range forged {
			if v := seen.Header.Get(k); v != "" {
				t.Errorf("%s reached the upstream: %q", k, v)
			}
		}
	})
	t.Run("a client certificate the upstream does not trust", func(t *testing.T) {
		other, otherKey, _ := clientCert(t, dir, "someone-else")
		d := newDelegate(t, Options{URL: srv.URL, ClientCertFile: other, ClientKeyFile: otherKey, CAFile: caFile})
		rec := serve(d, httptest.NewRequest("GET", "/api", nil), alice)
		if st := status(t, rec); rec.Code != http.StatusBadGateway || !strings.Contains(st.Message, srv.URL) {
			t.Errorf("%d %+v", rec.Code, st)
		}
	})
}

func status(t *testing.T, rec *httptest.ResponseRecorder) metav1.Status {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Kind != "Status" || int(st.Code) != rec.Code {
		t.Fatalf("not a Status with the HTTP code: %d %q (%v)", rec.Code, rec.Body, err)
	}
	return st
}

// TestFailures: an upstream that does not answer is a Status saying why, never an empty body.
func TestFailures(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	untrusted, _ := tlsUpstream(t, nil, func(http.ResponseWriter, *http.Request) {})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	for name, tc := range map[string]struct {
		url     string
		timeout time.Duration
		code    int
		reason  metav1.StatusReason
		msg     string
	}{
		"refused":           {closed, 0, 503, metav1.StatusReasonServiceUnavailable, "cannot be reached"},
		"unknown authority": {untrusted.URL, 0, 502, metav1.StatusReasonUnknown, "--delegate-ca-file"},
		"timeout":           {slow.URL, 100 * time.Millisecond, 504, metav1.StatusReasonTimeout, "did not answer in time"},
	} {
		t.Run(name, func(t *testing.T) {
			d := newDelegate(t, Options{URL: tc.url})
			r := httptest.NewRequest("GET", "/api/v1/pods", nil)
			if tc.timeout > 0 {
				ctx, cancel := context.WithTimeout(r.Context(), tc.timeout)
				defer cancel()
				r = r.WithContext(ctx)
			}
			rec := serve(d, r, &user.DefaultInfo{Name: "alice"})
			st := status(t, rec)
			if rec.Code != tc.code || st.Reason != tc.reason || !strings.Contains(st.Message, tc.msg) || !strings.Contains(st.Message, strings.TrimPrefix(strings.TrimPrefix(tc.url, "http://"), "https://")) {
				t.Errorf("%d %+v", rec.Code, st)
			}
		})
	}
}

// TestNewRefuses: bad options fail at start, each naming its flag.
func TestNewRefuses(t *testing.T) {
	dir := t.TempDir()
	cert, key, _ := clientCert(t, dir, "dpa")
	for name, tc := range map[string]struct {
		o    Options
		want string
	}{
		"url":            {Options{URL: "ftp://x"}, "--delegate-url"},
		"cert alone":     {Options{URL: "https://x", ClientCertFile: cert}, "go together"},
		"cert over http": {Options{URL: "http://x", ClientCertFile: cert, ClientKeyFile: key}, "https"},
		"ca not pem":     {Options{URL: "https://x", CAFile: key}, "no PEM certificate"},
		"ca missing":     {Options{URL: "https://x", CAFile: filepath.Join(dir, "nope")}, "--delegate-ca-file"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want %q", err, tc.want)
			}
		})
	}
}

// discoveryServer answers /apis in both formats and /openapi/v3 with the given groups.
func discoveryServer(name string, groups ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/apis" && discoveryFormat(r.Header.Get("Accept")) == aggregatedJSON:
			l := apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}}
			for _, g := range groups {
				l.Items = append(l.Items, apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: g},
					Versions: []apidiscoveryv2.APIVersionDiscovery{{Version: "v1", Resources: []apidiscoveryv2.APIResourceDiscovery{{Resource: name}}}}})
			}
			w.Header().Set("Content-Type", aggregatedJSON)
			_ = json.NewEncoder(w).Encode(l)
		case r.URL.Path == "/apis":
			l := metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
			for _, g := range groups {
				l.Groups = append(l.Groups, metav1.APIGroup{Name: g, PreferredVersion: metav1.GroupVersionForDiscovery{GroupVersion: g + "/v1", Version: name}})
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(l)
		case r.URL.Path == "/openapi/v3":
			paths := map[string]any{}
			for _, g := range groups {
				paths["apis/"+g+"/v1"] = map[string]string{"serverRelativeURL": "/openapi/v3/apis/" + g + "/v1?from=" + name}
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"paths": paths})
		case strings.HasPrefix(r.URL.Path, "/openapi/v3/"):
			_, _ = io.WriteString(w, name)
		default:
			http.NotFound(w, r)
		}
	}
}

// TestDiscoveryUnion: /apis (aggregated and legacy) and the /openapi/v3 root list dpa's
// groups and the upstream's, dpa's first and winning a group both serve; each /openapi/v3
// document comes from the server that lists it; without the upstream, dpa's part stays.
func TestDiscoveryUnion(t *testing.T) {
	upstream := httptest.NewServer(discoveryServer("upstream", "apps", "shared.example", "apiregistration.k8s.io"))
	t.Cleanup(upstream.Close)
	local := discoveryServer("dpa", "aggregation.grafana.app", "shared.example")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := newDelegate(t, Options{URL: upstream.URL}).WithDiscoveryUnion(local, log)
	get := func(path, accept string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Accept", accept)
		return serve(h, r, &user.DefaultInfo{Name: "alice"})
	}

	t.Run("aggregated", func(t *testing.T) {
		rec := get("/apis", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
		var l apidiscoveryv2.APIGroupDiscoveryList
		if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil || rec.Header().Get("Content-Type") != aggregatedJSON {
			t.Fatalf("%d %s %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		var got []string
		for _, g := range l.Items {
			got = append(got, g.Name+"="+g.Versions[0].Resources[0].Resource)
		}
		want := []string{"aggregation.grafana.app=dpa", "shared.example=dpa", "apps=upstream", "apiregistration.k8s.io=upstream"}
		if !slices.Equal(got, want) || l.Kind != "APIGroupDiscoveryList" {
			t.Errorf("groups %v, want %v (kind %q)", got, want, l.Kind)
		}
	})
	t.Run("legacy", func(t *testing.T) {
		rec := get("/apis", "application/json")
		var l metav1.APIGroupList
		if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, g := range l.Groups {
			got = append(got, g.Name+"="+g.PreferredVersion.Version)
		}
		if want := []string{"aggregation.grafana.app=dpa", "shared.example=dpa", "apps=upstream", "apiregistration.k8s.io=upstream"}; !slices.Equal(got, want) {
			t.Errorf("groups %v, want %v", got, want)
		}
	})
	t.Run("openapi", func(t *testing.T) {
		var root openAPIPaths
		if err := json.Unmarshal(get("/openapi/v3", "application/json").Body.Bytes(), &root); err != nil {
			t.Fatal(err)
		}
		if len(root.Paths) != 4 || !strings.Contains(string(root.Paths["apis/shared.example/v1"]), "from=dpa") {
			t.Errorf("paths %v", root.Paths)
		}
		for path, want := range map[string]string{"/openapi/v3/apis/apps/v1": "upstream", "/openapi/v3/apis/shared.example/v1": "dpa", "/openapi/v3/apis/aggregation.grafana.app/v1": "dpa"} {
			if got := get(path, "application/json").Body.String(); got != want {
				t.Errorf("%s from %q, want %s", path, got, want)
			}
		}
	})
	t.Run("upstream down", func(t *testing.T) {
		down := newDelegate(t, Options{URL: "http://127.0.0.1:1"}).WithDiscoveryUnion(local, log)
		r := httptest.NewRequest("GET", "/apis", nil)
		rec := serve(down, r, &user.DefaultInfo{Name: "alice"})
		var l metav1.APIGroupList
		if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil || rec.Code != 200 || len(l.Groups) != 2 || !strings.Contains(rec.Header().Get("Warning"), "upstream") {
			t.Errorf("%d %s warning %q", rec.Code, rec.Body, rec.Header().Get("Warning"))
		}
	})
}
