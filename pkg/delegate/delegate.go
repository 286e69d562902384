// Package delegate passes on what dpa does not serve itself to the upstream of --delegate-url
// (Grafana's API server, a kube-apiserver or its aggregator behind dpa). With a client
// certificate of dpa's it does so as the upstream's front proxy, exactly as kube-aggregator
// passes requests to aggregated API servers: dpa authenticates the caller, removes every
// identity-like header the caller sent, and states the caller (after impersonation) in the
// X-Remote-User, X-Remote-Uid, X-Remote-Group and X-Remote-Extra-* headers, which the
// upstream trusts because of the certificate. Without one it passes requests on anonymously.
// A failed upstream is a Kubernetes Status (502, 503 or 504 with what went wrong), never an
// empty answer. Discovery (/apis, /openapi/v3) is the union of dpa's and the upstream's
// (discovery.go).
package delegate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericfeatures "k8s.io/apiserver/pkg/features"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/transport"

	"github.com/dataplane-aggregator/dpa/pkg/identityheaders"
)

// Options configure a Delegate.
type Options struct {
	// URL is the upstream (http or https).
	URL string
	// ClientCertFile and ClientKeyFile are dpa's client certificate: with them, dpa is the
	// upstream's front proxy (reloaded when the files change, see Run).
	ClientCertFile, ClientKeyFile string
	// CAFile verifies the upstream's serving certificate ("": the system's roots).
	CAFile string
	// StripHeaders are removed besides the identity-like headers (pkg/identityheaders) and
	// Grafana's own X-Grafana-* headers, which a Grafana upstream trusts.
	StripHeaders []string
	// Rewrite, when set, changes each outgoing request last (the UI's session cookie goes).
	Rewrite func(out *http.Request)
	// Serializer writes the Status of a failed upstream.
	Serializer runtime.NegotiatedSerializer
}

// Delegate is the reverse proxy to the upstream.
type Delegate struct {
	upstream   *url.URL
	frontProxy bool
	strip      []string
	rewrite    func(*http.Request)
	serializer runtime.NegotiatedSerializer
	proxy      *httputil.ReverseProxy
	transport  *http.Transport
	cert       *dynamiccertificates.DynamicCertKeyPairContent
}

// New checks the options and loads the certificates; nothing is dialled until a request.
func New(o Options) (*Delegate, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--delegate-url %q must be an http(s) URL", o.URL)
	}
	d := &Delegate{
		upstream:   u,
		strip:      append([]string{"X-Grafana-*"}, o.StripHeaders...),
		rewrite:    o.Rewrite,
		serializer: o.Serializer,
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--delegate-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--delegate-ca-file %s holds no PEM certificate", o.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	if (o.ClientCertFile == "") != (o.ClientKeyFile == "") {
		return nil, errors.New("--delegate-client-cert-file and --delegate-client-key-file go together")
	}
	if o.ClientCertFile != "" {
		if u.Scheme != "https" {
			return nil, errors.New("a client certificate needs an https --delegate-url")
		}
		d.cert, err = dynamiccertificates.NewDynamicServingContentFromFiles("delegate-client", o.ClientCertFile, o.ClientKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--delegate-client-cert-file: %w", err)
		}
		d.frontProxy = true
		tlsConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			certPEM, keyPEM := d.cert.CurrentCertKeyContent()
			c, err := tls.X509KeyPair(certPEM, keyPEM)
			return &c, err
		}
	}
	d.transport = &http.Transport{
		Proxy:                 nil, // the upstream is reached directly, never through HTTP(S)_PROXY
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   10 * time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   100,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	d.proxy = &httputil.ReverseProxy{
		Rewrite:      d.rewriteRequest,
		Transport:    d.transport,
		ErrorHandler: d.fail,
	}
	return d, nil
}

// Run reloads the client certificate when its files change, until ctx ends.
func (d *Delegate) Run(ctx context.Context) {
	if d.cert != nil {
		d.cert.Run(ctx, 1)
	}
}

// Close releases idle upstream connections.
func (d *Delegate) Close() { d.transport.CloseIdleConnections() }

// ServeHTTP passes r on to the upstream (streams and upgrades included).
func (d *Delegate) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.proxy.ServeHTTP(w, r) }

// rewriteRequest points the request at the upstream and sets who is asking: every identity
// header the caller sent is removed, and, as a front proxy, the authenticated caller is
// stated (the authentication filter already removed the caller's Authorization header).
func (d *Delegate) rewriteRequest(pr *httputil.ProxyRequest) {
	pr.SetURL(d.upstream)
	pr.SetXForwarded()
	identityheaders.Strip(pr.Out.Header, d.strip...)
	if d.frontProxy {
		if u, ok := apirequest.UserFrom(pr.In.Context()); ok && u != nil {
			uid := ""
			if utilfeature.DefaultFeatureGate.Enabled(genericfeatures.RemoteRequestHeaderUID) {
				uid = u.GetUID()
			}
			transport.SetAuthProxyHeaders(pr.Out, u.GetName(), uid, u.GetGroups(), u.GetExtra())
		}
	}
	if d.rewrite != nil {
		d.rewrite(pr.Out)
	}
}

// fail answers a request the upstream did not: 504 when it timed out, 503 when it could not
// be reached, 502 for anything else (TLS, a broken answer), each a Status naming the
// upstream and the cause. A caller that left gets nothing.
func (d *Delegate) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return
	}
	status := failureStatus(d.upstream, err)
	responsewriters.ErrorNegotiated(&apierrors.StatusError{ErrStatus: status}, d.serializer, schema.GroupVersion{}, w, r)
}

// failureStatus is the Status of a failed upstream call.
func failureStatus(upstream *url.URL, err error) metav1.Status {
	where := upstream.Scheme + "://" + upstream.Host
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	st := metav1.Status{Status: metav1.StatusFailure}
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		st.Code, st.Reason = http.StatusGatewayTimeout, metav1.StatusReasonTimeout
		st.Message = fmt.Sprintf("the upstream %s did not answer in time: %v", where, err)
	case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || isDNS(err):
		st.Code, st.Reason = http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable
		st.Message = fmt.Sprintf("the upstream %s cannot be reached: %v", where, err)
	case errors.As(err, &certErr) || errors.As(err, &unknownAuthority):
		st.Code, st.Reason = http.StatusBadGateway, metav1.StatusReasonUnknown
		st.Message = fmt.Sprintf("the upstream %s has a certificate dpa does not trust (--delegate-ca-file): %v", where, err)
	default:
		st.Code, st.Reason = http.StatusBadGateway, metav1.StatusReasonUnknown
		st.Message = fmt.Sprintf("the upstream %s failed: %v", where, err)
	}
	return st
}

func isDNS(err error) bool {
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr)
}
