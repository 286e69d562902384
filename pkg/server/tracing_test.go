package server

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapifilters "k8s.io/apiserver/pkg/endpoints/filters"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/component-base/tracing"
)

// TestWithTraceContext: with the API server's no-op tracer provider, the fast chain's
// withTraceContext leaves the handler the same trace context and baggage as the generic
// chain's tracing filter (otelhttp) — for privileged and unprivileged users (otelhttp treats
// the latter as a public endpoint), with and without W3C headers, malformed ones included —
// and what a plugin call would carry on is the same.
func TestWithTraceContext(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	headers := []map[string]string{
		{},
		{"traceparent": tp},
		{"traceparent": tp, "tracestate": "vendor=abc"},
		{"traceparent": tp, "baggage": "user=alice,team=obs"},
		{"baggage": "only=baggage"},
		{"traceparent": "00-zz-not-a-trace-01"},
	}
	users := []user.Info{
		&user.DefaultInfo{Name: "viewer", Groups: []string{"org:1:Viewer"}},
		&user.DefaultInfo{Name: "admin", Groups: []string{user.SystemPrivilegedGroup}},
		nil,
	}
	type seen struct {
		sc      trace.SpanContext
		baggage string
		out     map[string]string
	}
	observe := func(h func(http.Handler) http.Handler, hdr map[string]string, u user.Info) seen {
		var got seen
		inner := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			got.sc = trace.SpanContextFromContext(r.Context())
			var members []string
			for _, m := range baggage.FromContext(r.Context()).Members() {
				members = append(members, m.String())
			}
			slices.Sort(members) // baggage keeps members in a map
			got.baggage = strings.Join(members, ",")
			carrier := propagation.MapCarrier{}
			tracing.Propagators().Inject(r.Context(), carrier)
			got.out = carrier
		})
		r := httptest.NewRequest("POST", "/apis/example.datasource.grafana.app/v0alpha1/namespaces/default/datasources/x/query", nil)
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		if u != nil {
			r = r.WithContext(apirequest.WithUser(r.Context(), u))
		}
		h(inner).ServeHTTP(httptest.NewRecorder(), r)
		return got
	}
	generic := func(next http.Handler) http.Handler {
		return genericapifilters.WithTracing(next, tracing.NewNoopTracerProvider())
	}
	for _, hdr := range headers {
		for _, u := range users {
			want, got := observe(generic, hdr, u), observe(withTraceContext, hdr, u)
			if !want.sc.Equal(got.sc) || want.sc.IsRemote() != got.sc.IsRemote() || want.baggage != got.baggage {
				t.Errorf("headers %v, user %v: fast path saw %v remote=%v baggage %q; generic chain %v remote=%v baggage %q",
					hdr, u, got.sc, got.sc.IsRemote(), got.baggage, want.sc, want.sc.IsRemote(), want.baggage)
			}
			if len(want.out) != len(got.out) {
				t.Errorf("headers %v, user %v: passes on %v, generic chain %v", hdr, u, got.out, want.out)
			}
			for k, v := range want.out {
				if k == "baggage" {
					continue // compared above, member order aside
				}
				if got.out[k] != v {
					t.Errorf("headers %v, user %v: passes on %s=%q, generic chain %q", hdr, u, k, got.out[k], v)
				}
			}
		}
	}
	// The case that matters is covered: a valid parent reaches the handler.
	if got := observe(withTraceContext, headers[1], users[0]); !got.sc.IsValid() || got.out["traceparent"] != tp {
		t.Fatalf("traceparent not passed on: %v %v", got.sc, got.out)
	}
}

func TestSpanless(t *testing.T) {
	sdk := sdktrace.NewTracerProvider()
	defer func() { _ = sdk.Shutdown(t.Context()) }()
	for _, c := range []struct {
		tp   trace.TracerProvider
		want bool
	}{
		{nil, true},
		{noop.NewTracerProvider(), true},
		{tracing.NewNoopTracerProvider(), true},
		{sdk, false},
	} {
		if got := spanless(c.tp); got != c.want {
			t.Errorf("spanless(%T) = %v, want %v", c.tp, got, c.want)
		}
	}
}
