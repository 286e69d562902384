package e2e

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// otlpReceiver is a real OTLP/gRPC trace endpoint that keeps what it receives.
type otlpReceiver struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []receivedSpan
}

type receivedSpan struct {
	service string
	span    *tracepb.Span
}

func (r *otlpReceiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == "service.name" {
				service = kv.Value.GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				r.spans = append(r.spans, receivedSpan{service, sp})
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (r *otlpReceiver) inTrace(traceID []byte) []receivedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []receivedSpan
	for _, s := range r.spans {
		if string(s.span.TraceId) == string(traceID) {
			out = append(out, s)
		}
	}
	return out
}

func attr(sp *tracepb.Span, key string) string {
	for _, kv := range sp.Attributes {
		if kv.Key == key {
			if v := kv.Value.GetStringValue(); v != "" {
				return v
			}
			return fmt.Sprint(kv.Value.GetIntValue())
		}
	}
	return ""
}

// TestTracing: a data-plane request carrying W3C trace context produces a dpa span in that
// trace, exported over OTLP, and the plugin's own span joins the same trace — the context
// travelled into the plugin call in gRPC metadata.
func TestTracing(t *testing.T) {
	rec := &otlpReceiver{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, rec)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)

	d := startServer(t, "", "--plugins-dir", examplePlugins(t), "--provisioning", repo+"/examples/provisioning",
		"--otlp-endpoint", "http://"+l.Addr().String())
	d.kc(t, "apply", "-f", repo+"/examples/dataplaneservices/example-datasource.yaml")
	d.kc(t, "wait", "--for=condition=Available", "dataplaneservice/example-datasource", "--timeout=60s")

	traceID, _ := hex.DecodeString("4bf92f3577b34da6a3ce929d0e0e4736")
	body := `{"from":"now-1h","to":"now","queries":[{"refId":"A","datasource":{"type":"example-datasource","uid":"example"},"points":2}]}`
	d.want(t, 200, "POST", dsNS+"/query", body,
		withHeader("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))

	var dpaSpan, pluginSpan *tracepb.Span
	eventually(t, 30*time.Second, "spans of the request's trace from dpa and the plugin", func() (bool, string) {
		var seen []string
		for _, s := range rec.inTrace(traceID) {
			seen = append(seen, s.service+"/"+s.span.Name)
			switch {
			case s.service == "dpa" && attr(s.span, "dpa.plugin_id") == "example-datasource":
				dpaSpan = s.span
			case s.service != "dpa":
				pluginSpan = s.span
			}
		}
		return dpaSpan != nil && pluginSpan != nil, strings.Join(seen, ", ")
	})
	want := map[string]string{
		"dpa.group": "example.datasource.grafana.app", "dpa.version": "v0alpha1", "dpa.service_type": "query",
		"dpa.namespace": "default", "http.response.status_code": "200",
	}
	for k, v := range want {
		if got := attr(dpaSpan, k); got != v {
			t.Errorf("dpa span %q: %s = %q, want %q", dpaSpan.Name, k, got, v)
		}
	}
	all := fmt.Sprint(dpaSpan.Attributes)
	if string(pluginSpan.TraceId) != string(traceID) {
		t.Fatal("plugin span in another trace")
	}
	if strings.Contains(all, "example-secret-key") {
		t.Fatal("a secret reached a span")
	}
}
