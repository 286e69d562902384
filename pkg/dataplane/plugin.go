package dataplane

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
)

// Plugin is a connected plugin process: its id, type and gRPC clients. Clients a plugin does
// not implement may be nil or answer codes.Unimplemented.
type Plugin struct {
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

// PluginProvider returns a ready plugin by id. Implementations should return an error
// wrapping ErrPluginNotFound for unknown plugins and *UnavailableError while a plugin is
// (re)starting or crashed.
type PluginProvider interface {
	Get(ctx context.Context, id string) (*Plugin, error)
}

// PluginProviderFunc adapts a function to PluginProvider.
type PluginProviderFunc func(ctx context.Context, id string) (*Plugin, error)

// Get implements PluginProvider.
func (f PluginProviderFunc) Get(ctx context.Context, id string) (*Plugin, error) { return f(ctx, id) }

// ErrPluginNotFound means no plugin with that id is installed (served as 503: the route exists
// but nothing can answer it).
var ErrPluginNotFound = errors.New("plugin not found")

// UnavailableError means the plugin exists but cannot answer now (served as 503 with
// Retry-After).
type UnavailableError struct {
	PluginID   string
	RetryAfter time.Duration
	Cause      error
}

func (e *UnavailableError) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("plugin %s is unavailable: %v", e.PluginID, e.Cause)
	}
	return fmt.Sprintf("plugin %s is unavailable", e.PluginID)
}

// Unwrap returns the cause.
func (e *UnavailableError) Unwrap() error { return e.Cause }
