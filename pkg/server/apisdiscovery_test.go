package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apiserver/pkg/endpoints/discovery"
	discoveryendpoint "k8s.io/apiserver/pkg/endpoints/discovery/aggregated"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/dataplane"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

// touchLog records which groups a refresh changed in either discovery document.
type touchLog struct{ groups []string }

func (l *touchLog) touch(group string) {
	if !slices.Contains(l.groups, group) {
		l.groups = append(l.groups, group)
	}
}

// countingGroups is the legacy /apis manager, recording the groups added or removed.
type countingGroups struct {
	discovery.GroupManager
	log *touchLog
}

func (c countingGroups) AddGroup(g metav1.APIGroup) {
	c.log.touch(g.Name)
	c.GroupManager.AddGroup(g)
}

func (c countingGroups) RemoveGroup(name string) {
	c.log.touch(name)
	c.GroupManager.RemoveGroup(name)
}

// countingResources is the aggregated /apis manager, recording the groups changed.
type countingResources struct {
	discoveryendpoint.ResourceManager
	log *touchLog
}

func (c countingResources) AddGroupVersion(group string, v apidiscoveryv2.APIVersionDiscovery) {
	c.log.touch(group)
	c.ResourceManager.AddGroupVersion(group, v)
}

func (c countingResources) RemoveGroup(name string) {
	c.log.touch(name)
	c.ResourceManager.RemoveGroup(name)
}

// discoveryFixture is a discovery sink fed by a data plane as in startDataPlane, attached to
// an API server that has only the two /apis documents (all the sink uses).
type discoveryFixture struct {
	dp      *dataplane.Handler
	sink    *discoverySink
	legacy  discovery.GroupManager
	aggr    discoveryendpoint.ResourceManager
	touched *touchLog
}

func newDiscoveryFixture(t *testing.T) *discoveryFixture {
	t.Helper()
	f := &discoveryFixture{sink: newDiscoverySink(), touched: &touchLog{}}
	f.dp = dataplane.New(dataplane.Options{Plugins: dataplane.PluginProviderFunc(nil), RoutesChanged: f.sink.changed})
	t.Cleanup(f.dp.Close)
	f.sink.dp = f.dp
	codecs := serializer.NewCodecFactory(runtime.NewScheme())
	f.legacy = discovery.NewRootAPIsHandler(discovery.DefaultAddresses{DefaultAddress: "192.0.2.1"}, codecs)
	f.aggr = discoveryendpoint.NewResourceManager("apis")
	f.sink.attach(&genericapiserver.GenericAPIServer{
		DiscoveryGroupManager:           countingGroups{f.legacy, f.touched},
		AggregatedDiscoveryGroupManager: countingResources{f.aggr, f.touched},
	})
	return f
}

// publish swaps the data plane's table and runs the refresh the swap asked for (what run
// does in its goroutine). It returns the groups the refresh touched.
func (f *discoveryFixture) publish(t *testing.T, regs []routes.Registration) []string {
	t.Helper()
	f.touched.groups = nil
	f.dp.SetRegistrations(regs)
	select {
	case <-f.sink.kick:
	default:
		t.Fatal("a route-table swap asked for no discovery refresh")
	}
	f.sink.refresh()
	out := slices.Clone(f.touched.groups)
	sort.Strings(out)
	return out
}

// legacyGroups is the legacy /apis document: each group's versions, preferred first.
func (f *discoveryFixture) legacyGroups(t *testing.T) map[string][]string {
	t.Helper()
	groups, err := f.legacy.Groups(t.Context(), httptest.NewRequest(http.MethodGet, "/apis", nil))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, g := range groups {
		var vs []string
		for _, v := range g.Versions {
			vs = append(vs, v.Version)
		}
		if len(vs) > 0 && g.PreferredVersion.Version != vs[0] {
			t.Errorf("group %s prefers %s, not its first version %s", g.Name, g.PreferredVersion.Version, vs[0])
		}
		out[g.Name] = vs
	}
	return out
}

// aggregatedGroups is the aggregated /apis document as a client reads it: for each group and
// version (in order) its resources as "name[sub,sub]".
func (f *discoveryFixture) aggregatedGroups(t *testing.T) map[string][]string {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/apis", nil)
	req.Header.Set("Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
	rec := httptest.NewRecorder()
	f.aggr.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("aggregated /apis: %d %s", rec.Code, rec.Body)
	}
	var list apidiscoveryv2.APIGroupDiscoveryList
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, g := range list.Items {
		for _, v := range g.Versions {
			var res []string
			for _, r := range v.Resources {
				if r.Scope != apidiscoveryv2.ScopeNamespace || r.ResponseKind == nil ||
					r.ResponseKind.Group != g.Name || r.ResponseKind.Version != v.Version || r.ResponseKind.Kind != "DataSource" {
					t.Errorf("%s/%s %s: scope %s, kind %v", g.Name, v.Version, r.Resource, r.Scope, r.ResponseKind)
				}
				var subs []string
				for _, s := range r.Subresources {
					subs = append(subs, s.Subresource)
				}
				res = append(res, r.Resource+"["+strings.Join(subs, ",")+"]")
			}
			out[g.Name] = append(out[g.Name], v.Version+":"+strings.Join(res, " "))
		}
	}
	return out
}

const (
	dsDiscoveryGroup  = "test.datasource.grafana.app"
	appDiscoveryGroup = "test.app.grafana.app"
)

func dsReg(version string, types ...v0alpha1.DataPlaneServiceServiceType) routes.Registration {
	r := routes.Registration{Name: "ds-" + version, UID: "uid-ds-" + version, Generation: 1, PluginID: "test-datasource",
		PluginType: routes.PluginTypeDatasource, Group: dsDiscoveryGroup, Version: version}
	for _, ty := range types {
		r.Services = append(r.Services, v0alpha1.DataPlaneServiceService{Type: ty})
	}
	return r
}

func appReg() routes.Registration {
	return routes.Registration{Name: "app", UID: "uid-app", Generation: 1, PluginID: "test-app", PluginType: routes.PluginTypeApp,
		Group: appDiscoveryGroup, Version: "v1", Services: []v0alpha1.DataPlaneServiceService{{Type: v0alpha1.DataPlaneServiceServiceTypeResource}}}
}

// TestDiscoverySink: after a route-table swap, /apis (legacy and aggregated) lists exactly the
// data plane's plugin groups — never dpa's own group, which the API server lists — with their
// versions (newest preferred) and a datasource plugin's resources; only groups whose content
// changed are touched, since every change makes the server rebuild its documents.
func TestDiscoverySink(t *testing.T) {
	query, health := v0alpha1.DataPlaneServiceServiceTypeQuery, v0alpha1.DataPlaneServiceServiceTypeHealth
	for name, tc := range map[string]struct {
		before, after []routes.Registration
		legacy        map[string][]string
		aggregated    map[string][]string
		touched       []string
	}{
		"datasource group added": {
			after:      []routes.Registration{dsReg("v1", query)},
			legacy:     map[string][]string{dsDiscoveryGroup: {"v1"}},
			aggregated: map[string][]string{dsDiscoveryGroup: {"v1:datasources[query]"}},
			touched:    []string{dsDiscoveryGroup},
		},
		"app group added": {
			before:     []routes.Registration{dsReg("v1", query)},
			after:      []routes.Registration{dsReg("v1", query), appReg()},
			legacy:     map[string][]string{dsDiscoveryGroup: {"v1"}, appDiscoveryGroup: {"v1"}},
			aggregated: map[string][]string{dsDiscoveryGroup: {"v1:datasources[query]"}, appDiscoveryGroup: {"v1:"}},
			touched:    []string{appDiscoveryGroup},
		},
		"one of two groups removed": {
			before:     []routes.Registration{dsReg("v1", query), appReg()},
			after:      []routes.Registration{appReg()},
			legacy:     map[string][]string{appDiscoveryGroup: {"v1"}},
			aggregated: map[string][]string{appDiscoveryGroup: {"v1:"}},
			touched:    []string{dsDiscoveryGroup},
		},
		"only group removed": {
			before:     []routes.Registration{dsReg("v1", query)},
			legacy:     map[string][]string{},
			aggregated: map[string][]string{},
			touched:    []string{dsDiscoveryGroup},
		},
		"version added": {
			before: []routes.Registration{dsReg("v1", query)},
			after:  []routes.Registration{dsReg("v1", query), dsReg("v2", health), dsReg("v1beta1", query)},
			legacy: map[string][]string{dsDiscoveryGroup: {"v2", "v1", "v1beta1"}},
			aggregated: map[string][]string{dsDiscoveryGroup: {
				"v2:datasources[health]", "v1:datasources[query]", "v1beta1:datasources[query]"}},
			touched: []string{dsDiscoveryGroup},
		},
		"version removed": {
			before:     []routes.Registration{dsReg("v1", query), dsReg("v2", health)},
			after:      []routes.Registration{dsReg("v1", query)},
			legacy:     map[string][]string{dsDiscoveryGroup: {"v1"}},
			aggregated: map[string][]string{dsDiscoveryGroup: {"v1:datasources[query]"}},
			touched:    []string{dsDiscoveryGroup},
		},
		"services changed": {
			before:     []routes.Registration{dsReg("v1", query), appReg()},
			after:      []routes.Registration{dsReg("v1", query, health), appReg()},
			legacy:     map[string][]string{dsDiscoveryGroup: {"v1"}, appDiscoveryGroup: {"v1"}},
			aggregated: map[string][]string{dsDiscoveryGroup: {"v1:datasources[query,health]"}, appDiscoveryGroup: {"v1:"}},
			touched:    []string{dsDiscoveryGroup},
		},
		"new generation, same discovery": {
			before: []routes.Registration{dsReg("v1", query)},
			after: func() []routes.Registration {
				r := dsReg("v1", query)
				r.Generation = 2
				r.Services = append(r.Services, v0alpha1.DataPlaneServiceService{Type: v0alpha1.DataPlaneServiceServiceTypeMetrics})
				return []routes.Registration{r}
			}(),
			legacy:     map[string][]string{dsDiscoveryGroup: {"v1"}},
			aggregated: map[string][]string{dsDiscoveryGroup: {"v1:datasources[query]"}},
		},
		"own group not listed": {
			after: []routes.Registration{dsReg("v1", query), func() routes.Registration {
				r := dsReg(v0alpha1.GroupVersion.Version, query)
				r.Group = v0alpha1.GroupVersion.Group
				return r
			}()},
			legacy:     map[string][]string{dsDiscoveryGroup: {"v1"}},
			aggregated: map[string][]string{dsDiscoveryGroup: {"v1:datasources[query]"}},
			touched:    []string{dsDiscoveryGroup},
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newDiscoveryFixture(t)
			f.publish(t, tc.before)
			touched := f.publish(t, tc.after)
			if got := f.legacyGroups(t); !equalLists(got, tc.legacy) {
				t.Errorf("legacy /apis = %v, want %v", got, tc.legacy)
			}
			if got := f.aggregatedGroups(t); !equalLists(got, tc.aggregated) {
				t.Errorf("aggregated /apis = %v, want %v", got, tc.aggregated)
			}
			if !slices.Equal(touched, tc.touched) {
				t.Errorf("groups touched = %v, want %v", touched, tc.touched)
			}
		})
	}
}

func equalLists(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}

// TestDiscoverySinkAttach: swaps before the API server exists are not lost: attaching
// publishes the data plane's current groups.
func TestDiscoverySinkAttach(t *testing.T) {
	sink := newDiscoverySink()
	dp := dataplane.New(dataplane.Options{Plugins: dataplane.PluginProviderFunc(nil), RoutesChanged: sink.changed})
	t.Cleanup(dp.Close)
	sink.dp = dp
	dp.SetRegistrations([]routes.Registration{dsReg("v1")})
	sink.refresh() // no server yet: nothing to do, and no panic

	legacy := discovery.NewRootAPIsHandler(discovery.DefaultAddresses{DefaultAddress: "192.0.2.1"}, serializer.NewCodecFactory(runtime.NewScheme()))
	sink.attach(&genericapiserver.GenericAPIServer{DiscoveryGroupManager: legacy, AggregatedDiscoveryGroupManager: discoveryendpoint.NewResourceManager("apis")})
	groups, err := legacy.Groups(t.Context(), httptest.NewRequest(http.MethodGet, "/apis", nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].Name != dsDiscoveryGroup {
		t.Errorf("after attach /apis lists %v, want %s", groups, dsDiscoveryGroup)
	}
}

// TestDiscoverySinkChangedCoalesces: changed never blocks, and any number of changes before
// the next refresh leave one refresh due.
func TestDiscoverySinkChangedCoalesces(t *testing.T) {
	sink := newDiscoverySink()
	if len(sink.kick) != 0 {
		t.Fatal("a new sink has a refresh due")
	}
	for range 3 {
		sink.changed([]string{"g.grafana.app"})
	}
	if len(sink.kick) != 1 {
		t.Errorf("%d refreshes due after three changes, want 1", len(sink.kick))
	}
}
