package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/instancemgmt"
)

// Settings is the plugin's jsonData; the token comes from secureJsonData.
type Settings struct {
	URL           string `json:"url"`
	CACert        string `json:"caCert,omitempty"`
	TLSSkipVerify bool   `json:"tlsSkipVerify,omitempty"`
}

const (
	listPath       = "/apis/aggregation.grafana.app/v0alpha1/dataplaneservices"
	selfReviewPath = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
)

// App is one plugin instance (re-created by the SDK whenever the settings change).
type App struct {
	base      *url.URL
	token     string
	client    *http.Client
	configErr error
}

var (
	_ backend.CallResourceHandler   = (*App)(nil)
	_ backend.CheckHealthHandler    = (*App)(nil)
	_ instancemgmt.InstanceDisposer = (*App)(nil)
)

// NewApp builds an instance from the app settings. A bad configuration does not fail the
// instance: calls and health checks report it instead.
func NewApp(_ context.Context, s backend.AppInstanceSettings) (instancemgmt.Instance, error) {
	a := &App{token: strings.TrimSpace(s.DecryptedSecureJSONData["token"])}
	var cfg Settings
	if len(s.JSONData) > 0 {
		if err := json.Unmarshal(s.JSONData, &cfg); err != nil {
			a.configErr = fmt.Errorf("invalid plugin settings: %w", err)
			return a, nil
		}
	}
	a.configErr = a.configure(cfg)
	return a, nil
}

func (a *App) configure(cfg Settings) error {
	raw := strings.TrimSpace(cfg.URL)
	if raw == "" {
		return errors.New("the aggregator URL is not configured")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("the aggregator URL %q is not an http(s) URL", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	a.base = u

	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.TLSSkipVerify} //nolint:gosec // opt-in setting
	if pem := strings.TrimSpace(cfg.CACert); pem != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM([]byte(pem)) {
			return errors.New("the CA certificate is not valid PEM")
		}
		tlsCfg.RootCAs = pool
	}
	a.client = &http.Client{
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:     tlsCfg,
			TLSHandshakeTimeout: 10 * time.Second,
			// No ResponseHeaderTimeout: dpa answers every non-stream call by its own --timeout
			// for the service type (a 504 that says which deadline), and the UI's request
			// console must show that answer. The 30 s limit this had cut it off — at exactly the
			// default query deadline, and before any longer one. A call ends when Grafana
			// cancels it (the browser's request went away: the console's Cancel), through ctx.
			IdleConnTimeout:     90 * time.Second,
			MaxIdleConnsPerHost: 8,
			ForceAttemptHTTP2:   true,
		},
		// Never follow redirects with the token attached.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return nil
}

// Dispose closes idle connections when the instance is replaced.
func (a *App) Dispose() {
	if a.client != nil {
		a.client.CloseIdleConnections()
	}
}

// forwarded request headers (everything else, notably Cookie and Authorization, is dropped).
var forwardRequestHeaders = []string{"Content-Type", "Accept"}

// returned response headers.
var forwardResponseHeaders = []string{"Content-Type", "Cache-Control", "Warning", "Audit-Id", "Retry-After"}

// orgRoleGroup is dpa's group for a Grafana org role (pkg/authz's convention).
func orgRoleGroup(orgID int64, role string) string {
	return fmt.Sprintf("grafana:org:%d:%s", orgID, role)
}

// actAs makes a request act as the Grafana user of the plugin context: dpa impersonates the
// user with its org role (the token's identity must be in group grafana:impersonator, which
// may do nothing else, or a server admin). So dpa's rules apply to the Grafana user, not to
// the token's owner.
func actAs(h http.Header, pc backend.PluginContext) {
	u := pc.User
	h.Set("Impersonate-User", u.Login)
	switch u.Role {
	case "Viewer", "Editor", "Admin":
		h.Add("Impersonate-Group", orgRoleGroup(pc.OrgID, u.Role))
	}
}

// CallResource forwards /apis/... calls (method, path, query, body, content type) to the
// aggregator with the bearer token and streams the answer back.
func (a *App) CallResource(ctx context.Context, req *backend.CallResourceRequest, sender backend.CallResourceResponseSender) error {
	p := "/" + strings.TrimLeft(req.Path, "/")
	if p != "/apis" && !strings.HasPrefix(p, "/apis/") {
		return sendStatus(sender, http.StatusNotFound, "NotFound", fmt.Sprintf("the plugin only proxies /apis/..., not %s", p))
	}
	if strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
		return sendStatus(sender, http.StatusBadRequest, "BadRequest", "invalid path")
	}
	method := strings.ToUpper(req.Method)
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return sendStatus(sender, http.StatusMethodNotAllowed, "MethodNotAllowed", "method not allowed")
	}
	if u := req.PluginContext.User; u == nil || u.Login == "" {
		// Never act as the token's owner: without a Grafana user there is no one to act as.
		return sendStatus(sender, http.StatusUnauthorized, "Unauthorized", "the request carries no Grafana user")
	}
	if a.configErr != nil {
		return sendStatus(sender, http.StatusServiceUnavailable, "ServiceUnavailable", a.configErr.Error())
	}
	if a.token == "" {
		return sendStatus(sender, http.StatusServiceUnavailable, "ServiceUnavailable", "no bearer token is configured for the aggregator")
	}

	target := *a.base
	target.Path = a.base.Path + p
	if u, err := url.Parse(req.URL); err == nil {
		target.RawQuery = u.RawQuery
	}
	var body io.Reader
	if len(req.Body) > 0 {
		body = strings.NewReader(string(req.Body))
	}
	out, err := http.NewRequestWithContext(ctx, method, target.String(), body)
	if err != nil {
		return sendStatus(sender, http.StatusBadRequest, "BadRequest", err.Error())
	}
	hdr := http.Header(req.Headers)
	for _, h := range forwardRequestHeaders {
		if v := hdr.Get(h); v != "" {
			out.Header.Set(h, v)
		}
	}
	out.Header.Set("Authorization", "Bearer "+a.token)
	actAs(out.Header, req.PluginContext)

	resp, err := a.client.Do(out)
	if err != nil {
		return sendStatus(sender, http.StatusBadGateway, "BadGateway", fmt.Sprintf("calling the aggregator failed: %v", err))
	}
	defer resp.Body.Close()

	headers := map[string][]string{}
	for _, h := range forwardResponseHeaders {
		if v := resp.Header.Values(h); len(v) > 0 {
			headers[h] = v
		}
	}
	first := &backend.CallResourceResponse{Status: resp.StatusCode, Headers: headers}
	buf := make([]byte, 32<<10)
	sentFirst := false
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			chunk := append([]byte(nil), buf[:n]...)
			if !sentFirst {
				first.Body = chunk
				if err := sender.Send(first); err != nil {
					return err
				}
				sentFirst = true
			} else if err := sender.Send(&backend.CallResourceResponse{Body: chunk}); err != nil {
				return err
			}
		}
		if rerr != nil {
			if !sentFirst {
				return sender.Send(first)
			}
			if errors.Is(rerr, io.EOF) || ctx.Err() != nil {
				return nil
			}
			return rerr
		}
	}
}

// CheckHealth reports whether the aggregator answers and whether the token is accepted.
func (a *App) CheckHealth(ctx context.Context, _ *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	fail := func(msg string) (*backend.CheckHealthResult, error) {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: msg}, nil
	}
	if a.configErr != nil {
		return fail(a.configErr.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()

	// 1. Does the API server answer? (/readyz, falling back to /version.)
	status, body, err := a.get(ctx, "/readyz")
	if err != nil {
		return fail(fmt.Sprintf("cannot reach the aggregator at %s: %v", a.base, err))
	}
	if status == http.StatusNotFound {
		status, body, err = a.get(ctx, "/version")
		if err != nil {
			return fail(fmt.Sprintf("cannot reach the aggregator at %s: %v", a.base, err))
		}
	}
	if status >= 500 {
		return fail(fmt.Sprintf("the aggregator at %s is not ready (HTTP %d): %s", a.base, status, snippet(body)))
	}

	// 2. Does the token work, and may its identity act for Grafana users?
	if a.token == "" {
		return fail("the aggregator answers, but no bearer token is configured")
	}
	status, body, err = a.send(ctx, http.MethodPost, selfReviewPath, []byte(`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`))
	if err != nil {
		return fail(fmt.Sprintf("asking the aggregator who the token is failed: %v", err))
	}
	switch {
	case status == http.StatusUnauthorized:
		return fail("the aggregator rejected the bearer token (401 Unauthorized)")
	case status != http.StatusCreated && status != http.StatusOK:
		return fail(fmt.Sprintf("asking the aggregator who the token is failed (HTTP %d): %s", status, snippet(body)))
	}
	var review struct {
		Status struct {
			UserInfo struct {
				Username string   `json:"username"`
				Groups   []string `json:"groups"`
			} `json:"userInfo"`
		} `json:"status"`
	}
	if err := json.Unmarshal(body, &review); err != nil {
		return fail(fmt.Sprintf("unexpected answer from %s: %v", selfReviewPath, err))
	}
	who := review.Status.UserInfo
	if !slices.ContainsFunc(who.Groups, func(g string) bool {
		return g == "grafana:impersonator" || g == "grafana:server-admin" || g == "system:masters"
	}) {
		return fail(fmt.Sprintf("the token belongs to %q, who may not act for Grafana users: give it the group grafana:impersonator", who.Username))
	}
	return &backend.CheckHealthResult{
		Status:  backend.HealthStatusOk,
		Message: fmt.Sprintf("Connected to %s as %q; calls act as the signed-in Grafana user with their org role", a.base, who.Username),
	}, nil
}

// get sends an authenticated GET (the token, when set, also goes to /readyz: some servers require it).
func (a *App) get(ctx context.Context, p string) (int, []byte, error) {
	return a.send(ctx, http.MethodGet, p, nil)
}

// send sends a request as the token's own identity (health checks only).
func (a *App) send(ctx context.Context, method, p string, body []byte) (int, []byte, error) {
	u := a.base.String() + p
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(string(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, b, err
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// sendStatus answers with a Kubernetes-style Status, like the aggregator itself.
func sendStatus(sender backend.CallResourceResponseSender, code int, reason, msg string) error {
	b, _ := json.Marshal(map[string]any{
		"kind": "Status", "apiVersion": "v1", "status": "Failure",
		"code": code, "reason": reason, "message": msg,
	})
	return sender.Send(&backend.CallResourceResponse{
		Status:  code,
		Headers: map[string][]string{"Content-Type": {"application/json"}},
		Body:    b,
	})
}
