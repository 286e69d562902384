package server

import (
	"context"
	"reflect"
	"strings"
	"sync"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/dataplane"
)

// discoverySink advertises the data plane's groups in /apis, in both the legacy and the
// aggregated discovery documents. The data plane calls changed after every route-table swap
// (dataplane.Options.RoutesChanged), so discovery follows the table in one place. Only groups
// whose discovery content changed are touched: each update makes the server rebuild its
// documents.
//
// A refresh looks at every group (O(groups)), so it runs in one goroutine (run), coalesced:
// a burst of swaps — start-up lists every stored object — costs a few refreshes instead of
// one per swap (3,000 objects: 27 s to ready with a refresh per swap, docs/benchmarks.md).
// Discovery follows the table within one refresh.
type discoverySink struct {
	dp     *dataplane.Handler
	mu     sync.Mutex
	server *genericapiserver.GenericAPIServer
	groups map[string]groupDiscovery
	kick   chan struct{} // capacity 1: a refresh is due
}

func newDiscoverySink() *discoverySink {
	return &discoverySink{kick: make(chan struct{}, 1)}
}

// changed asks for a refresh and returns at once.
func (d *discoverySink) changed() {
	select {
	case d.kick <- struct{}{}:
	default: // one is due already: it will see this change too
	}
}

// run refreshes after changes until ctx ends.
func (d *discoverySink) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.kick:
			d.refresh()
		}
	}
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
	d.refresh()
}

// refresh advertises the data plane's current groups.
func (d *discoverySink) refresh() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.server == nil || d.dp == nil {
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
