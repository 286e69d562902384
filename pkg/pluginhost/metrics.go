package pluginhost

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	restarts *prometheus.CounterVec
	up       *prometheus.GaugeVec
}

func newMetrics() *metrics {
	return &metrics{
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dpa_plugin_restarts_total",
			Help: "Backend plugin start attempts after the first one (restarts after an exit or failed start).",
		}, []string{"plugin"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dpa_plugin_up",
			Help: "1 when the backend plugin process is running (or its standalone address is connected), else 0.",
		}, []string{"plugin"}),
	}
}

// init creates the series so they are exported before the first event.
func (m *metrics) init(id string) {
	m.restarts.WithLabelValues(id)
	m.up.WithLabelValues(id).Set(0)
}

// forget removes a plugin's series once it left the plugins directory, so that a removed
// plugin is not reported as down for as long as dpa runs.
func (m *metrics) forget(id string) {
	m.restarts.DeleteLabelValues(id)
	m.up.DeleteLabelValues(id)
}
