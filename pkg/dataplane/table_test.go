package dataplane

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

// TestMatch is the route matcher's contract: for each registration kind, method and path,
// the service type it resolves to (with namespace, uid, sub-path and action), or the 404/405
// and Allow it answers. Built-in and custom routes share one matcher.
func TestMatch(t *testing.T) {
	regs := []routes.Registration{
		{Name: "ds", PluginID: "p", PluginType: "datasource", Group: "ds.grafana.app", Version: "v1",
			Services: allServices(
				routeSvc(v0alpha1.DataPlaneServiceServiceMethodGET, "/namespaces/{ns}/things/{name}"),
				routeSvc(v0alpha1.DataPlaneServiceServiceMethodPOST, "/hooks/{path...}"),
				routeSvc("", "/any/{x}"),
				// Same path as the built-in query route, another method: the built-in wins for
				// POST, the custom route serves GET, and Allow lists both.
				routeSvc(v0alpha1.DataPlaneServiceServiceMethodGET, "/namespaces/{ns}/datasources/{uid}/query"),
				routeSvc(v0alpha1.DataPlaneServiceServiceMethodDELETE, "/namespaces/{ns}/datasources/{uid}/items/{id}"),
			)},
		{Name: "app", PluginID: "a", PluginType: "app", Group: "app.grafana.app", Version: "v1",
			Services: []v0alpha1.DataPlaneServiceService{
				{Type: v0alpha1.DataPlaneServiceServiceTypeHealth},
				{Type: v0alpha1.DataPlaneServiceServiceTypeResource},
				{Type: v0alpha1.DataPlaneServiceServiceTypeStream},
			}},
		{Name: "query-only", PluginID: "q", PluginType: "datasource", Group: "q.grafana.app", Version: "v1",
			Services: []v0alpha1.DataPlaneServiceService{{Type: v0alpha1.DataPlaneServiceServiceTypeQuery}}},
	}
	tbl, problems := new(table).update(regs, nil)
	if len(problems) != 0 {
		t.Fatal(problems)
	}
	type key struct{ gv, method, path string }
	type want struct {
		typ                  routes.ServiceType
		code                 int // 0: matched
		allow                string
		ns, uid, sub, action string
	}
	const ds, app, q = "ds.grafana.app/v1", "app.grafana.app/v1", "q.grafana.app/v1"
	notFound := want{code: http.StatusNotFound}
	cases := map[key]want{
		// discovery and the datasource objects (dpa's own)
		{ds, "GET", ""}:   {typ: "discovery"},
		{ds, "GET", "/"}:  {typ: "discovery"},
		{ds, "HEAD", "/"}: {typ: "discovery"},
		{ds, "POST", "/"}: {code: 405, allow: "GET"},
		{ds, "GET", "/namespaces/org-2/datasources"}:       {typ: "datasources", ns: "org-2", action: "list"},
		{ds, "GET", "/namespaces/org-2/datasources/"}:      {typ: "datasources", ns: "org-2", action: "list"},
		{ds, "GET", "/namespaces/org-2/datasources/u1"}:    {typ: "datasources", ns: "org-2", uid: "u1", action: "get"},
		{ds, "DELETE", "/namespaces/org-2/datasources/u1"}: {code: 405, allow: "GET"},
		{ds, "GET", "/namespaces/org-2/connections"}:       notFound,
		{ds, "GET", "/namespaces//datasources"}:            notFound,
		{app, "GET", "/namespaces/default/datasources"}:    notFound,
		// datasource service types
		{ds, "POST", "/namespaces/default/datasources/u1/query"}:       {typ: "query", ns: "default", uid: "u1"},
		{ds, "POST", "/namespaces/default/datasources/u1/query/"}:      {typ: "query", ns: "default", uid: "u1"},
		{ds, "POST", "/namespaces/default/connections/u1/query"}:       {typ: "query", ns: "default", uid: "u1"},
		{ds, "GET", "/namespaces/default/connections/u1/health"}:       notFound,
		{ds, "GET", "/namespaces/default/datasources/u1/health"}:       {typ: "health", ns: "default", uid: "u1"},
		{ds, "POST", "/namespaces/default/datasources/u1/health"}:      {code: 405, allow: "GET"},
		{ds, "PUT", "/namespaces/default/datasources/u1/resource/a/b"}: {typ: "resource", ns: "default", uid: "u1", sub: "a/b"},
		{ds, "GET", "/namespaces/default/datasources/u1/resource/a/"}:  {typ: "resource", ns: "default", uid: "u1", sub: "a/"},
		{ds, "GET", "/namespaces/default/datasources/u1/resource"}:     {typ: "resource", ns: "default", uid: "u1"},
		{ds, "GET", "/namespaces/default/datasources/u1/resource//x"}:  {typ: "resource", ns: "default", uid: "u1", sub: "/x"},
		{ds, "GET", "/namespaces/default/datasources/u1/stream/ch/1"}:  {typ: "stream", ns: "default", uid: "u1", sub: "ch/1"},
		{ds, "POST", "/namespaces/default/datasources/u1/stream/ch"}:   {typ: "stream", ns: "default", uid: "u1", sub: "ch"},
		{ds, "PUT", "/namespaces/default/datasources/u1/stream/ch"}:    {code: 405, allow: "GET, POST"},
		{ds, "GET", "/namespaces/default/datasources/u1/stream"}:       notFound,
		{ds, "GET", "/namespaces/default/datasources/u1/stream/"}:      notFound,
		{ds, "PATCH", "/namespaces/default/datasources/u1/proxy/x/y"}:  {typ: "datasource-proxy", ns: "default", uid: "u1", sub: "x/y"},
		{ds, "GET", "/namespaces/default/datasources/u1/proxy"}:        {typ: "datasource-proxy", ns: "default", uid: "u1"},
		{ds, "GET", "/namespaces/default/datasources/u1/nope"}:         notFound,
		{ds, "GET", "/metrics"}:             {typ: "metrics"},
		{ds, "GET", "/metrics/"}:            {typ: "metrics"},
		{ds, "GET", "/metrics/x"}:           notFound,
		{ds, "POST", "/metrics"}:            {code: 405, allow: "GET"},
		{ds, "POST", "/conversion"}:         {typ: "conversion"},
		{ds, "GET", "/conversion"}:          {code: 405, allow: "POST"},
		{ds, "POST", "/admission/validate"}: {typ: "admission", action: "validate"},
		{ds, "POST", "/admission/mutate/"}:  {typ: "admission", action: "mutate"},
		{ds, "POST", "/admission/other"}:    notFound,
		{ds, "GET", "/admission/mutate"}:    {code: 405, allow: "POST"},
		// custom routes beside the built-in ones
		{ds, "GET", "/namespaces/default/things/t1"}:                 {typ: "route", ns: "default", sub: "namespaces/default/things/t1"},
		{ds, "HEAD", "/namespaces/default/things/t1"}:                {typ: "route", ns: "default", sub: "namespaces/default/things/t1"},
		{ds, "POST", "/namespaces/default/things/t1"}:                {code: 405, allow: "GET"},
		{ds, "POST", "/hooks"}:                                       {typ: "route", sub: "hooks"},
		{ds, "POST", "/hooks/a/b"}:                                   {typ: "route", sub: "hooks/a/b"},
		{ds, "OPTIONS", "/any/1"}:                                    {typ: "route", sub: "any/1"},
		{ds, "GET", "/any/1/2"}:                                      notFound,
		{ds, "GET", "/namespaces/default/datasources/u1/query"}:      {typ: "route", ns: "default", uid: "u1", sub: "query"},
		{ds, "PUT", "/namespaces/default/datasources/u1/query"}:      {code: 405, allow: "POST, GET"},
		{ds, "DELETE", "/namespaces/default/datasources/u1/items/7"}: {typ: "route", ns: "default", uid: "u1", sub: "items/7"},
		// app plugins: per-namespace paths, no datasources
		{app, "GET", "/namespaces/org-3/health"}:                {typ: "health", ns: "org-3"},
		{app, "GET", "/namespaces/org-3/resource/settings"}:     {typ: "resource", ns: "org-3", sub: "settings"},
		{app, "DELETE", "/namespaces/org-3/resource"}:           {typ: "resource", ns: "org-3"},
		{app, "GET", "/namespaces/org-3/stream/live/1"}:         {typ: "stream", ns: "org-3", sub: "live/1"},
		{app, "GET", "/namespaces/org-3/stream"}:                notFound,
		{app, "POST", "/namespaces/org-3/health"}:               {code: 405, allow: "GET"},
		{app, "GET", "/namespaces/org-3/datasources/u1/health"}: notFound,
		{app, "GET", "/metrics"}:                                notFound,
		// undeclared types are not served
		{q, "POST", "/namespaces/default/datasources/u1/query"}:   {typ: "query", ns: "default", uid: "u1"},
		{q, "GET", "/namespaces/default/datasources/u1/health"}:   notFound,
		{q, "GET", "/namespaces/default/datasources/u1/resource"}: notFound,
		{q, "POST", "/conversion"}:                                notFound,
		{q, "GET", "/namespaces/default/datasources"}:             {typ: "datasources", ns: "default", action: "list"},
	}
	for k, w := range cases {
		e, rest, ok := tbl.lookup("/apis/" + k.gv + k.path)
		if !ok {
			t.Errorf("%s %s%s: no entry", k.method, k.gv, k.path)
			continue
		}
		tg, herr := e.match(k.method, rest)
		var got want
		if herr != nil {
			got = want{code: herr.code, allow: herr.allow}
		} else {
			got = want{typ: tg.svc.Type, ns: tg.ns, uid: tg.uid, sub: tg.sub, action: tg.action}
			if (tg.svc.Type == v0alpha1.DataPlaneServiceServiceTypeRoute) != (tg.route != nil) {
				t.Errorf("%s %s%s: type %s with route %v", k.method, k.gv, k.path, tg.svc.typeName(), tg.route)
			}
		}
		if got != w {
			t.Errorf("%s %s%s = %+v, want %+v", k.method, k.gv, k.path, got, w)
		}
	}
}

// TestUpdateReusesEntries: an update keeps the entries of unchanged registrations as they
// are, compiles changed ones anew — a changed route, plugin or generation is never served from
// the old entry —, drops removed ones, reports problems only of what it compiled, and leaves
// the previous table as it was (requests in flight still use it).
func TestUpdateReusesEntries(t *testing.T) {
	reg := func(name, group, path string, gen int64) routes.Registration {
		return routes.Registration{Name: name, UID: "u-" + name, Generation: gen, PluginID: "p", PluginType: "datasource",
			Group: group, Version: "v1", Services: []v0alpha1.DataPlaneServiceService{
				{Type: v0alpha1.DataPlaneServiceServiceTypeQuery},
				routeSvc(v0alpha1.DataPlaneServiceServiceMethodGET, path),
			}}
	}
	bad := reg("bad", "bad.grafana.app", "/x/{path...}/y", 1) // a catch-all must come last
	prev, problems := new(table).update([]routes.Registration{
		reg("a", "a.grafana.app", "/a", 1), reg("b", "b.grafana.app", "/b", 1), reg("c", "c.grafana.app", "/c", 1), bad,
	}, nil)
	if len(problems) != 1 || prev.regs != 4 {
		t.Fatalf("problems = %v (want the bad route's), %d entries", problems, prev.regs)
	}
	changed := reg("b", "b.grafana.app", "/b2", 2)
	next, problems := prev.update([]routes.Registration{reg("a", "a.grafana.app", "/a", 1), changed},
		[]routes.GroupVersion{{Group: "c.grafana.app", Version: "v1"}})
	if len(problems) != 0 {
		t.Errorf("an update reported problems of entries it did not compile: %v", problems)
	}
	entry := func(tb *table, g string) *gvEntry { return tb.versions(g)["v1"] }
	if entry(next, "a.grafana.app") != entry(prev, "a.grafana.app") || entry(next, "bad.grafana.app") != entry(prev, "bad.grafana.app") {
		t.Error("an unchanged registration's entry was compiled again")
	}
	if entry(next, "b.grafana.app") == entry(prev, "b.grafana.app") {
		t.Fatal("a changed registration kept its old entry")
	}
	if _, herr := entry(next, "b.grafana.app").match("GET", "/b2"); herr != nil {
		t.Errorf("the changed route is not served: %v", herr)
	}
	if _, herr := entry(next, "b.grafana.app").match("GET", "/b"); herr == nil {
		t.Error("the old route of a changed registration is still served")
	}
	if entry(next, "c.grafana.app") != nil || next.regs != 3 {
		t.Errorf("a removed registration is still in the table (%d entries)", next.regs)
	}
	if entry(prev, "c.grafana.app") == nil || prev.regs != 4 {
		t.Error("the update changed the previous table")
	}
	if _, herr := entry(prev, "b.grafana.app").match("GET", "/b"); herr != nil {
		t.Errorf("the previous table no longer serves b's old route: %v", herr)
	}
}

// TestUpdateCopiesOnlyWhatChanges: shards an update does not touch are shared with the
// previous table, so a change to one of many registrations costs one shard.
func TestUpdateCopiesOnlyWhatChanges(t *testing.T) {
	var regs []routes.Registration
	for i := range 2000 {
		regs = append(regs, routes.Registration{Name: fmt.Sprintf("r%d", i), PluginID: "p", PluginType: "datasource",
			Group: fmt.Sprintf("g%d.grafana.app", i), Version: "v1"})
	}
	prev, _ := new(table).update(regs, nil)
	changed := regs[7]
	changed.Generation = 2
	next, _ := prev.update([]routes.Registration{changed}, nil)
	shared := 0
	for i := range next.shards {
		if reflect.ValueOf(next.shards[i]).UnsafePointer() == reflect.ValueOf(prev.shards[i]).UnsafePointer() {
			shared++
		}
	}
	if shared != tableShards-1 {
		t.Errorf("%d of %d shards shared after changing one registration, want all but one", shared, tableShards)
	}
	if next.versions(changed.Group)["v1"].src.Generation != 2 || prev.versions(changed.Group)["v1"].src.Generation != 0 {
		t.Error("the change is not in the new table only")
	}
}
