package server

import (
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
)

// maxVerifiedChains bounds the front-proxy verification cache (an aggregator has one or a few
// client certificates; the cache starts over when it is full).
const maxVerifiedChains = 64

// frontProxy is k8s.io/apiserver's front-proxy authentication — the identity headers of a
// client whose certificate chain the request-header CA verifies and whose common name is
// allowed — with the chain verification remembered per presented chain and CA bundle until
// the chain's first expiry. An aggregator sends every request with the same certificate, and
// verifying its chain again each time (70 µs with a P-256 CA here) was a sixth of dpa's CPU
// per aggregated request (docs/benchmarks.md, "Topology hops"). The TLS handshake has already
// proven the client holds the certificate's key, so a chain seen before and still valid under
// the same CA bundle needs no second verification; the allowed names are checked every time.
// A CA reload (a new bundle) verifies again.
type frontProxy struct {
	verifyOptions func() (x509.VerifyOptions, bool)
	allowedNames  headerrequest.StringSliceProvider
	headers       authenticator.Request

	mu       sync.Mutex
	verified map[[sha256.Size]byte]verifiedChain
}

type verifiedChain struct {
	roots *x509.CertPool // the CA bundle it was verified under
	until time.Time      // the chain's first NotAfter
}

func newFrontProxy(rh *authenticatorfactory.RequestHeaderConfig) *frontProxy {
	f := &frontProxy{verified: map[[sha256.Size]byte]verifiedChain{}}
	if rh != nil {
		f.verifyOptions = rh.CAContentProvider.VerifyOptions
		f.allowedNames = rh.AllowedClientNames
		f.headers = headerrequest.NewDynamic(rh.UsernameHeaders, rh.UIDHeaders, rh.GroupHeaders, rh.ExtraHeaderPrefixes)
	}
	return f
}

// AuthenticateRequest implements authenticator.Request as x509request's Verifier does: no
// client certificate is no opinion; a chain that does not verify or a name not allowed is an
// error; then the identity headers decide.
func (f *frontProxy) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	opts, ok := f.verifyOptions()
	if !ok {
		return nil, false, nil
	}
	peers := req.TLS.PeerCertificates
	if err := f.verify(peers, opts, time.Now()); err != nil {
		return nil, false, err
	}
	if allowed := f.allowedNames.Value(); len(allowed) > 0 && !slices.Contains(allowed, peers[0].Subject.CommonName) {
		return nil, false, fmt.Errorf("x509: subject with cn=%s is not in the allowed list", peers[0].Subject.CommonName)
	}
	return f.headers.AuthenticateRequest(req)
}

// verify verifies the presented chain unless it was verified under the same CA bundle and
// has not expired since.
func (f *frontProxy) verify(peers []*x509.Certificate, opts x509.VerifyOptions, now time.Time) error {
	h := sha256.New()
	for _, c := range peers {
		h.Write(c.Raw)
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	f.mu.Lock()
	v, ok := f.verified[key]
	f.mu.Unlock()
	if ok && v.roots == opts.Roots && now.Before(v.until) {
		return nil
	}
	if opts.Intermediates == nil && len(peers) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range peers[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	opts.CurrentTime = now
	chains, err := peers[0].Verify(opts)
	if err != nil {
		return err
	}
	until := peers[0].NotAfter
	for _, c := range chains[0] {
		if c.NotAfter.Before(until) {
			until = c.NotAfter
		}
	}
	f.mu.Lock()
	if len(f.verified) >= maxVerifiedChains {
		clear(f.verified)
	}
	f.verified[key] = verifiedChain{roots: opts.Roots, until: until}
	f.mu.Unlock()
	return nil
}
