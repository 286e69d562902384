package pluginhost

import (
	"context"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
)

// TestPropagationInterceptors: without span recording, the plugin receives the same trace
// metadata through propagationInterceptors as through otelgrpc's client handler with a
// no-op tracer provider — unary and streaming calls, with and without a parent span,
// baggage and metadata the caller set itself.
func TestPropagationInterceptors(t *testing.T) {
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	got := make(chan metadata.MD, 1)
	record := func(ctx context.Context) {
		md, _ := metadata.FromIncomingContext(ctx)
		got <- md
	}
	srv := grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			record(ctx)
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(s any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			record(ss.Context())
			return h(s, ss)
		}))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	dial := func(opts ...grpc.DialOption) healthpb.HealthClient {
		cc, err := grpc.NewClient(l.Addr().String(), append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cc.Close() })
		return healthpb.NewHealthClient(cc)
	}
	otel := dial(grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithPropagators(prop), otelgrpc.WithTracerProvider(noop.NewTracerProvider()))))
	lean := dial(propagationInterceptors(prop)...)

	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 1}, SpanID: trace.SpanID{0xf0, 2}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	bag, _ := baggage.Parse("user=alice,team=obs")
	ctxs := map[string]context.Context{
		"nothing":       context.Background(),
		"parent":        trace.ContextWithRemoteSpanContext(context.Background(), sc),
		"baggage":       baggage.ContextWithBaggage(context.Background(), bag),
		"parent+bag":    baggage.ContextWithBaggage(trace.ContextWithRemoteSpanContext(context.Background(), sc), bag),
		"parent+own md": metadata.AppendToOutgoingContext(trace.ContextWithRemoteSpanContext(context.Background(), sc), "x-own", "1"),
	}
	trim := func(md metadata.MD) map[string]string {
		out := map[string]string{}
		for k, v := range md {
			if k == "traceparent" || k == "tracestate" || k == "baggage" || strings.HasPrefix(k, "x-") {
				vs := slices.Clone(v)
				if k == "baggage" { // member order is not significant
					vs = strings.Split(strings.Join(vs, ","), ",")
					slices.Sort(vs)
				}
				out[k] = strings.Join(vs, ",")
			}
		}
		return out
	}
	calls := map[string]func(healthpb.HealthClient, context.Context) error{
		"unary": func(c healthpb.HealthClient, ctx context.Context) error {
			_, err := c.Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		},
		"stream": func(c healthpb.HealthClient, ctx context.Context) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			s, err := c.Watch(ctx, &healthpb.HealthCheckRequest{})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		},
	}
	for name, ctx := range ctxs {
		for kind, call := range calls {
			if err := call(otel, ctx); err != nil {
				t.Fatal(err)
			}
			want := trim(<-got)
			if err := call(lean, ctx); err != nil {
				t.Fatal(err)
			}
			have := trim(<-got)
			if !maps.Equal(want, have) {
				t.Errorf("%s, %s: plugin got %v, with otelgrpc %v", name, kind, have, want)
			}
			if strings.HasPrefix(name, "parent") && have["traceparent"] == "" {
				t.Errorf("%s, %s: no traceparent reached the plugin", name, kind)
			}
		}
	}
}
