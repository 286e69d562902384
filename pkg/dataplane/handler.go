// Package dataplane is the request path of the aggregator: it serves the routes declared by
// DataPlaneService objects under /apis/{group}/{version}/ by translating HTTP requests into
// Grafana plugin gRPC calls. Everything else goes to the next handler.
//
// The route table is compiled off the request path (SetRegistrations) and swapped in with an
// atomic pointer: the request path takes no lock.
package dataplane

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/dataplane-aggregator/dpa/pkg/authz"
	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
	"github.com/dataplane-aggregator/dpa/pkg/provisioning"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

// Timeouts bounds each plugin call per service type. Zero means the default; a negative value
// means no timeout. Streams (RunStream) never time out: they end when the client leaves.
type Timeouts struct {
	Query      time.Duration // default 30s
	Resource   time.Duration // default 30s (resource, route, stream subscribe/publish)
	Health     time.Duration // default 10s
	Admission  time.Duration // default 10s
	Conversion time.Duration // default 10s
	Metrics    time.Duration // default 10s
	Proxy      time.Duration // default 30s (datasource-proxy round trip)
}

func (t *Timeouts) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&t.Query, 30*time.Second)
	def(&t.Resource, 30*time.Second)
	def(&t.Health, 10*time.Second)
	def(&t.Admission, 10*time.Second)
	def(&t.Conversion, 10*time.Second)
	def(&t.Metrics, 10*time.Second)
	def(&t.Proxy, 30*time.Second)
}

// byKey maps the --timeout keys (routes.Timeout*) to t's fields.
func (t *Timeouts) byKey() map[string]*time.Duration {
	return map[string]*time.Duration{
		routes.TimeoutQuery: &t.Query, routes.TimeoutResource: &t.Resource,
		routes.TimeoutHealth: &t.Health, routes.TimeoutAdmission: &t.Admission,
		routes.TimeoutConversion: &t.Conversion, routes.TimeoutMetrics: &t.Metrics,
		routes.TimeoutProxy: &t.Proxy,
	}
}

// Set sets the deadline of a --timeout key ("query", "resource", …: routes.TimeoutKeys).
func (t *Timeouts) Set(key string, d time.Duration) error {
	f, ok := t.byKey()[key]
	if !ok {
		return fmt.Errorf("unknown service type %q (%s)", key, strings.Join(routes.TimeoutKeys(), ", "))
	}
	*f = d
	return nil
}

// perType is the deadline of each served type's plugin calls, by catalog index, from the
// --timeout key of its row (-1: none, for the types without a key: dpa's own).
func (t *Timeouts) perType() []time.Duration {
	keys := t.byKey()
	cat := catalog()
	out := make([]time.Duration, len(cat.list))
	for i, svc := range cat.list {
		out[i] = -1
		if d, ok := keys[svc.Timeout]; ok {
			out[i] = *d
		}
	}
	return out
}

// DefaultMaxBodyBytes is the request body limit when Options.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 16 << 20

// Options configures a Handler.
type Options struct {
	// Plugins gives access to running plugins (required).
	Plugins PluginProvider
	// Settings provides datasource/app instance settings (nil: nothing provisioned).
	Settings *provisioning.Store
	// Next serves everything the data plane does not own (nil: 404 Status).
	Next http.Handler
	// MaxBodyBytes limits request bodies (default 16 MiB, the plugin gRPC message limit).
	MaxBodyBytes int64
	Timeouts     Timeouts
	Logger       *slog.Logger
	Tracer       trace.TracerProvider
	// Metrics registers the dpa_dataplane_* collectors (nil: not registered).
	Metrics prometheus.Registerer
	// GrafanaConfig is passed to plugins as PluginContext.GrafanaConfig (GF_APP_URL,
	// GF_CONCURRENT_QUERY_COUNT, …; see GrafanaConfig). It is read, never modified.
	GrafanaConfig map[string]string
	// ProxyTransport is the base transport for datasource-proxy (nil: a clone of
	// http.DefaultTransport). TLS verification is switched off per datasource only with
	// jsonData.tlsSkipVerify.
	ProxyTransport *http.Transport
	// UserAgent sent to plugins (default "dpa").
	UserAgent string
	// RoutesChanged is called after every route-table swap with the groups whose entries may
	// have changed (not sorted, maybe repeated), so that what follows the table
	// (the /apis discovery documents) is updated in one place with it. It must not block long.
	RoutesChanged func(groups []string)
	// Authorizer decides who may call each matched route (pkg/authz). Nil: authz's rules with
	// Grafana's default policy.
	Authorizer *authz.Authorizer
	// MaxQueries bounds the queries of one query request (0: DefaultMaxQueries).
	MaxQueries int
	// Limits bound requests in flight (zero fields: DefaultLimits'; -1: no limit).
	Limits Limits
	// ProxyResponseLimit bounds a datasource-proxy answer in bytes (0: none, as Grafana's
	// [dataproxy] response_limit).
	ProxyResponseLimit int64
}

// DefaultMaxQueries is the query limit per request when Options.MaxQueries is 0.
const DefaultMaxQueries = 100

// Handler is the data plane. It implements http.Handler and routes.Sink.
type Handler struct {
	opts    Options
	next    http.Handler
	log     *slog.Logger
	tracer  trace.Tracer
	metrics *metrics
	table   atomic.Pointer[table]
	tableMu sync.Mutex // serialises table updates (each reads the last table)

	proxyVerify   *http.Transport
	proxyInsecure *http.Transport

	settingsCache atomic.Pointer[settingsCache]
	streams       streamHub

	// inflight bounds requests in flight: calls and stream subscriptions apart.
	calls, subscriptions *inflight
	// timeouts is Options.Timeouts per service type (see Timeouts.perType).
	timeouts  []time.Duration
	reqSeq    atomic.Uint64
	reqPrefix string
}

var _ routes.Sink = (*Handler)(nil)

// New returns a Handler with an empty route table.
func New(opts Options) *Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	opts.Timeouts.setDefaults()
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Tracer == nil {
		opts.Tracer = noop.NewTracerProvider()
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "dpa"
	}
	if opts.Authorizer == nil {
		opts.Authorizer = authz.New(authz.Options{})
	}
	if opts.MaxQueries <= 0 {
		opts.MaxQueries = DefaultMaxQueries
	}
	for _, f := range []struct {
		v   *int
		def int
	}{
		{&opts.Limits.Requests, DefaultLimits.Requests}, {&opts.Limits.RequestsPerUser, DefaultLimits.RequestsPerUser},
		{&opts.Limits.Streams, DefaultLimits.Streams}, {&opts.Limits.StreamsPerUser, DefaultLimits.StreamsPerUser},
	} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	h := &Handler{
		opts:    opts,
		next:    opts.Next,
		log:     opts.Logger,
		tracer:  opts.Tracer.Tracer("github.com/dataplane-aggregator/dpa/pkg/dataplane"),
		metrics: newMetrics(opts.Metrics),
	}
	h.timeouts = opts.Timeouts.perType()
	h.calls = newInflight("requests", opts.Limits.Requests, opts.Limits.RequestsPerUser, h.metrics)
	h.subscriptions = newInflight("streams", opts.Limits.Streams, opts.Limits.StreamsPerUser, h.metrics)
	if h.next == nil {
		h.next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeStatus(w, errNotFound("the server could not find the requested resource"))
		})
	}
	base := opts.ProxyTransport
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}
	h.proxyVerify = base.Clone()
	h.proxyInsecure = base.Clone()
	if h.proxyInsecure.TLSClientConfig != nil {
		h.proxyInsecure.TLSClientConfig = h.proxyInsecure.TLSClientConfig.Clone()
	} else {
		h.proxyInsecure.TLSClientConfig = newTLSConfig()
	}
	h.proxyInsecure.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // only with jsonData.tlsSkipVerify
	var b [6]byte
	_, _ = rand.Read(b[:])
	h.reqPrefix = hex.EncodeToString(b[:]) + "-"
	h.table.Store(&table{})
	return h
}

// UpdateRegistrations implements routes.Sink: it applies the changes to a new immutable route
// table and swaps it in. It does not retain the slices.
func (h *Handler) UpdateRegistrations(set []routes.Registration, removed []routes.GroupVersion) {
	h.tableMu.Lock()
	defer h.tableMu.Unlock()
	t, problems := h.table.Load().update(set, removed)
	for _, p := range problems {
		h.log.Error("registration not served", "problem", p)
	}
	h.table.Store(t)
	h.metrics.routes.Set(float64(t.regs))
	if h.opts.RoutesChanged != nil {
		groups := make([]string, 0, len(set)+len(removed))
		for _, r := range set {
			groups = append(groups, r.Group)
		}
		for _, gv := range removed {
			groups = append(groups, gv.Group)
		}
		h.opts.RoutesChanged(groups)
	}
}

// SetRegistrations replaces every registration with regs (what UpdateRegistrations does with
// the difference to the current table); for callers that hold a whole set, as tests and
// benchmarks do.
func (h *Handler) SetRegistrations(regs []routes.Registration) {
	want := make(map[routes.GroupVersion]bool, len(regs))
	for _, r := range regs {
		want[r.GroupVersion()] = true
	}
	var removed []routes.GroupVersion
	h.table.Load().groups(func(g string, versions map[string]*gvEntry) {
		for v := range versions {
			if gv := (routes.GroupVersion{Group: g, Version: v}); !want[gv] {
				removed = append(removed, gv)
			}
		}
	})
	h.UpdateRegistrations(regs, removed)
}

// Registered reports whether group/version is currently served by the data plane (version
// "": any version). It is the data plane's view access reviews need (authz.DataPlaneGroups),
// which ask about a group without a request; requests carry their routes.Match instead.
func (h *Handler) Registered(group, version string) bool {
	versions := h.table.Load().versions(group)
	if version == "" {
		return len(versions) > 0
	}
	return versions[version] != nil
}

// Close releases idle proxy connections.
func (h *Handler) Close() {
	h.proxyVerify.CloseIdleConnections()
	h.proxyInsecure.CloseIdleConnections()
	if sc := h.settingsCache.Load(); sc != nil {
		sc.closeIdle()
	}
}

// matched is the data plane's record of a routes.Match (its Route): the entry and the
// target, or the 404/405 when no route of the entry matched. One allocation per request.
type matched struct {
	routes.Match
	e   *gvEntry
	t   target
	err *httpError
}

// Match makes the data plane's decision about r from one load of the route table: false
// when r is not under /apis/<group>/<version>/ of a registered group/version; otherwise the
// route, its service type, the namespace and its org, the datasource (routes.Match). The
// server makes it once, where it decides that the data plane takes the request, and carries
// it in the context (routes.WithMatch) for the authorizer, the long-running check and
// ServeHTTP.
func (h *Handler) Match(r *http.Request) (*routes.Match, bool) {
	e, rest, ok := h.table.Load().lookup(r.URL.Path)
	if !ok {
		return nil, false
	}
	m := &matched{e: e, Match: routes.Match{Group: e.group, Version: e.version, PluginID: e.pluginID}}
	m.Route = m
	m.t, m.err = e.match(r.Method, rest)
	if m.err != nil {
		return &m.Match, true
	}
	m.Service, m.Verb = m.t.svc.Service, m.t.svc.VerbFor(r.Method, m.t.action)
	m.Namespace, m.UID = m.t.ns, m.t.uid
	if m.t.ns != "" {
		if info, err := provisioning.ParseNamespace(m.t.ns); err != nil {
			m.NamespaceErr = err
		} else {
			m.Org = info.OrgID
		}
	}
	return &m.Match, true
}

// ServeHTTP implements http.Handler. It serves the request whose context carries this data
// plane's routes.Match (Match, routes.WithMatch) and never looks the route up again: the
// match is the decision. Without one it answers GET /apis/<group> of the groups it serves
// and passes everything else to Options.Next.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if m, ok := routes.MatchFrom(r.Context()); ok {
		if mt, ok := m.Route.(*matched); ok {
			h.serve(w, r, mt)
			return
		}
	}
	if r.Method == http.MethodGet && h.serveGroup(w, r, h.table.Load()) {
		return
	}
	h.next.ServeHTTP(w, r)
}

// call is the per-request state.
type call struct {
	// w is the response writer dpa got (for its connection's read deadline).
	w      http.ResponseWriter
	h      *Handler
	e      *gvEntry
	m      *matched
	t      target
	r      *http.Request
	reqID  string
	cfg    *provisioning.Config
	ds     *provisioning.Datasource
	plugin *backendplugin.Client
	err    error
	span   trace.Span
	// deadline is when the plugin call's timeout expires (zero: none).
	deadline time.Time
	// user is the caller and subject its roles (read once); org the org of the call's
	// namespace (0: none), from the match (an admission review's own namespace for
	// admission).
	user    user.Info
	subject authz.Subject
	org     int64
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, m *matched) {
	start := time.Now()
	e := m.e
	reqID := r.Header.Get("X-Request-Id")
	if reqID == "" || len(reqID) > 128 {
		reqID = h.reqPrefix + strconv.FormatUint(h.reqSeq.Add(1), 10)
	}
	w.Header().Set("X-Request-Id", reqID)

	// The incoming W3C trace context is in r's context already: the API server's tracing
	// filter (or the fast path's withTraceContext) extracted it.
	ctx, span := h.tracer.Start(r.Context(), "dataplane "+r.Method, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("dpa.group", e.group),
			attribute.String("dpa.version", e.version),
			attribute.String("dpa.plugin_id", e.pluginID),
			attribute.String("http.request.method", r.Method),
		))
	r = r.WithContext(ctx)

	sw := &statusWriter{ResponseWriter: w}
	c := &call{w: w, h: h, e: e, m: m, t: m.t, r: r, reqID: reqID, span: span}

	herr := m.err
	if herr == nil {
		herr = c.authorize()
	}
	if herr == nil {
		var release func()
		if release, herr = c.admit(); release != nil {
			defer release()
		}
	}
	if herr != nil {
		c.fail(sw, herr)
	} else {
		c.dispatch(sw)
	}
	sw.flushComplete(r)

	code := sw.code()
	typ := c.t.svc.typeName()
	dur := time.Since(start)
	codeStr := strconv.Itoa(code)
	h.metrics.requests.WithLabelValues(e.group, e.version, typ, codeStr).Inc()
	h.metrics.duration.WithLabelValues(e.group, e.version, typ, codeStr).Observe(dur.Seconds())

	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("dpa.service_type", typ),
			attribute.String("dpa.namespace", c.t.ns),
			attribute.Int("http.response.status_code", code),
		)
		if code >= 500 {
			span.SetStatus(otelcodes.Error, http.StatusText(code))
		}
	}
	span.End()

	outcome := "ok"
	level := slog.LevelInfo
	switch {
	case code == statusClientClosed:
		outcome = "client_closed"
	case code >= 500:
		outcome, level = "error", slog.LevelError
	case code >= 400:
		outcome, level = "rejected", slog.LevelWarn
	}
	if !h.log.Enabled(ctx, level) {
		return // e.g. --log-level warn: successful requests cost no log line
	}
	attrs := make([]slog.Attr, 0, 14) // uid and error included: no regrowth
	attrs = append(attrs,
		slog.String("request_id", reqID),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("group", e.group),
		slog.String("version", e.version),
		slog.String("type", typ),
		slog.String("plugin_id", e.pluginID),
		slog.String("namespace", c.t.ns),
		slog.String("user", userName(c.user)),
		slog.Int("status", code),
		slog.Duration("duration", dur),
		slog.String("outcome", outcome),
	)
	if c.t.uid != "" {
		attrs = append(attrs, slog.String("uid", c.t.uid))
	}
	if c.err != nil {
		attrs = append(attrs, slog.String("error", c.err.Error()))
	}
	h.log.LogAttrs(ctx, level, "dataplane request", attrs...)
}

func (c *call) fail(w http.ResponseWriter, he *httpError) {
	c.err = he
	if c.span != nil {
		c.span.RecordError(he)
	}
	writeStatus(w, he)
}

func (c *call) failErr(w http.ResponseWriter, err error, op string) {
	c.fail(w, c.classify(err, op))
}

// classify maps a plugin call's error to an HTTP error. A call that fails once
// its timeout has run out is a timeout (504), whatever the error says: a plugin
// that returns ctx.Err() itself reaches us as a gRPC Unknown status, and it can
// do so a moment before our own context notices the deadline.
func (c *call) classify(err error, op string) *httpError {
	var he *httpError
	if !c.deadline.IsZero() && !time.Now().Before(c.deadline) && !errors.As(err, &he) {
		err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	return classify(err, c.e.pluginID, op)
}

// serviceHandler serves one service type; handlers holds one per type of routes.Own and
// routes.Services, registered by the type's own file (TestEveryServiceTypeHasAHandler ties
// the two). Everything else that differs by type is read from the type's row.
type serviceHandler struct {
	// serve answers a type dpa serves itself, without a plugin call (discovery, the
	// datasource objects, the datasource proxy). The plugin-call fields are then unused.
	serve func(c *call, w *statusWriter)
	// prepare (required without serve) reads and validates what the call sends (its body,
	// its parameters) and returns the plugin call to make with it. It runs before the plugin
	// is fetched (which may start it) and before the type's deadline starts, so that a
	// malformed request is a 400 in every plugin state and a slow upload does not spend the
	// plugin's time. A nil call with a nil error means prepare answered the request itself.
	prepare func(c *call, w http.ResponseWriter) (pluginCall, *httpError)
	// selfTimed: the call bounds its plugin calls itself, with its row's timeout (a stream
	// subscription lives as long as its client); the data plane starts no deadline for it.
	selfTimed bool
	// subscribes reports whether a call with this method holds a stream subscription (it
	// counts against the stream limits, not the request limits). nil: never.
	subscribes func(method string) bool
}

// pluginCall makes a prepared call with the plugin (c.plugin) within ctx's deadline.
type pluginCall func(ctx context.Context, w http.ResponseWriter)

// handlers is one serviceHandler per service type, each added by its type's file (handle).
var handlers = map[routes.ServiceType]serviceHandler{}

// handle registers the handler of type t; a second handler for one type is a programming
// error.
func handle(t routes.ServiceType, h serviceHandler) {
	if _, dup := handlers[t]; dup {
		panic("dataplane: two handlers for service type " + string(t))
	}
	handlers[t] = h
}

func (c *call) dispatch(w *statusWriter) {
	sh := c.t.svc.handler
	if sh.serve != nil {
		sh.serve(c, w)
		return
	}

	// Resolve instance settings first: a datasource that does not exist is a 404 whatever
	// the body holds, and needs no plugin.
	if c.t.uid != "" {
		if herr := c.resolveDatasource(); herr != nil {
			c.fail(w, herr)
			return
		}
	} else if c.e.isApp && c.t.ns != "" {
		if a, ok := c.config().App(c.t.ns, c.e.pluginID); ok && a.Disabled {
			c.fail(w, errNotFound("app %s is disabled in namespace %q", c.e.pluginID, c.t.ns))
			return
		}
	}

	// Then the body, before the plugin and its deadline (see serviceHandler.prepare).
	do, herr := sh.prepare(c, w)
	if herr != nil {
		c.fail(w, herr)
		return
	}
	if do == nil {
		return // prepare answered
	}

	ctx := c.r.Context()
	if timeout := c.h.timeouts[c.t.svc.index]; timeout > 0 && !sh.selfTimed {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
		c.deadline, _ = ctx.Deadline()
	}

	p, err := c.h.opts.Plugins.Get(ctx, c.e.pluginID)
	if err != nil {
		c.failErr(w, err, "connect")
		return
	}
	c.plugin = p
	do(ctx, w)
}

func (c *call) config() *provisioning.Config {
	if c.cfg == nil {
		c.cfg = c.h.opts.Settings.Config()
	}
	return c.cfg
}

// resolveDatasource finds the path's datasource; unknown uid or another plugin's → 404.
func (c *call) resolveDatasource() *httpError {
	ds, ok := c.config().Datasource(c.t.ns, c.t.uid)
	if !ok || ds.Type != c.e.pluginID {
		return errNotFound("datasource %q not found in namespace %q", c.t.uid, c.t.ns)
	}
	c.ds = ds
	return nil
}

// readBody reads the request body up to the limit (413 beyond it) and within the body read
// deadline (408 after it).
func (c *call) readBody(w http.ResponseWriter) ([]byte, *httpError) {
	if c.r.Body == nil || c.r.Body == http.NoBody {
		return nil, nil
	}
	limit := c.h.opts.MaxBodyBytes
	if c.r.ContentLength > limit {
		return nil, errTooLarge(limit)
	}
	// The server bounds the body's arrival (--body-read-timeout, from the request's first
	// byte) and ends that deadline when the body is read to its end: the rest of the call
	// (a stream, a long plugin call) is not bound by it.
	b, err := io.ReadAll(http.MaxBytesReader(w, c.r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, errTooLarge(limit)
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, &httpError{code: http.StatusRequestTimeout, reason: metav1.StatusReasonTimeout,
				msg: "the request body did not arrive in time (--body-read-timeout)", cause: err}
		}
		return nil, errBadRequest("reading request body: %v", err)
	}
	return b, nil
}

type settingsCache struct {
	cfg *provisioning.Config
	ds  sync.Map // *provisioning.Datasource → *pluginv2.DataSourceInstanceSettings
	app sync.Map // *provisioning.App → *pluginv2.AppInstanceSettings
	// proxy holds the transports of datasources with their own TLS settings
	// (*provisioning.Datasource → *http.Transport).
	proxy sync.Map
}

func (h *Handler) cache(cfg *provisioning.Config) *settingsCache {
	sc := h.settingsCache.Load()
	if sc == nil || sc.cfg != cfg {
		old := sc
		sc = &settingsCache{cfg: cfg}
		h.settingsCache.Store(sc)
		if old != nil {
			old.closeIdle()
		}
	}
	return sc
}

// closeIdle closes the idle connections of the cached per-datasource transports.
func (sc *settingsCache) closeIdle() {
	sc.proxy.Range(func(_, v any) bool {
		v.(*http.Transport).CloseIdleConnections()
		return true
	})
}

// pluginContext builds the PluginContext of every plugin call: plugin id and version, the
// call's namespace and org (the match's, read once: org 1 without one, as Grafana's
// default org), the caller, and the datasource's or app's instance settings.
func (c *call) pluginContext() *pluginv2.PluginContext {
	ns := c.t.ns
	pc := &pluginv2.PluginContext{
		PluginId:      c.e.pluginID,
		OrgId:         1,
		Namespace:     ns,
		GrafanaConfig: c.h.opts.GrafanaConfig,
		UserAgent:     c.h.opts.UserAgent,
	}
	if c.plugin != nil {
		pc.PluginVersion = c.plugin.Version
	}
	if c.org > 0 {
		pc.OrgId = c.org
	}
	pc.User = c.pluginUser(pc.OrgId)
	cfg := c.config()
	sc := c.h.cache(cfg)
	if c.ds != nil {
		if v, ok := sc.ds.Load(c.ds); ok {
			pc.DataSourceInstanceSettings = v.(*pluginv2.DataSourceInstanceSettings)
		} else {
			s := backend.ToProto().DataSourceInstanceSettings(c.ds.InstanceSettings())
			sc.ds.Store(c.ds, s)
			pc.DataSourceInstanceSettings = s
		}
	}
	if c.e.isApp {
		if a, ok := cfg.App(ns, c.e.pluginID); ok {
			if v, ok := sc.app.Load(a); ok {
				pc.AppInstanceSettings = v.(*pluginv2.AppInstanceSettings)
			} else {
				s := backend.ToProto().AppInstanceSettings(a.InstanceSettings())
				sc.app.Store(a, s)
				pc.AppInstanceSettings = s
			}
		} else {
			// Plugins managed by app.Manage need settings even when nothing is provisioned.
			pc.AppInstanceSettings = &pluginv2.AppInstanceSettings{JsonData: []byte("{}"), LastUpdatedMS: cfg.LoadedAt.UnixMilli()}
		}
	}
	return pc
}

// pluginUser is the PluginContext user: the caller, with its role in the call's org as
// Grafana sends it (pkg/authz's group convention; None for a non-member, Admin for a server
// admin). Name and email come from the "name" and "email" extras when the identity has them.
func (c *call) pluginUser(org int64) *pluginv2.User {
	if c.user == nil {
		return nil
	}
	pu := &pluginv2.User{Login: c.user.GetName(), Name: c.user.GetName(),
		Role: string(c.subject.RoleIn(org))}
	if extra := c.user.GetExtra(); extra != nil {
		if v := extra["email"]; len(v) > 0 {
			pu.Email = v[0]
		}
		if v := extra["name"]; len(v) > 0 {
			pu.Name = v[0]
		}
	}
	return pu
}

func userName(u user.Info) string {
	if u == nil {
		return ""
	}
	return u.GetName()
}

// statusWriter records the status code and supports Flush/Unwrap.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status = code
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status = http.StatusOK
		w.wrote = true
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if !w.wrote {
		w.status = http.StatusOK
		w.wrote = true
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// flushComplete sends a complete HTTP/1.x response (Content-Length set, all bytes written)
// to the client now instead of when the handler chain returns: the bookkeeping after the
// data plane (metrics, span, the request log line here; audit, metrics and logging filters
// of the API server) then overlaps with the client's next request instead of delaying this
// response. HTTP/2 is left alone: the stream only ends when the handler returns, so an early
// flush would only add a frame.
func (w *statusWriter) flushComplete(r *http.Request) {
	if !w.wrote || r.ProtoMajor != 1 || r.Method == http.MethodHead || w.Header().Get("Content-Length") == "" {
		return
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
