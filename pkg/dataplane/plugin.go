package dataplane

import (
	"context"

	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
)

// PluginProvider returns a connected plugin by id. Implementations return an error wrapping
// backendplugin.ErrNotFound for plugins that are not installed (503) and a
// *backendplugin.UnavailableError while a plugin is (re)starting or crashed (503 with
// Retry-After). Clients a plugin does not implement may be nil or answer
// codes.Unimplemented.
type PluginProvider interface {
	Get(ctx context.Context, id string) (*backendplugin.Client, error)
}

// PluginProviderFunc adapts a function to PluginProvider.
type PluginProviderFunc func(ctx context.Context, id string) (*backendplugin.Client, error)

// Get implements PluginProvider.
func (f PluginProviderFunc) Get(ctx context.Context, id string) (*backendplugin.Client, error) {
	return f(ctx, id)
}
