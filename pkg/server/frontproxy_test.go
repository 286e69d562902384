package server

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/request/headerrequest"

	"github.com/dataplane-aggregator/dpa/internal/testpki"
)

// testCA makes a CA and signs client certificates with it.
type testCA struct{ *testpki.CA }

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	ca, err := testpki.NewCA(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{ca}
}

func (c *testCA) client(t testing.TB, cn string, notAfter time.Time) *x509.Certificate {
	t.Helper()
	cert, _, err := c.Issue(testpki.Spec{CommonName: cn, Usage: x509.ExtKeyUsageClientAuth, NotAfter: notAfter})
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// testFrontProxy trusts the CA *roots points at (switchable, as a CA reload does).
func testFrontProxy(roots **x509.CertPool, allowed ...string) *frontProxy {
	f := newFrontProxy(nil)
	f.verifyOptions = func() (x509.VerifyOptions, bool) {
		return x509.VerifyOptions{Roots: *roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, true
	}
	f.allowedNames = headerrequest.StaticStringSlice(allowed)
	f.headers = headerrequest.NewDynamic(headerrequest.StaticStringSlice([]string{"X-Remote-User"}), headerrequest.StaticStringSlice(nil),
		headerrequest.StaticStringSlice([]string{"X-Remote-Group"}), headerrequest.StaticStringSlice([]string{"X-Remote-Extra-"}))
	return f
}

func proxied(cert *x509.Certificate) *proxiedRequest {
	r := httptest.NewRequest("GET", "/apis", nil)
	r.Header.Set("X-Remote-User", "alice")
	r.Header.Set("X-Remote-Group", "team-a")
	if cert != nil {
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	}
	return (*proxiedRequest)(r)
}

// proxiedRequest is a request as a front proxy sends it.
type proxiedRequest http.Request

func (p *proxiedRequest) std() *http.Request { return (*http.Request)(p) }

// TestFrontProxy: the identity headers count only from a client whose chain the request-header
// CA verifies and whose name is allowed — the first time and every time after (the chain's
// verification is remembered, the name is checked each time); a CA reload or the chain's expiry
// verifies again.
func TestFrontProxy(t *testing.T) {
	ca, other := newTestCA(t, "front-proxy-ca"), newTestCA(t, "other-ca")
	roots := ca.Pool
	f := testFrontProxy(&roots, "front-proxy-client")
	good := ca.client(t, "front-proxy-client", time.Now().Add(time.Hour))
	for i := 0; i < 2; i++ { // the second round is answered from the cache
		resp, ok, err := f.AuthenticateRequest(proxied(good).std())
		if err != nil || !ok || resp.User.GetName() != "alice" || resp.User.GetGroups()[0] != "team-a" {
			t.Fatalf("round %d: %v %v %+v", i, ok, err, resp)
		}
		if _, _, err := f.AuthenticateRequest(proxied(ca.client(t, "someone-else", time.Now().Add(time.Hour))).std()); err == nil || !strings.Contains(err.Error(), "not in the allowed list") {
			t.Errorf("round %d: a name not allowed: %v", i, err)
		}
		if _, _, err := f.AuthenticateRequest(proxied(other.client(t, "front-proxy-client", time.Now().Add(time.Hour))).std()); err == nil {
			t.Errorf("round %d: another CA's certificate was accepted", i)
		}
	}
	if len(f.verified) == 0 {
		t.Fatal("nothing remembered")
	}
	if _, ok, err := f.AuthenticateRequest(proxied(nil).std()); ok || err != nil {
		t.Errorf("no client certificate: %v %v, want no opinion", ok, err)
	}
	// The CA is reloaded with another bundle: the chain remembered under the old one is
	// verified again, and fails.
	roots = other.Pool
	if _, _, err := f.AuthenticateRequest(proxied(good).std()); err == nil {
		t.Error("a chain verified under the old CA bundle passed after the reload")
	}
	// Past the chain's expiry the remembered verification is not used.
	roots = ca.Pool
	short := ca.client(t, "front-proxy-client", time.Now().Add(time.Minute))
	opts, _ := f.verifyOptions()
	if err := f.verify([]*x509.Certificate{short}, opts, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := f.verify([]*x509.Certificate{short}, opts, time.Now().Add(2*time.Minute)); err == nil {
		t.Error("an expired chain passed on its remembered verification")
	}
}

// BenchmarkFrontProxy: one aggregated request's authentication, the chain verified every time
// (k8s.io/apiserver's verifier) and remembered.
func BenchmarkFrontProxy(b *testing.B) {
	ca := newTestCA(b, "front-proxy-ca")
	roots := ca.Pool
	f := testFrontProxy(&roots, "front-proxy-client")
	r := proxied(ca.client(b, "front-proxy-client", time.Now().Add(time.Hour))).std()
	// (the headers authenticator removes the identity headers it read: set them again)
	b.Run("verified every request", func(b *testing.B) {
		for b.Loop() {
			clear(f.verified)
			r.Header.Set("X-Remote-User", "alice")
			if _, ok, err := f.AuthenticateRequest(r); !ok || err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("remembered", func(b *testing.B) {
		for b.Loop() {
			r.Header.Set("X-Remote-User", "alice")
			if _, ok, err := f.AuthenticateRequest(r); !ok || err != nil {
				b.Fatal(err)
			}
		}
	})
}
