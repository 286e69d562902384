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
// with the groups it touched (dataplane.Options.RoutesChanged), so discovery follows the table
// in one place. Only those groups are looked at again, and only those whose discovery content
// changed are touched: each update makes the server rebuild its documents.
//
// Refreshes run in one goroutine (run), coalesced: a burst of swaps — start-up lists every
// stored object — costs a few refreshes, each O(groups changed), instead of one per swap over
// every group (3,000 objects: 27 s to ready with a full refresh per swap, docs/benchmarks.md).
// Discovery follows the table within one refresh.
type discoverySink struct {
	dp *dataplane.Handler
	// mu guards server and groups, and is held through a refresh.
	mu     sync.Mutex
	server *genericapiserver.GenericAPIServer
	groups map[string]groupDiscovery // what is advertised, by group
	// pendingMu guards pending: the groups to look at in the next refresh. changed never
	// waits for a refresh in progress.
	pendingMu sync.Mutex
	pending   map[string]struct{}
	kick      chan struct{} // capacity 1: a refresh is due
}

func newDiscoverySink() *discoverySink {
	return &discoverySink{kick: make(chan struct{}, 1), groups: map[string]groupDiscovery{}, pending: map[string]struct{}{}}
}

// changed asks for a refresh of groups and returns at once.
func (d *discoverySink) changed(groups []string) {
	d.pendingMu.Lock()
	for _, g := range groups {
		d.pending[g] = struct{}{}
	}
	d.pendingMu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default: // one is due already: it will see these groups too
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

// attach starts advertising on s: every group the data plane serves now, and from then on
// the groups it changes.
func (d *discoverySink) attach(s *genericapiserver.GenericAPIServer) {
	d.mu.Lock()
	d.server = s
	d.mu.Unlock()
	if d.dp != nil {
		var all []string
		for _, g := range d.dp.Groups() {
			all = append(all, g.Name)
		}
		d.changed(all)
	}
	d.refresh()
}

// refresh advertises the pending groups as the data plane serves them now.
func (d *discoverySink) refresh() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.server == nil || d.dp == nil {
		return
	}
	d.pendingMu.Lock()
	pending := d.pending
	d.pending = map[string]struct{}{}
	d.pendingMu.Unlock()
	for name := range pending {
		if name == v0alpha1.GroupVersion.Group {
			continue
		}
		g, served := d.dp.Group(name)
		if !served {
			if _, advertised := d.groups[name]; advertised {
				d.server.DiscoveryGroupManager.RemoveGroup(name)
				d.server.AggregatedDiscoveryGroupManager.RemoveGroup(name)
				delete(d.groups, name)
			}
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
		if old, ok := d.groups[name]; ok && reflect.DeepEqual(old, gd) {
			continue
		}
		d.server.DiscoveryGroupManager.AddGroup(gd.group)
		// Replace the group's versions: a version may have gone or changed services. (Not for
		// a new group: RemoveGroup costs O(groups).)
		if _, advertised := d.groups[name]; advertised {
			d.server.AggregatedDiscoveryGroupManager.RemoveGroup(name)
		}
		for i, v := range gd.versions {
			d.server.AggregatedDiscoveryGroupManager.AddGroupVersion(name, v)
			// Plugin groups sort after built-in groups; earlier versions are preferred.
			d.server.AggregatedDiscoveryGroupManager.SetGroupVersionPriority(metav1.GroupVersion{Group: name, Version: v.Version}, 1000, 1000-i)
		}
		d.groups[name] = gd
	}
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
