package server

import (
	"context"
	"fmt"
	"net/http"
	"reflect"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"k8s.io/component-base/tracing"

	"github.com/dataplane-aggregator/dpa/pkg/version"
)

// newTracerProvider exports spans over OTLP/gRPC when endpoint is set (http://host:4317 for
// plaintext, https://… for TLS); otherwise it returns nil: spans are not recorded. Either
// way incoming W3C trace context is honoured and passed on to plugins.
func newTracerProvider(ctx context.Context, endpoint string) (trace.TracerProvider, func(context.Context) error, error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	if endpoint == "" {
		return nil, func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
	if err != nil {
		return nil, nil, fmt.Errorf("--otlp-endpoint: %w", err)
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName("dpa"), semconv.ServiceVersion(version.Version))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp, tp.Shutdown, nil
}

// spanless reports whether tp records no spans: nil, or one of the no-op providers (the API
// server's default is component-base's; dpa records its own data-plane spans in
// pkg/dataplane).
func spanless(tp trace.TracerProvider) bool {
	switch tp.(type) {
	case nil, noop.TracerProvider:
		return true
	}
	return reflect.TypeOf(tp) == reflect.TypeOf(tracing.NewNoopTracerProvider())
}

// withTraceContext is what the API server's tracing filter (otelhttp) amounts to with a
// no-op tracer provider: the incoming W3C trace context and baggage, extracted with the API
// server's propagators, in the request's context — so that dpa's own spans and the plugin
// call carry them — without otelhttp's per-request attributes, metrics and writer wrapping.
// TestWithTraceContext checks the two against each other.
func withTraceContext(h http.Handler) http.Handler {
	prop := tracing.Propagators()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header)); ctx != r.Context() {
			r = r.WithContext(ctx)
		}
		h.ServeHTTP(w, r)
	})
}
