package dataplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/authz"
	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
	"github.com/dataplane-aggregator/dpa/pkg/dataplane/internal/testplugin"
	"github.com/dataplane-aggregator/dpa/pkg/provisioning"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

// The tests call internal/testplugin in-process, through the plugin SDK's own gRPC adapters
// (backend.GRPCServeOpts) over an in-memory gRPC connection: the same protobuf translation as
// a plugin process, without one. The cases that need a real process over go-plugin's
// handshake are in realplugin_test.go.

var markerDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dataplane-test")
	if err != nil {
		panic(err)
	}
	markerDir = filepath.Join(dir, "markers")
	_ = os.MkdirAll(markerDir, 0o755)
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// startPlugin serves the test plugin in-process for one test.
func startPlugin(t testing.TB) *backendplugin.Client {
	t.Helper()
	opts, err := backend.GRPCServeOpts(testplugin.ServeOpts(markerDir))
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pluginv2.RegisterDataServer(srv, opts.DataServer)
	pluginv2.RegisterResourceServer(srv, opts.ResourceServer)
	pluginv2.RegisterDiagnosticsServer(srv, opts.DiagnosticsServer)
	pluginv2.RegisterStreamServer(srv, opts.StreamServer)
	pluginv2.RegisterAdmissionControlServer(srv, opts.AdmissionServer)
	pluginv2.RegisterResourceConversionServer(srv, opts.ConversionServer)
	lis := bufconn.Listen(1 << 20)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///testplugin",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
	})
	return &backendplugin.Client{ID: "test-datasource", Type: "datasource",
		DataClient: pluginv2.NewDataClient(conn), ResourceClient: pluginv2.NewResourceClient(conn),
		DiagnosticsClient: pluginv2.NewDiagnosticsClient(conn), StreamClient: pluginv2.NewStreamClient(conn),
		AdmissionControlClient: pluginv2.NewAdmissionControlClient(conn), ResourceConversionClient: pluginv2.NewResourceConversionClient(conn)}
}

const (
	dsGroup  = "test.datasource.grafana.app"
	appGroup = "test.app.grafana.app"

	secretPassword = "s3cr3t-basic-pw"
	secretHeader   = "hdr-secret-value"
	secretApp      = "app-secret-value"
)

func ptr[T any](v T) *T { return &v }

func allServices(routes ...v0alpha1.DataPlaneServiceService) []v0alpha1.DataPlaneServiceService {
	var out []v0alpha1.DataPlaneServiceService
	for _, typ := range []v0alpha1.DataPlaneServiceServiceType{
		v0alpha1.DataPlaneServiceServiceTypeQuery, v0alpha1.DataPlaneServiceServiceTypeHealth,
		v0alpha1.DataPlaneServiceServiceTypeResource, v0alpha1.DataPlaneServiceServiceTypeStream,
		v0alpha1.DataPlaneServiceServiceTypeMetrics, v0alpha1.DataPlaneServiceServiceTypeAdmission,
		v0alpha1.DataPlaneServiceServiceTypeConversion, v0alpha1.DataPlaneServiceServiceTypeDatasourceProxy,
	} {
		out = append(out, v0alpha1.DataPlaneServiceService{Type: typ})
	}
	return append(out, routes...)
}

func routeSvc(method v0alpha1.DataPlaneServiceServiceMethod, path string) v0alpha1.DataPlaneServiceService {
	s := v0alpha1.DataPlaneServiceService{Type: v0alpha1.DataPlaneServiceServiceTypeRoute, Path: ptr(path)}
	if method != "" {
		s.Method = ptr(method)
	}
	return s
}

func defaultRegs() []routes.Registration {
	return []routes.Registration{
		{Name: "test-ds", PluginID: "test-datasource", PluginType: "datasource", Group: dsGroup, Version: "v0alpha1",
			Services: allServices(
				routeSvc(v0alpha1.DataPlaneServiceServiceMethodGET, "/namespaces/{ns}/things/{name}"),
				routeSvc(v0alpha1.DataPlaneServiceServiceMethodPOST, "/hooks/{path...}"),
			)},
		{Name: "test-app", PluginID: "test-app", PluginType: "app", Group: appGroup, Version: "v1",
			Services: []v0alpha1.DataPlaneServiceService{
				{Type: v0alpha1.DataPlaneServiceServiceTypeHealth},
				{Type: v0alpha1.DataPlaneServiceServiceTypeResource},
				{Type: v0alpha1.DataPlaneServiceServiceTypeStream},
			}},
		{Name: "down", PluginID: "down-plugin", PluginType: "datasource", Group: "down.grafana.app", Version: "v1",
			Services: allServices()},
		{Name: "missing", PluginID: "missing-plugin", PluginType: "datasource", Group: "missing.grafana.app", Version: "v1",
			Services: allServices()},
	}
}

func provisioningYAML(upstream, tlsUpstream string) string {
	return fmt.Sprintf(`apiVersion: 1
datasources:
  - name: Test
    type: test-datasource
    uid: ds1
    url: %s/base/
    basicAuth: true
    basicAuthUser: proxyuser
    jsonData:
      mode: fast
      httpHeaderName1: X-Api-Key
    secureJsonData:
      basicAuthPassword: %s
      httpHeaderValue1: %s
  - name: Sick
    type: test-datasource
    uid: sick
    jsonData: {unhealthy: true}
  - name: TLS strict
    type: test-datasource
    uid: tls-strict
    url: %s
  - name: TLS skip
    type: test-datasource
    uid: tls-skip
    url: %s
    jsonData: {tlsSkipVerify: true}
  - name: Foreign
    type: other-plugin
    uid: foreign
  - name: Org two
    type: test-datasource
    uid: ds2
    orgId: 2
  - name: Down
    type: down-plugin
    uid: dd
  - name: Missing
    type: missing-plugin
    uid: mm
`, upstream, secretPassword, secretHeader, tlsUpstream, tlsUpstream)
}

const appProvisioning = `apiVersion: 1
apps:
  - type: test-app
    jsonData: {theme: dark}
    secureJsonData: {token: ` + secretApp + `}
`

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	t        testing.TB
	h        *Handler
	srv      *httptest.Server
	logs     *syncBuffer
	reg      *prometheus.Registry
	upstream *upstreamRecorder
	store    *provisioning.Store
}

type upstreamRecorder struct {
	mu   sync.Mutex
	reqs []*http.Request
	body []string
}

func (u *upstreamRecorder) last() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		return nil
	}
	return u.reqs[len(u.reqs)-1]
}

// testUser is a member of the orgs the tests use, of the monitoring group and of the webhook
// group: authorization has its own tests (authorize_test.go).
var testUser = &user.DefaultInfo{Name: "alice", Extra: map[string][]string{"email": {"alice@example.com"}},
	Groups: []string{authz.OrgRoleGroup(1, authz.RoleEditor), authz.OrgRoleGroup(2, authz.RoleViewer), authz.OrgRoleGroup(3, authz.RoleViewer),
		authz.MonitoringGroup, "webhook-callers"}}

func newEnv(t testing.TB, mutate func(*Options)) *env {
	t.Helper()
	return newEnvWith(t, startPlugin(t), mutate)
}

// newEnvWith is newEnv with the plugin p serving test-datasource and test-app.
func newEnvWith(t testing.TB, p *backendplugin.Client, mutate func(*Options)) *env {
	t.Helper()
	rec := &upstreamRecorder{}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, r.Clone(context.Background()))
		rec.body = append(rec.body, string(b))
		rec.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "upstream", Value: "x"})
		w.Header().Set("X-Upstream", "yes")
		fmt.Fprintf(w, "upstream saw %s", r.URL.RequestURI())
	}))
	t.Cleanup(upstream.Close)
	tlsUpstream := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "tls ok")
	}))
	tlsUpstream.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsUpstream.StartTLS()
	t.Cleanup(tlsUpstream.Close)

	dir := t.TempDir()
	_ = os.MkdirAll(filepath.Join(dir, "datasources"), 0o755)
	_ = os.MkdirAll(filepath.Join(dir, "plugins"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "datasources", "ds.yaml"), []byte(provisioningYAML(upstream.URL, tlsUpstream.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plugins", "apps.yaml"), []byte(appProvisioning), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := provisioning.NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}

	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	provider := PluginProviderFunc(func(ctx context.Context, id string) (*backendplugin.Client, error) {
		switch id {
		case "test-datasource", "test-app":
			return p, nil
		case "down-plugin":
			// The only fake: a host that reports the plugin as restarting.
			return nil, &backendplugin.UnavailableError{PluginID: id, RetryAfter: 2500 * time.Millisecond, Cause: fmt.Errorf("restarting")}
		}
		return nil, fmt.Errorf("%w: %s", backendplugin.ErrNotFound, id)
	})
	opts := Options{
		Plugins:  provider,
		Settings: store,
		Next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Next", "1")
			w.WriteHeader(http.StatusTeapot)
			_, _ = io.WriteString(w, "next handler")
		}),
		Logger:        slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:       reg,
		GrafanaConfig: map[string]string{"GF_APP_URL": "https://grafana.example"},
		Authorizer:    authz.New(authz.Options{WebhookGroup: "webhook-callers"}),
		ProxyTransport: &http.Transport{
			Proxy: nil,
		},
	}
	if mutate != nil {
		mutate(&opts)
	}
	h := New(opts)
	h.SetRegistrations(defaultRegs())
	t.Cleanup(h.Close)
	// Stand-in for the apiserver's authentication filter.
	withUser := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := testUser
		if r.Header.Get("X-Test-Server-Admin") == "1" {
			u = &user.DefaultInfo{Name: "root", Groups: []string{authz.ServerAdminGroup}}
		}
		ctx := request.WithUser(r.Context(), u)
		// Stand-in for pkg/server's fast path: the match is made once and carried.
		if m, ok := h.Match(r); ok {
			ctx = routes.WithMatch(ctx, m)
		}
		h.ServeHTTP(w, r.WithContext(ctx))
	})
	srv := httptest.NewServer(withUser)
	t.Cleanup(srv.Close)
	return &env{t: t, h: h, srv: srv, logs: logs, reg: reg, upstream: rec, store: store}
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON (%d): %s", r.code, r.body)
	}
	return m
}

func (e *env) do(method, path string, body any, hdr ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		js, _ := json.Marshal(b)
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, header: resp.Header, body: b}
}

// expectStatus checks a metav1.Status error response.
func expectStatus(t *testing.T, r response, code int, msgContains string) map[string]any {
	t.Helper()
	if r.code != code {
		t.Fatalf("HTTP %d, want %d: %s", r.code, code, r.body)
	}
	m := r.json(t)
	if m["kind"] != "Status" || m["apiVersion"] != "v1" || m["status"] != "Failure" || int(m["code"].(float64)) != code {
		t.Fatalf("not a Status with code %d: %s", code, r.body)
	}
	if msgContains != "" && !strings.Contains(fmt.Sprint(m["message"]), msgContains) {
		t.Fatalf("message %q does not contain %q", m["message"], msgContains)
	}
	return m
}

func dsPath(rest string) string { return "/apis/" + dsGroup + "/v0alpha1" + rest }
