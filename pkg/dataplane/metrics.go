package dataplane

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	routes   prometheus.Gauge
	inflight *prometheus.GaugeVec
	rejected *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	labels := []string{"group", "version", "type", "code"}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dpa_dataplane_requests_total",
			Help: "Data-plane requests by API group, version, service type and HTTP status code.",
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dpa_dataplane_request_duration_seconds",
			Help:    "Data-plane request duration (streams: until the client leaves).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, labels),
		routes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dpa_dataplane_routes",
			Help: "Registrations (group/versions) in the active data-plane route table.",
		}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dpa_dataplane_inflight",
			Help: "Data-plane requests in flight, by kind (requests, streams).",
		}, []string{"kind"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dpa_dataplane_rejected_total",
			Help: "Data-plane requests answered 429 because a limit was full, by kind and limit (global, user).",
		}, []string{"kind", "limit"}),
	}
	if reg != nil {
		m.requests = register(reg, m.requests)
		m.duration = register(reg, m.duration)
		m.routes = register(reg, m.routes)
		m.inflight = register(reg, m.inflight)
		m.rejected = register(reg, m.rejected)
	}
	return m
}

// register registers c, reusing an identical collector already registered (e.g. a second
// Handler in tests).
func register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
	}
	return c
}
