package delegate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strconv"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Discovery documents a client reads to learn what a server serves. Behind dpa they are the
// union of dpa's (its own group, the self reviews, the data plane's groups) and the
// upstream's, so kubectl sees both: dpa's entries first, and a group both serve is dpa's
// (dpa answers its requests).
const (
	aggregatedJSON = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
	legacyJSON     = "application/json"
)

// WithDiscoveryUnion serves GET /apis (legacy and aggregated discovery) and GET /openapi/v3
// as the union of local's document and the upstream's, and sends /openapi/v3/<path> to
// whichever of the two lists path. Everything else goes to local.
func (d *Delegate) WithDiscoveryUnion(local http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			local.ServeHTTP(w, r)
			return
		}
		switch {
		case r.URL.Path == "/apis":
			d.serveUnion(w, r, local, log, discoveryFormat(r.Header.Get("Accept")), mergeAPIs)
		case r.URL.Path == "/openapi/v3":
			d.serveUnion(w, r, local, log, legacyJSON, mergeOpenAPIPaths)
		case strings.HasPrefix(r.URL.Path, "/openapi/v3/"):
			if localServes(local, r, strings.TrimPrefix(r.URL.Path, "/openapi/v3/")) {
				local.ServeHTTP(w, r)
			} else {
				d.ServeHTTP(w, r)
			}
		default:
			local.ServeHTTP(w, r)
		}
	})
}

// discoveryFormat is the one JSON format both servers are asked for: aggregated discovery
// when the client accepts it (kubectl does), else the legacy APIGroupList.
func discoveryFormat(accept string) string {
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mt == "application/json" && params["g"] == "apidiscovery.k8s.io" && params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList" {
			return aggregatedJSON
		}
	}
	return legacyJSON
}

type mergeFunc func(format string, local, upstream []byte) ([]byte, error)

// serveUnion answers with merge(local's document, the upstream's), both asked for format.
// When the upstream does not answer with one, local's document is the answer (with a
// Warning), so dpa's own groups stay discoverable.
func (d *Delegate) serveUnion(w http.ResponseWriter, r *http.Request, local http.Handler, log *slog.Logger, format string, merge mergeFunc) {
	lr := r.Clone(r.Context())
	lr.Header.Set("Accept", format)
	rec := httptest.NewRecorder()
	local.ServeHTTP(rec, lr)
	if rec.Code != http.StatusOK {
		copyResponse(w, rec.Result())
		return
	}
	body, err := d.fetch(r, format)
	if err == nil {
		body, err = merge(format, rec.Body.Bytes(), body)
	}
	if err != nil {
		log.Warn("discovery without the upstream's part", "path", r.URL.Path, "error", err)
		w.Header().Add("Warning", "299 - "+strconv.Quote(fmt.Sprintf("the upstream's discovery is missing: %v", err)))
		copyResponse(w, rec.Result())
		return
	}
	w.Header().Set("Content-Type", format)
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// fetch reads r's path from the upstream as r's caller, asking for format.
func (d *Delegate) fetch(r *http.Request, format string) ([]byte, error) {
	pr := &httputil.ProxyRequest{In: r, Out: r.Clone(r.Context())}
	pr.Out.RequestURI = ""
	pr.Out.Body = http.NoBody
	d.rewriteRequest(pr)
	pr.Out.Header.Set("Accept", format)
	pr.Out.Header.Del("Accept-Encoding")
	pr.Out.Header.Del("If-None-Match")
	resp, err := d.transport.RoundTrip(pr.Out)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s answered %d", r.Method, r.URL.Path, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !sameMediaType(ct, format) {
		return nil, fmt.Errorf("%s answered %q, not %q", r.URL.Path, ct, format)
	}
	return b, nil
}

func sameMediaType(a, b string) bool {
	at, ap, err1 := mime.ParseMediaType(a)
	bt, bp, err2 := mime.ParseMediaType(b)
	return err1 == nil && err2 == nil && at == bt && ap["g"] == bp["g"] && ap["v"] == bp["v"] && ap["as"] == bp["as"]
}

func copyResponse(w http.ResponseWriter, resp *http.Response) {
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// mergeAPIs unions two /apis documents (aggregated discovery or APIGroupList).
func mergeAPIs(format string, local, upstream []byte) ([]byte, error) {
	if format == aggregatedJSON {
		var l, u apidiscoveryv2.APIGroupDiscoveryList
		if err := json.Unmarshal(local, &l); err != nil {
			return nil, fmt.Errorf("dpa's discovery: %w", err)
		}
		if err := json.Unmarshal(upstream, &u); err != nil {
			return nil, fmt.Errorf("the upstream's discovery: %w", err)
		}
		seen := map[string]bool{}
		for _, g := range l.Items {
			seen[g.Name] = true
		}
		for _, g := range u.Items {
			if !seen[g.Name] {
				l.Items = append(l.Items, g)
			}
		}
		return json.Marshal(l)
	}
	var l, u metav1.APIGroupList
	if err := json.Unmarshal(local, &l); err != nil {
		return nil, fmt.Errorf("dpa's discovery: %w", err)
	}
	if err := json.Unmarshal(upstream, &u); err != nil {
		return nil, fmt.Errorf("the upstream's discovery: %w", err)
	}
	seen := map[string]bool{}
	for _, g := range l.Groups {
		seen[g.Name] = true
	}
	for _, g := range u.Groups {
		if !seen[g.Name] {
			l.Groups = append(l.Groups, g)
		}
	}
	if l.Kind == "" {
		l.Kind, l.APIVersion = "APIGroupList", "v1"
	}
	return json.Marshal(l)
}

// openAPIPaths is the /openapi/v3 root: each group/version's document.
type openAPIPaths struct {
	Paths map[string]json.RawMessage `json:"paths"`
}

// mergeOpenAPIPaths unions two /openapi/v3 roots (dpa's paths win).
func mergeOpenAPIPaths(_ string, local, upstream []byte) ([]byte, error) {
	var l, u openAPIPaths
	if err := json.Unmarshal(local, &l); err != nil {
		return nil, fmt.Errorf("dpa's OpenAPI: %w", err)
	}
	if err := json.Unmarshal(upstream, &u); err != nil {
		return nil, fmt.Errorf("the upstream's OpenAPI: %w", err)
	}
	if l.Paths == nil {
		l.Paths = map[string]json.RawMessage{}
	}
	for p, v := range u.Paths {
		if _, ok := l.Paths[p]; !ok {
			l.Paths[p] = v
		}
	}
	return json.Marshal(l)
}

// localServes reports whether local's /openapi/v3 root lists path.
func localServes(local http.Handler, r *http.Request, path string) bool {
	lr := r.Clone(r.Context())
	lr.URL.Path, lr.URL.RawQuery = "/openapi/v3", ""
	lr.Header.Set("Accept", legacyJSON)
	lr.Header.Del("If-None-Match")
	rec := httptest.NewRecorder()
	local.ServeHTTP(rec, lr)
	var root openAPIPaths
	if rec.Code != http.StatusOK || json.NewDecoder(bytes.NewReader(rec.Body.Bytes())).Decode(&root) != nil {
		return false
	}
	_, ok := root.Paths[path]
	return ok
}
