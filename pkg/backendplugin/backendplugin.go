// Package backendplugin holds what the plugin host and the data plane share about a Grafana
// backend plugin: the id rule, the Grafana version plugins are told, the handle of a
// connected plugin (its gRPC clients), and the errors for a plugin that is not installed or
// cannot answer now. It is a leaf: besides the standard library it imports only the plugin
// SDK's generated protocol.
package backendplugin

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
)

// IDPattern is Grafana's plugin id rule: lower-case letters and digits in words joined by
// dashes.
var IDPattern = regexp.MustCompile(`^[0-9a-z]+(-[0-9a-z]+)*$`)

// GrafanaVersion is the Grafana API level dpa emulates: plugins see it as GF_VERSION.
const GrafanaVersion = "12.0.0"

// Client is a connected plugin process: its identity and its gRPC clients. Calls on a client
// whose process has since died fail with gRPC code Unavailable; the host hands out a new
// Client for the restarted process.
type Client struct {
	ID   string
	Type string
	// Version is plugin.json's info.version (PluginContext.PluginVersion).
	Version string
	pluginv2.DataClient
	pluginv2.ResourceClient
	pluginv2.DiagnosticsClient
	pluginv2.StreamClient
	pluginv2.AdmissionControlClient
	pluginv2.ResourceConversionClient
}

// ErrNotFound means no plugin with that id is installed or configured (or it has no
// backend): the data plane answers 503, as the route exists but nothing can serve it.
var ErrNotFound = errors.New("plugin not found")

// UnavailableError means the plugin exists but cannot take calls now (starting, restarting
// after an exit, host not running): the data plane answers 503 with Retry-After.
type UnavailableError struct {
	PluginID string
	// RetryAfter is a hint for when to try again (whole seconds, at least one).
	RetryAfter time.Duration
	Cause      error
}

func (e *UnavailableError) Error() string {
	msg := fmt.Sprintf("plugin %q is unavailable", e.PluginID)
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return msg
}

// Unwrap returns the cause.
func (e *UnavailableError) Unwrap() error { return e.Cause }

// Grafana plugin gRPC services, as a plugin's server registers them.
const (
	ServiceData               = "pluginv2.Data"
	ServiceResource           = "pluginv2.Resource"
	ServiceDiagnostics        = "pluginv2.Diagnostics"
	ServiceStream             = "pluginv2.Stream"
	ServiceAdmissionControl   = "pluginv2.AdmissionControl"
	ServiceResourceConversion = "pluginv2.ResourceConversion"
)
