package dataplane

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/identityheaders"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

var errUnimplemented = status.Error(codes.Unimplemented, "not implemented by the plugin")

// hopHeaders are connection-level headers never forwarded (RFC 9110 §7.6.1).
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

// credentialHeaders belong to the caller's session with this server and never reach a plugin
// or an upstream; nor does any identity-like header (pkg/identityheaders).
var credentialHeaders = map[string]bool{"Authorization": true, "Cookie": true}

func dropHeader(k string, connTokens map[string]bool) bool {
	return hopHeaders[k] || credentialHeaders[k] || connTokens[k] || identityheaders.Is(k)
}

func connectionTokens(h http.Header) map[string]bool {
	var m map[string]bool
	for _, v := range h["Connection"] {
		for _, tok := range strings.Split(v, ",") {
			if tok = textproto.TrimString(tok); tok != "" {
				if m == nil {
					m = map[string]bool{}
				}
				m[textproto.CanonicalMIMEHeaderKey(tok)] = true
			}
		}
	}
	return m
}

// resourceHeaders converts the request headers for CallResource.
func resourceHeaders(h http.Header) map[string]*pluginv2.StringList {
	tokens := connectionTokens(h)
	out := make(map[string]*pluginv2.StringList, len(h))
	for k, vs := range h {
		if dropHeader(k, tokens) {
			continue
		}
		out[k] = &pluginv2.StringList{Values: vs}
	}
	return out
}

// A resource call and a custom route are one CallResource: built-in path or the spec's.
func init() {
	for _, t := range []routes.ServiceType{v0alpha1.DataPlaneServiceServiceTypeResource, v0alpha1.DataPlaneServiceServiceTypeRoute} {
		handle(t, serviceHandler{prepare: (*call).prepareResource})
	}
}

// prepareResource reads the body (413, 408) before the plugin is asked for.
func (c *call) prepareResource(w http.ResponseWriter) (pluginCall, *httpError) {
	body, herr := c.readBody(w)
	if herr != nil {
		return nil, herr
	}
	return func(ctx context.Context, w http.ResponseWriter) { c.callResource(ctx, w, body) }, nil
}

func (c *call) callResource(ctx context.Context, w http.ResponseWriter, body []byte) {
	if c.plugin.ResourceClient == nil {
		c.fail(w, classify(errUnimplemented, c.e.pluginID, "CallResource"))
		return
	}
	u := c.t.sub
	if c.r.URL.RawQuery != "" {
		u += "?" + c.r.URL.RawQuery
	}
	req := &pluginv2.CallResourceRequest{
		PluginContext: c.pluginContext(),
		Path:          c.t.sub,
		Method:        c.r.Method,
		Url:           u,
		Headers:       resourceHeaders(c.r.Header),
		Body:          body,
	}
	// Cancel the plugin stream if we stop reading (client gone, write error).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.plugin.CallResource(ctx, req)
	if err != nil {
		c.failErr(w, err, "CallResource")
		return
	}
	first, err := stream.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("plugin sent no response")
		}
		c.failErr(w, err, "CallResource")
		return
	}
	code := int(first.Code)
	if code == 0 {
		code = http.StatusOK
	}
	if code < 100 || code > 999 {
		c.fail(w, &httpError{code: http.StatusBadGateway, reason: "InternalError", msg: "plugin returned an invalid status code"})
		return
	}
	hdr := w.Header()
	for k, l := range first.Headers {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if hopHeaders[ck] || ck == "Set-Cookie" || ck == "Content-Length" || l == nil {
			continue
		}
		hdr[ck] = append([]string(nil), l.Values...)
	}
	setUntrustedContentHeaders(hdr)
	w.WriteHeader(code)
	flusher := http.NewResponseController(w)
	if len(first.Body) > 0 {
		if _, err := w.Write(first.Body); err != nil {
			c.err = err
			return
		}
	}
	_ = flusher.Flush()
	for {
		msg, err := stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				// Headers are gone already: all we can do is stop and log.
				c.err = c.classify(err, "CallResource")
			}
			return
		}
		if len(msg.Body) == 0 {
			continue
		}
		if _, err := w.Write(msg.Body); err != nil {
			c.err = err
			return
		}
		_ = flusher.Flush()
	}
}
