package dataplane

import (
	"fmt"
	"hash/maphash"
	"maps"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

// service is a service type as the data plane serves it: its row in pkg/routes (everything
// that differs by type: endpoints, plugin service, timeout key, access, verb, discovery), its
// handler (handlers) and its built-in endpoints compiled once, shared by every entry.
type service struct {
	*routes.Service
	handler serviceHandler
	// index is the type's position in the catalog (Handler.timeouts, gvEntry.has).
	index int
	// builtin are the compiled endpoints per plugin type (0: datasource, 1: app).
	builtin [2][]*route
}

// catalogue is every service type the data plane serves, in the order built-in endpoints
// are matched in: dpa's own (routes.Own), then the declared ones (routes.Services).
type catalogue struct {
	list   []*service
	byType map[routes.ServiceType]*service
}

// catalog is built on first use, once every handler file's init has registered its handler.
// A row without a handler is not served (TestEveryServiceTypeHasAHandler fails for it).
var catalog = sync.OnceValue(func() *catalogue {
	c := &catalogue{byType: map[routes.ServiceType]*service{}}
	for _, list := range [][]routes.Service{routes.Own, routes.Services} {
		for i := range list {
			row := &list[i]
			hd, ok := handlers[row.Type]
			if !ok {
				continue
			}
			svc := &service{Service: row, handler: hd, index: len(c.list)}
			for _, ep := range row.Endpoints {
				r, err := compilePattern(ep.Methods, ep.Path)
				if err != nil {
					panic(fmt.Sprintf("routes: endpoint %s %q: %v", row.Type, ep.Path, err))
				}
				r.svc, r.action, r.pathRequired = svc, ep.Action, ep.PathRequired
				pt := pluginTypeIndex(ep.PluginType)
				svc.builtin[pt] = append(svc.builtin[pt], r)
			}
			c.list = append(c.list, svc)
			c.byType[row.Type] = svc
		}
	}
	return c
})

// typeName is the metrics and log name of a call's type ("unknown": no route matched).
func (s *service) typeName() string {
	if s == nil {
		return "unknown"
	}
	return string(s.Type)
}

// tableShards splits the route table by the hash of the group, so that an update copies only
// the shards it touches: a change to one of 10,000 registrations copies ~40 map entries, not
// 10,000, and a start-up that publishes thousands of times stays O(objects).
const tableShards = 256

// table is an immutable route snapshot: group → version → entry, sharded by group.
type table struct {
	shards [tableShards]map[string]map[string]*gvEntry
	regs   int
}

var shardSeed = maphash.MakeSeed()

func shardOf(group string) int { return int(maphash.String(shardSeed, group) % tableShards) }

// versions returns group's entries by version (nil: the group is not served).
func (t *table) versions(group string) map[string]*gvEntry {
	return t.shards[shardOf(group)][group]
}

// groups calls f for every served group, in no particular order.
func (t *table) groups(f func(group string, versions map[string]*gvEntry)) {
	for _, shard := range t.shards {
		for g, vs := range shard {
			f(g, vs)
		}
	}
}

// gvEntry is everything served under /apis/{group}/{version}.
type gvEntry struct {
	group, version string
	gv             string // group/version
	name           string // DataPlaneService name
	pluginID       string
	isApp          bool
	// has marks the types the entry serves, by catalog index.
	has []bool
	// routes are matched in order: the built-in endpoints of the declared types (shared
	// between entries), then the custom routes, most specific first.
	routes []*route
	// pre-rendered discovery document
	resourceList []byte
	// src is the registration the entry was compiled from: update keeps the entry while the
	// registration stays the same.
	src routes.Registration
}

// capture is what a built-in endpoint's placeholder fills in.
type capture uint8

const (
	captureNone capture = iota
	captureNamespace
	captureUID
)

type segment struct {
	lit     string
	param   bool
	capture capture
}

// route is one compiled pattern of the route grammar (routes.ParsePath): a built-in endpoint
// of a service type or a custom route of the spec.
type route struct {
	svc      *service
	methods  []string // nil: any
	allow    string   // methods as in an Allow header
	raw      string
	segs     []segment
	catchAll bool // last segment is {path...}
	literals int
	// built-in endpoints only (custom == false)
	custom       bool
	action       string
	pathRequired bool
}

// captures are the placeholders whose values a built-in endpoint's call needs.
var captures = map[string]capture{"namespace": captureNamespace, "uid": captureUID}

// compilePattern compiles a path of the route grammar. (Custom routes derive namespace and
// uid from their path in routeTarget; the captures only matter for built-in endpoints.)
func compilePattern(methods []string, p string) (*route, error) {
	parsed, err := routes.ParsePath(p)
	if err != nil {
		return nil, err
	}
	r := &route{methods: methods, allow: strings.Join(methods, ", "), raw: p}
	for _, seg := range parsed {
		switch {
		case seg.CatchAll:
			r.catchAll = true
		case seg.Param != "":
			r.segs = append(r.segs, segment{param: true, capture: captures[seg.Param]})
		default:
			r.segs = append(r.segs, segment{lit: seg.Literal})
			r.literals++
		}
	}
	return r, nil
}

// compileRoute compiles a custom route. method "" allows any method.
func compileRoute(method, p string) (*route, error) {
	var methods []string
	if method != "" {
		methods = []string{method}
	}
	r, err := compilePattern(methods, p)
	if err != nil {
		return nil, err
	}
	r.svc, r.custom = catalog().byType[v0alpha1.DataPlaneServiceServiceTypeRoute], true
	return r, nil
}

func pluginTypeIndex(pluginType string) int {
	if pluginType == routes.PluginTypeApp {
		return 1
	}
	return 0
}

// nextSeg splits "/a/b/c" into "a" and "/b/c". ok is false at the end.
func nextSeg(p string) (seg, rest string, ok bool) {
	if len(p) == 0 || p[0] != '/' {
		return "", "", false
	}
	p = p[1:]
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i], p[i:], true
	}
	return p, "", true
}

// splitPath appends each "/"-separated segment of rest (empty or starting with "/") and its
// offset in rest to segs and offs. A trailing "/" gives a last empty segment.
func splitPath(rest string, segs []string, offs []int) ([]string, []int) {
	if rest == "" {
		return segs, offs
	}
	for i := 1; ; {
		j := strings.IndexByte(rest[i:], '/')
		if j < 0 {
			return append(segs, rest[i:]), append(offs, i)
		}
		segs, offs = append(segs, rest[i:i+j]), append(offs, i)
		i += j + 1
	}
}

// match reports whether rest (starting with "/", or empty) matches the route's path.
func (r *route) match(rest string) (ns, uid, sub string, ok bool) {
	var segBuf [16]string
	var offBuf [16]int
	segs, offs := splitPath(rest, segBuf[:0], offBuf[:0])
	return r.matchSplit(rest, segs, offs)
}

// matchSplit matches rest, split by splitPath. Every segment a pattern segment matches must
// be non-empty; a trailing "/" is allowed. For a built-in endpoint it returns the namespace,
// the uid and the sub-path from the catch-all's start (raw, without its leading "/").
func (r *route) matchSplit(rest string, segs []string, offs []int) (ns, uid, sub string, ok bool) {
	k, n := len(r.segs), len(segs)
	if n < k || (!r.catchAll && n != k && (n != k+1 || segs[k] != "")) {
		return "", "", "", false
	}
	for i, s := range r.segs {
		seg := segs[i]
		switch {
		case seg == "":
			return "", "", "", false
		case !s.param:
			if s.lit != seg {
				return "", "", "", false
			}
		case s.capture == captureNamespace:
			ns = seg
		case s.capture == captureUID:
			uid = seg
		}
	}
	if r.catchAll {
		if n > k {
			sub = rest[offs[k]:]
		}
		return ns, uid, sub, !r.pathRequired || sub != ""
	}
	return ns, uid, "", true
}

// allows reports whether the route serves method (GET also answers HEAD).
func (r *route) allows(method string) bool {
	if r.methods == nil {
		return true
	}
	for _, m := range r.methods {
		if m == method || (method == http.MethodHead && m == http.MethodGet) {
			return true
		}
	}
	return false
}

// update returns a new table: t with set applied (each registration replaces what its
// group/version had) and removed left out; t itself never changes. The reconciler sends one
// winner per group/version (it alone resolves conflicts). What cannot be served — an
// incomplete registration, a second claim in one update, a route path outside the grammar
// (stored before a stricter validation) — is left out (or served without that route) and
// returned as a problem, never dropped silently.
//
// An entry whose registration is unchanged is kept as it is (entries are immutable), and only
// the shards that change are copied, so an update costs what changed, not what is served.
func (t *table) update(set []routes.Registration, removed []routes.GroupVersion) (*table, []string) {
	next := &table{shards: t.shards, regs: t.regs}
	var copied [tableShards]bool
	// groupFor returns a copy of group's versions in next, its shard copied first.
	groupFor := func(group string) map[string]*gvEntry {
		i := shardOf(group)
		if !copied[i] {
			next.shards[i] = maps.Clone(t.shards[i])
			if next.shards[i] == nil {
				next.shards[i] = map[string]map[string]*gvEntry{}
			}
			copied[i] = true
		}
		versions := maps.Clone(next.shards[i][group])
		if versions == nil {
			versions = map[string]*gvEntry{}
		}
		next.shards[i][group] = versions
		return versions
	}
	for _, gv := range removed {
		if next.versions(gv.Group)[gv.Version] == nil {
			continue
		}
		versions := groupFor(gv.Group)
		delete(versions, gv.Version)
		if len(versions) == 0 {
			delete(next.shards[shardOf(gv.Group)], gv.Group)
		}
		next.regs--
	}
	var problems []string
	done := make(map[routes.GroupVersion]string, len(set))
	for _, reg := range set {
		if reg.Group == "" || reg.Version == "" || reg.PluginID == "" {
			problems = append(problems, fmt.Sprintf("%s: no group, version or plugin id", reg.Name))
			continue
		}
		if other, twice := done[reg.GroupVersion()]; twice {
			problems = append(problems, fmt.Sprintf("%s: %s/%s is already served for %s", reg.Name, reg.Group, reg.Version, other))
			continue
		}
		done[reg.GroupVersion()] = reg.Name
		old := next.versions(reg.Group)[reg.Version]
		if old != nil && old.src.Equal(reg) {
			continue
		}
		e, ps := compileEntry(reg)
		problems = append(problems, ps...)
		groupFor(reg.Group)[reg.Version] = e
		if old == nil {
			next.regs++
		}
	}
	return next, problems
}

// compileEntry compiles what one registration serves.
func compileEntry(reg routes.Registration) (*gvEntry, []string) {
	e := &gvEntry{
		group: reg.Group, version: reg.Version, gv: reg.Group + "/" + reg.Version,
		name: reg.Name, pluginID: reg.PluginID, isApp: reg.PluginType == routes.PluginTypeApp,
		src: reg,
	}
	var problems []string
	var custom []*route
	cat := catalog()
	e.has = make([]bool, len(cat.list))
	for _, s := range reg.Services {
		svc := cat.byType[s.Type]
		if _, declarable := routes.LookupService(s.Type); svc == nil || !declarable {
			continue
		}
		if s.Type == v0alpha1.DataPlaneServiceServiceTypeRoute {
			method := ""
			if s.Method != nil {
				method = strings.ToUpper(string(*s.Method))
			}
			if s.Path == nil {
				problems = append(problems, fmt.Sprintf("%s: a route without a path", reg.Name))
				continue
			}
			r, err := compileRoute(method, *s.Path)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: route %q: %v", reg.Name, *s.Path, err))
				continue
			}
			custom = append(custom, r)
		}
		e.has[svc.index] = true
	}
	for _, svc := range cat.list {
		if e.has[svc.index] || isOwn(svc.Type) {
			e.has[svc.index] = true
			e.routes = append(e.routes, svc.builtin[pluginTypeIndex(reg.PluginType)]...)
		}
	}
	// More specific custom routes first: more literal segments, then fixed length before
	// catch-all.
	sort.SliceStable(custom, func(i, j int) bool {
		a, b := custom[i], custom[j]
		if a.literals != b.literals {
			return a.literals > b.literals
		}
		if a.catchAll != b.catchAll {
			return !a.catchAll
		}
		return len(a.segs) > len(b.segs)
	})
	e.routes = append(e.routes, custom...)
	e.resourceList = renderResourceList(e)
	return e, problems
}

// lookup finds the entry for a request path. rest is the remainder after /apis/{g}/{v}.
func (t *table) lookup(path string) (e *gvEntry, rest string, ok bool) {
	const prefix = "/apis/"
	if !strings.HasPrefix(path, prefix) {
		return nil, "", false
	}
	p := path[len(prefix)-1:]
	g, p, ok := nextSeg(p)
	if !ok {
		return nil, "", false
	}
	versions := t.versions(g)
	if versions == nil {
		return nil, "", false
	}
	v, p, ok := nextSeg(p)
	if !ok {
		return nil, "", false
	}
	e = versions[v]
	if e == nil {
		return nil, "", false
	}
	return e, p, true
}

// target is a matched request.
type target struct {
	svc   *service
	ns    string
	uid   string
	sub   string // sub-path for resource/stream/proxy (no leading "/"); path for routes
	route *route
	// admission: "validate" or "mutate"; datasources: "list" or "get"
	action string
}

// match resolves rest to a target. It returns an httpError for 404/405.
func (e *gvEntry) match(method, rest string) (target, *httpError) {
	var segBuf [16]string
	var offBuf [16]int
	segs, offs := splitPath(rest, segBuf[:0], offBuf[:0])
	var allow []string
	for _, r := range e.routes {
		ns, uid, sub, ok := r.matchSplit(rest, segs, offs)
		if !ok {
			continue
		}
		if !r.allows(method) {
			allow = append(allow, r.allow)
			continue
		}
		if r.custom {
			return routeTarget(r, rest), nil
		}
		return target{svc: r.svc, ns: ns, uid: uid, sub: sub, action: r.action}, nil
	}
	if len(allow) > 0 {
		return target{}, errMethod(method, dedupJoin(allow))
	}
	return target{}, errNotFound("the server could not find the requested resource %q in %s", rest, e.gv)
}

// routeTarget builds the call of a custom route. A route under /namespaces/{ns} gets that
// namespace's settings; one under /namespaces/{ns}/datasources/{uid} (or connections) also
// gets that datasource's instance settings, and the plugin receives the path after the uid,
// like a resource call. Other routes pass their whole path to the plugin.
func routeTarget(r *route, rest string) target {
	t := target{svc: r.svc, route: r, sub: strings.TrimPrefix(rest, "/")}
	seg, next, ok := nextSeg(rest)
	if !ok || seg != "namespaces" {
		return t
	}
	t.ns, next, _ = nextSeg(next)
	if kind, after, ok := nextSeg(next); ok && (kind == "datasources" || kind == "connections") {
		if uid, remainder, ok := nextSeg(after); ok && uid != "" {
			t.uid = uid
			t.sub = strings.TrimPrefix(remainder, "/")
		}
	}
	return t
}

// isOwn reports whether t is one of dpa's own types (routes.Own), served for every
// registration without being declared.
func isOwn(t routes.ServiceType) bool {
	for _, s := range routes.Own {
		if s.Type == t {
			return true
		}
	}
	return false
}

func dedupJoin(ms []string) string {
	seen := map[string]bool{}
	var out []string
	for _, m := range ms {
		for _, p := range strings.Split(m, ", ") {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return strings.Join(out, ", ")
}
