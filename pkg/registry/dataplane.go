package registry

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
	"github.com/dataplane-aggregator/dpa/pkg/dataplane"
	"github.com/dataplane-aggregator/dpa/pkg/pluginhost"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
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

// Reasons of the Available condition.
const (
	ReasonAvailable           = "PluginRunning"
	ReasonPluginNotFound      = "PluginNotFound"
	ReasonPluginNotRunning    = "PluginNotRunning"
	ReasonPluginTypeMismatch  = "PluginTypeMismatch"
	ReasonServiceUnsupported  = "ServiceUnsupported"
	ReasonPluginNotResponding = "PluginNotResponding"
)

// availability answers the Available condition from the plugin host's view of the plugin.
type availability struct{ host *pluginhost.Host }

func (a availability) Available(reg routes.Registration) (v0alpha1.DataPlaneServiceConditionStatus, string, string) {
	const f, t = v0alpha1.DataPlaneServiceConditionStatusFalse, v0alpha1.DataPlaneServiceConditionStatusTrue
	if a.host == nil {
		return f, ReasonPluginNotFound, fmt.Sprintf("plugin %q not found: dpa runs without --plugins-dir or --plugin-address", reg.PluginID)
	}
	info, ok := a.host.Info(reg.PluginID)
	if !ok {
		return f, ReasonPluginNotFound, fmt.Sprintf("plugin %q is not installed in the plugins directory", reg.PluginID)
	}
	if info.Type != "" && info.Type != reg.PluginType {
		return f, ReasonPluginTypeMismatch, fmt.Sprintf("plugin %q is of type %q, the spec says %q", reg.PluginID, info.Type, reg.PluginType)
	}
	if !info.Backend {
		return f, ReasonServiceUnsupported, fmt.Sprintf("plugin %q has no backend, so it serves no data-plane calls", reg.PluginID)
	}
	if reg.PluginType == routes.PluginTypeApp {
		for _, s := range reg.Services {
			if spec, _ := routes.LookupService(s.Type); spec.DatasourceOnly {
				return f, ReasonServiceUnsupported, fmt.Sprintf("service %q needs a datasource; app plugins have none", s.Type)
			}
		}
	}
	st := a.host.State(reg.PluginID)
	if !st.Running {
		msg := fmt.Sprintf("plugin %q is not running (%s)", reg.PluginID, st.Phase)
		if st.LastError != "" {
			msg += ": " + st.LastError
		}
		return f, ReasonPluginNotRunning, msg
	}
	if st.NotResponding != "" {
		return f, ReasonPluginNotResponding, fmt.Sprintf("plugin %q is running but not responding (pid %d): %s", reg.PluginID, st.PID, st.NotResponding)
	}
	// Every declared service type whose plugin service the process does not register, or
	// answered Unimplemented (SDK plugins register them all), is named.
	var missing []string
	for _, s := range reg.Services {
		spec, _ := routes.LookupService(s.Type)
		need := spec.PluginService
		if need == "" {
			continue
		}
		if (st.Services != nil && !slices.Contains(st.Services, need)) || slices.Contains(st.Unimplemented, need) {
			if m := fmt.Sprintf("%s (%s)", s.Type, need); !slices.Contains(missing, m) {
				missing = append(missing, m)
			}
		}
	}
	if len(missing) > 0 {
		return f, ReasonServiceUnsupported, fmt.Sprintf("plugin %q does not implement the declared service types %s", reg.PluginID, strings.Join(missing, ", "))
	}
	return t, ReasonAvailable, fmt.Sprintf("plugin %q is running and serves the declared services (restarts: %d)", reg.PluginID, st.Restarts)
}

// nextHandler forwards to the handler the API server builds after the data plane exists.
type nextHandler struct{ h http.Handler }

func (n *nextHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { n.h.ServeHTTP(w, r) }

// discoverySink advertises the data plane's groups in /apis, in both the legacy and the
// aggregated discovery documents, following the route table. Only groups whose discovery
// content changed are touched: each update makes the server rebuild its documents.
type discoverySink struct {
	dp     *dataplane.Handler
	mu     sync.Mutex
	server *genericapiserver.GenericAPIServer
	groups map[string]groupDiscovery
}

// groupDiscovery is what is advertised for one group.
type groupDiscovery struct {
	group    metav1.APIGroup
	versions []apidiscoveryv2.APIVersionDiscovery
}

func (d *discoverySink) attach(s *genericapiserver.GenericAPIServer) {
	d.mu.Lock()
	d.server = s
	d.mu.Unlock()
	d.SetRegistrations(nil)
}

// SetRegistrations implements routes.Sink. It reads the data plane's current groups, so it
// must run after the data plane's own SetRegistrations.
func (d *discoverySink) SetRegistrations([]routes.Registration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.server == nil {
		return
	}
	want := map[string]groupDiscovery{}
	for _, g := range d.dp.Groups() {
		if g.Name == v0alpha1.GroupVersion.Group {
			continue
		}
		gd := groupDiscovery{group: g}
		for _, v := range g.Versions {
			if list, ok := d.dp.APIResourceList(g.Name, v.Version); ok {
				gd.versions = append(gd.versions, apidiscoveryv2.APIVersionDiscovery{
					Version:   v.Version,
					Resources: aggregatedResources(metav1.GroupVersion{Group: g.Name, Version: v.Version}, list.APIResources),
					Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent,
				})
			}
		}
		want[g.Name] = gd
	}
	for name := range d.groups {
		if _, ok := want[name]; !ok {
			d.server.DiscoveryGroupManager.RemoveGroup(name)
			d.server.AggregatedDiscoveryGroupManager.RemoveGroup(name)
		}
	}
	for name, gd := range want {
		if old, ok := d.groups[name]; ok && reflect.DeepEqual(old, gd) {
			continue
		}
		d.server.DiscoveryGroupManager.AddGroup(gd.group)
		// Replace the group's versions: a version may have gone or changed services.
		d.server.AggregatedDiscoveryGroupManager.RemoveGroup(name)
		for i, v := range gd.versions {
			d.server.AggregatedDiscoveryGroupManager.AddGroupVersion(name, v)
			// Plugin groups sort after built-in groups; earlier versions are preferred.
			d.server.AggregatedDiscoveryGroupManager.SetGroupVersionPriority(metav1.GroupVersion{Group: name, Version: v.Version}, 1000, 1000-i)
		}
	}
	d.groups = want
}

func aggregatedResources(gv metav1.GroupVersion, in []metav1.APIResource) []apidiscoveryv2.APIResourceDiscovery {
	var out []apidiscoveryv2.APIResourceDiscovery
	index := map[string]int{}
	scope := func(r metav1.APIResource) apidiscoveryv2.ResourceScope {
		if r.Namespaced {
			return apidiscoveryv2.ScopeNamespace
		}
		return apidiscoveryv2.ScopeCluster
	}
	for _, r := range in {
		if strings.Contains(r.Name, "/") {
			continue
		}
		index[r.Name] = len(out)
		out = append(out, apidiscoveryv2.APIResourceDiscovery{
			Resource:         r.Name,
			SingularResource: r.SingularName,
			Scope:            scope(r),
			Verbs:            r.Verbs,
			ResponseKind:     &metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: r.Kind},
		})
	}
	for _, r := range in {
		parent, sub, ok := strings.Cut(r.Name, "/")
		if !ok {
			continue
		}
		i, found := index[parent]
		if !found {
			continue
		}
		out[i].Subresources = append(out[i].Subresources, apidiscoveryv2.APISubresourceDiscovery{
			Subresource:  sub,
			Verbs:        r.Verbs,
			ResponseKind: &metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: r.Kind},
		})
	}
	return out
}
