package server

import (
	"context"
	"fmt"
	"net/http"

	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
	"github.com/dataplane-aggregator/dpa/pkg/dataplane"
	"github.com/dataplane-aggregator/dpa/pkg/pluginhost"
)

// pluginProvider is the data plane's view of the plugin host: the host itself, or, when
// dpa runs without plugins, a provider that has none.
func pluginProvider(host *pluginhost.Host) dataplane.PluginProvider {
	if host == nil {
		return dataplane.PluginProviderFunc(func(_ context.Context, id string) (*backendplugin.Client, error) {
			return nil, fmt.Errorf("%w: %s (dpa runs without --plugins-dir or --plugin-address)", backendplugin.ErrNotFound, id)
		})
	}
	return host
}

// nextHandler forwards to the handler the API server builds after the data plane exists.
type nextHandler struct{ h http.Handler }

func (n *nextHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { n.h.ServeHTTP(w, r) }
