package dataplane

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

// svcType is the kind of data-plane request (also the metrics "type" label).
type svcType uint8

const (
	svcUnknown svcType = iota
	svcQuery
	svcHealth
	svcResource
	svcRoute
	svcStream
	svcMetrics
	svcAdmission
	svcConversion
	svcProxy
	svcDiscovery
	svcDatasources
	numSvc
)

var svcNames = [numSvc]string{"unknown", "query", "health", "resource", "route", "stream", "metrics",
	"admission", "conversion", "datasource-proxy", "discovery", "datasources"}

func (t svcType) String() string { return svcNames[t] }

// svcOf maps each declarable service type (routes.Services) to its handler's svcType; the
// other svcTypes (discovery, datasources) are the data plane's own.
var svcOf = func() map[routes.ServiceType]svcType {
	m := make(map[routes.ServiceType]svcType, len(routes.Services))
	for t := svcUnknown + 1; t < numSvc; t++ {
		if _, ok := routes.LookupService(routes.ServiceType(svcNames[t])); ok {
			m[routes.ServiceType(svcNames[t])] = t
		}
	}
	return m
}()

func svcFromSpec(t routes.ServiceType) svcType { return svcOf[t] }

// table is an immutable route snapshot.
type table struct {
	groups map[string]map[string]*gvEntry // group → version → entry
	regs   int
}

// gvEntry is everything served under /apis/{group}/{version}.
type gvEntry struct {
	group, version string
	gv             string // group/version
	name           string // DataPlaneService name
	pluginID       string
	isApp          bool
	has            [numSvc]bool
	routes         []*route
	// pre-rendered discovery document
	resourceList []byte
}

type segment struct {
	lit   string
	param bool
}

// route is a compiled "route" service entry.
type route struct {
	method   string // "" = any
	raw      string
	segs     []segment
	catchAll bool // last segment is {path...}
	literals int
}

// compileRoute compiles a custom route with the route grammar validation uses
// (routes.ParsePath).
func compileRoute(method, p string) (*route, error) {
	parsed, err := routes.ParsePath(p)
	if err != nil {
		return nil, err
	}
	r := &route{method: method, raw: p}
	for _, seg := range parsed {
		switch {
		case seg.CatchAll:
			r.catchAll = true
		case seg.Param != "":
			r.segs = append(r.segs, segment{param: true})
		default:
			r.segs = append(r.segs, segment{lit: seg.Literal})
			r.literals++
		}
	}
	return r, nil
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

// match reports whether rest (starting with "/") matches the route's path.
func (r *route) match(rest string) bool {
	p := rest
	for _, s := range r.segs {
		seg, next, ok := nextSeg(p)
		if !ok || seg == "" {
			return false
		}
		if !s.param && s.lit != seg {
			return false
		}
		p = next
	}
	if r.catchAll {
		return true
	}
	return p == "" || p == "/"
}

// compile builds a route table from the reconciler's registrations, which hold one winner
// per group/version (the reconciler alone resolves conflicts). What cannot be served — an
// incomplete registration, a second claim, a route path outside the grammar (stored before a
// stricter validation) — is left out and returned as a problem, never dropped silently.
func compile(regs []routes.Registration) (*table, []string) {
	t := &table{groups: map[string]map[string]*gvEntry{}}
	var problems []string
	for _, reg := range regs {
		if reg.Group == "" || reg.Version == "" || reg.PluginID == "" {
			problems = append(problems, fmt.Sprintf("%s: no group, version or plugin id", reg.Name))
			continue
		}
		versions := t.groups[reg.Group]
		if versions == nil {
			versions = map[string]*gvEntry{}
			t.groups[reg.Group] = versions
		}
		if prev, taken := versions[reg.Version]; taken {
			problems = append(problems, fmt.Sprintf("%s: %s/%s is already served for %s", reg.Name, reg.Group, reg.Version, prev.name))
			continue
		}
		e := &gvEntry{
			group: reg.Group, version: reg.Version, gv: reg.Group + "/" + reg.Version,
			name: reg.Name, pluginID: reg.PluginID, isApp: reg.PluginType == "app",
		}
		for _, s := range reg.Services {
			typ := svcFromSpec(s.Type)
			if typ == svcUnknown {
				continue
			}
			if typ == svcRoute {
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
				e.routes = append(e.routes, r)
			}
			e.has[typ] = true
		}
		// More specific routes first: more literal segments, then fixed length before catch-all.
		sort.SliceStable(e.routes, func(i, j int) bool {
			a, b := e.routes[i], e.routes[j]
			if a.literals != b.literals {
				return a.literals > b.literals
			}
			if a.catchAll != b.catchAll {
				return !a.catchAll
			}
			return len(a.segs) > len(b.segs)
		})
		e.resourceList = renderResourceList(e)
		versions[reg.Version] = e
		t.regs++
	}
	return t, problems
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
	versions := t.groups[g]
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
	typ   svcType
	ns    string
	uid   string
	sub   string // sub-path for resource/stream/proxy (no leading "/"); path for routes
	route *route
	// admission: "validate" or "mutate"; datasources: "list" or "get"
	action string
}

const (
	allowGet      = http.MethodGet
	allowPost     = http.MethodPost
	allowGetPost  = "GET, POST"
	anyMethodHint = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
)

// match resolves rest to a target. It returns an httpError for 404/405.
func (e *gvEntry) match(method, rest string) (target, *httpError) {
	var allow []string
	tg, al, found := e.matchBuiltin(method, rest)
	if found && al == "" {
		return tg, nil
	}
	if al != "" {
		allow = append(allow, al)
	}
	if e.has[svcRoute] {
		for _, r := range e.routes {
			if !r.match(rest) {
				continue
			}
			if r.method == "" || r.method == method || (method == http.MethodHead && r.method == http.MethodGet) {
				return routeTarget(r, rest), nil
			}
			allow = append(allow, r.method)
		}
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
	t := target{typ: svcRoute, route: r, sub: strings.TrimPrefix(rest, "/")}
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

// matchBuiltin matches the fixed per-type paths. When the path matches but the method does
// not, allow lists the allowed methods.
func (e *gvEntry) matchBuiltin(method, rest string) (t target, allow string, found bool) {
	check := func(tt target, allowed string) (target, string, bool) {
		switch allowed {
		case allowGet:
			if method == http.MethodGet || method == http.MethodHead {
				return tt, "", true
			}
		case allowPost:
			if method == http.MethodPost {
				return tt, "", true
			}
		case allowGetPost:
			if method == http.MethodGet || method == http.MethodHead || method == http.MethodPost {
				return tt, "", true
			}
		case "":
			return tt, "", true
		}
		return target{}, allowed, false
	}

	if rest == "" || rest == "/" {
		return check(target{typ: svcDiscovery}, allowGet)
	}
	s1, r1, _ := nextSeg(rest)
	switch s1 {
	case "metrics":
		if e.has[svcMetrics] && (r1 == "" || r1 == "/") {
			return check(target{typ: svcMetrics}, allowGet)
		}
		return
	case "conversion":
		if e.has[svcConversion] && (r1 == "" || r1 == "/") {
			return check(target{typ: svcConversion}, allowPost)
		}
		return
	case "admission":
		s2, r2, _ := nextSeg(r1)
		if e.has[svcAdmission] && (s2 == "validate" || s2 == "mutate") && (r2 == "" || r2 == "/") {
			return check(target{typ: svcAdmission, action: s2}, allowPost)
		}
		return
	case "namespaces":
	default:
		return
	}
	ns, r2, ok := nextSeg(r1)
	if !ok || ns == "" {
		return
	}
	kind, r3, _ := nextSeg(r2)
	if e.isApp {
		// /namespaces/{ns}/health | resource/{path...} | stream/{path...}
		switch kind {
		case "health":
			if e.has[svcHealth] && (r3 == "" || r3 == "/") {
				return check(target{typ: svcHealth, ns: ns}, allowGet)
			}
		case "resource":
			if e.has[svcResource] {
				return check(target{typ: svcResource, ns: ns, sub: strings.TrimPrefix(r3, "/")}, "")
			}
		case "stream":
			if e.has[svcStream] && len(r3) > 1 {
				return check(target{typ: svcStream, ns: ns, sub: r3[1:]}, allowGetPost)
			}
		}
		return
	}
	if kind != "datasources" && kind != "connections" {
		return
	}
	uid, r4, ok := nextSeg(r3)
	if !ok || uid == "" {
		if kind == "datasources" && (r3 == "" || r3 == "/") {
			return check(target{typ: svcDatasources, ns: ns, action: "list"}, allowGet)
		}
		return
	}
	sub, r5, ok := nextSeg(r4)
	if !ok || sub == "" {
		if kind == "datasources" && (r4 == "" || r4 == "/") {
			return check(target{typ: svcDatasources, ns: ns, uid: uid, action: "get"}, allowGet)
		}
		return
	}
	if kind == "connections" && sub != "query" {
		return
	}
	base := target{ns: ns, uid: uid}
	switch sub {
	case "query":
		if e.has[svcQuery] && (r5 == "" || r5 == "/") {
			base.typ = svcQuery
			return check(base, allowPost)
		}
	case "health":
		if e.has[svcHealth] && (r5 == "" || r5 == "/") {
			base.typ = svcHealth
			return check(base, allowGet)
		}
	case "resource":
		if e.has[svcResource] {
			base.typ, base.sub = svcResource, strings.TrimPrefix(r5, "/")
			return check(base, "")
		}
	case "stream":
		if e.has[svcStream] && len(r5) > 1 {
			base.typ, base.sub = svcStream, r5[1:]
			return check(base, allowGetPost)
		}
	case "proxy":
		if e.has[svcProxy] {
			base.typ, base.sub = svcProxy, strings.TrimPrefix(r5, "/")
			return check(base, "")
		}
	}
	return
}
