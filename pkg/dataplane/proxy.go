package dataplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/identityheaders"
	"github.com/dataplane-aggregator/dpa/pkg/provisioning"
)

func init() {
	handle(v0alpha1.DataPlaneServiceServiceTypeDatasourceProxy, serviceHandler{serve: (*call).serveProxy})
}

func newTLSConfig() *tls.Config { return &tls.Config{MinVersion: tls.VersionTLS12} }

// serveProxy reverse-proxies to the datasource URL (+ sub-path and query). The caller's
// credentials never reach the upstream; basic auth and custom headers come from the
// datasource settings.
func (c *call) serveProxy(w *statusWriter) {
	if herr := c.resolveDatasource(); herr != nil {
		c.fail(w, herr)
		return
	}
	ds := c.ds
	if ds.URL == "" {
		c.fail(w, errNotFound("datasource %q has no url to proxy to", ds.UID))
		return
	}
	base, err := url.Parse(ds.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		c.fail(w, &httpError{code: http.StatusBadGateway, reason: metav1.StatusReasonInternalError,
			msg: fmt.Sprintf("datasource %q has an invalid url", ds.UID)})
		return
	}
	limit := c.h.opts.MaxBodyBytes
	if c.r.ContentLength > limit {
		c.fail(w, errTooLarge(limit))
		return
	}
	if c.r.Body != nil && c.r.Body != http.NoBody {
		c.r.Body = http.MaxBytesReader(w, c.r.Body, limit)
	}
	// Keep the sub-path inside the datasource's base path ("../" cannot escape it).
	sub := ""
	if c.t.sub != "" {
		sub = path.Clean("/" + c.t.sub)
		if strings.HasSuffix(c.t.sub, "/") && sub != "/" {
			sub += "/"
		}
	}
	target := *base
	target.Path = strings.TrimSuffix(base.Path, "/") + sub
	if target.Path == "" {
		target.Path = "/"
	}
	target.RawPath = ""
	target.RawQuery = c.r.URL.RawQuery
	target.Fragment = ""
	target.User = nil

	transport := c.proxyTransport(ds)
	ctx := c.r.Context()
	if d := c.h.timeouts[c.t.svc.index]; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}

	rp := &httputil.ReverseProxy{
		Transport: transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			out := pr.Out
			out.URL = &target
			out.Host = ""
			for k := range out.Header {
				if credentialHeaders[k] || identityheaders.Is(k) {
					out.Header.Del(k)
				}
			}
			out.Header.Del("X-Forwarded-For")
			if ds.BasicAuth {
				pw, _ := ds.SecureJSONData.Get("basicAuthPassword")
				out.SetBasicAuth(ds.BasicAuthUser, pw)
			}
			for i := 1; ; i++ {
				name := ds.JSONString(fmt.Sprintf("httpHeaderName%d", i))
				if name == "" {
					break
				}
				val, _ := ds.SecureJSONData.Get(fmt.Sprintf("httpHeaderValue%d", i))
				out.Header.Set(name, val)
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Del("Set-Cookie")
			setUntrustedContentHeaders(resp.Header)
			if max := c.h.opts.ProxyResponseLimit; max > 0 {
				// Grafana's [dataproxy] response_limit: a larger answer is refused when its
				// length is known, and cut off at the limit when it is not.
				if resp.ContentLength > max {
					return &responseTooLarge{limit: max}
				}
				resp.Body = &limitedBody{ReadCloser: resp.Body, left: max, limit: max}
			}
			return nil
		},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var mbe *http.MaxBytesError
			var rtl *responseTooLarge
			switch {
			case errors.As(err, &rtl):
				c.fail(w, &httpError{code: http.StatusBadGateway, reason: metav1.StatusReasonInternalError,
					msg: fmt.Sprintf("datasource %q: %v", ds.UID, rtl)})
			case errors.As(err, &mbe):
				c.fail(w, errTooLarge(limit))
			case errors.Is(err, context.DeadlineExceeded):
				c.fail(w, &httpError{code: http.StatusGatewayTimeout, reason: metav1.StatusReasonTimeout,
					msg: fmt.Sprintf("datasource %q: upstream timed out", ds.UID)})
			case errors.Is(err, context.Canceled):
				c.fail(w, &httpError{code: statusClientClosed, msg: "client closed the request", cause: err})
			default:
				// Never echo the upstream URL with credentials: name the datasource only.
				c.fail(w, &httpError{code: http.StatusBadGateway, reason: metav1.StatusReasonInternalError,
					msg: fmt.Sprintf("datasource %q: upstream request failed: %s", ds.UID, sanitizeNetErr(err))})
			}
		},
	}
	rp.ServeHTTP(w, c.r.WithContext(ctx))
}

// proxyTransport picks the transport for ds: the shared verifying or (tlsSkipVerify)
// non-verifying one, or — for a custom CA or client certificate — one of its own, cached
// with the provisioning snapshot it belongs to.
func (c *call) proxyTransport(ds *provisioning.Datasource) *http.Transport {
	tc := ds.TLSClientConfig()
	if tc == nil {
		if ds.JSONBool("tlsSkipVerify") {
			return c.h.proxyInsecure
		}
		return c.h.proxyVerify
	}
	sc := c.h.cache(c.config())
	if v, ok := sc.proxy.Load(ds); ok {
		return v.(*http.Transport)
	}
	t := c.h.proxyVerify.Clone()
	t.TLSClientConfig = tc.Clone()
	v, _ := sc.proxy.LoadOrStore(ds, t)
	return v.(*http.Transport)
}

// sanitizeNetErr strips the URL from *url.Error messages.
func sanitizeNetErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// responseTooLarge is an upstream answer over --proxy-response-limit-bytes.
type responseTooLarge struct{ limit int64 }

func (e *responseTooLarge) Error() string {
	return fmt.Sprintf("the upstream's answer exceeds the response limit of %d bytes", e.limit)
}

// limitedBody ends an upstream body of unknown length with an error after limit bytes.
type limitedBody struct {
	io.ReadCloser
	left, limit int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, &responseTooLarge{limit: l.limit}
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.ReadCloser.Read(p)
	l.left -= int64(n)
	return n, err
}
