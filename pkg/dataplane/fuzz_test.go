package dataplane

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend/gtime"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

// The fuzz tests run their seed corpus (f.Add and testdata/fuzz/<name>) in every `go test`;
// `make test` fuzzes each for a few seconds, `make fuzz` longer.

// FuzzMatch: any method, path and custom route pattern compiles or is reported, and matching
// never panics, answers only 404/405 (405 with an Allow), and a match's sub-path is the
// request path's tail.
func FuzzMatch(f *testing.F) {
	for _, s := range [][3]string{
		{"GET", "/namespaces/default/datasources/u1/resource/a/b", "/namespaces/{ns}/things/{name}"},
		{"POST", "/namespaces/default/datasources/u1/query", "/hooks/{path...}"},
		{"PUT", "/namespaces/default/datasources/u1/stream/", "/a/{x}/c"},
		{"HEAD", "//", "/"},
		{"DELETE", "/admission/mutate/", "/admission/{x}"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, method, path, pattern string) {
		regs := []routes.Registration{{Name: "x", PluginID: "p", PluginType: "datasource", Group: "g", Version: "v1",
			Services: allServices(routeSvc("", pattern))}}
		tbl, problems := new(table).update(regs, nil)
		e := tbl.versions("g")["v1"]
		if e == nil {
			t.Fatalf("entry dropped: %v", problems)
		}
		rest := path
		if rest != "" && !strings.HasPrefix(rest, "/") {
			rest = "/" + rest
		}
		tg, herr := e.match(method, rest)
		if herr != nil {
			if herr.code != http.StatusNotFound && herr.code != http.StatusMethodNotAllowed {
				t.Fatalf("%s %q: %d", method, rest, herr.code)
			}
			if herr.code == http.StatusMethodNotAllowed && herr.allow == "" {
				t.Fatalf("405 without Allow for %s %q", method, rest)
			}
			return
		}
		if tg.sub != "" && !strings.HasSuffix(rest, tg.sub) {
			t.Fatalf("sub %q is not a tail of %q", tg.sub, rest)
		}
		if (tg.svc.Type == v0alpha1.DataPlaneServiceServiceTypeRoute) != (tg.route != nil) {
			t.Fatalf("type %s with route %v", tg.svc.typeName(), tg.route)
		}
	})
}

// fuzzServe sends method, path and body through the handler (with the in-process test plugin)
// and fails on any 5xx: malformed input is the client's error.
func fuzzServe(t *testing.T, e *env, method, path string, body []byte, hdr ...string) {
	t.Helper()
	r := e.do(method, path, body, hdr...)
	if r.code >= 500 {
		t.Fatalf("%s %s with %q: %d %s", method, path, body, r.code, r.body)
	}
}

// FuzzQueryBody: any query body is answered, never with a 5xx from dpa.
func FuzzQueryBody(f *testing.F) {
	for _, s := range []string{
		`{"queries":[{"refId":"A"}]}`,
		`{"from":"now-1h","to":"now","queries":[{"refId":"A","scenario":"table"},{"refId":"B","timeRange":{"from":"0","to":"1"}}]}`,
		"{\"queries\":[{\"refId\":\"\xff\"}]}",
		`{"queries":[{"refId":"A","datasource":{"uid":"other"}}]}`,
		`{"queries":`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		e.t = t
		fuzzServe(t, e, "POST", dsPath("/namespaces/default/datasources/ds1/query"), body)
	})
}

// FuzzAdmissionBody: any AdmissionReview body is answered, never with a 5xx.
func FuzzAdmissionBody(f *testing.F) {
	for _, s := range []string{
		admissionReview("CREATE", "u1", `{"apiVersion":"g/v1","kind":"Thing","metadata":{"name":"a"}}`, ""),
		admissionReview("UPDATE", "u2", `{"spec":{"x":1}}`, `{"spec":{"x":0}}`),
		admissionReview("CONNECT", "u3", `{}`, ""),
		"{\"request\":{\"uid\":\"\xff\",\"operation\":\"CREATE\",\"kind\":{\"group\":\"grafana-plugin-sdk-go\",\"kind\":\"DataSourceInstanceSettings\"},\"object\":{\"url\":1}}}",
		`{"request":null}`, `{`,
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		e.t = t
		fuzzServe(t, e, "POST", dsPath("/admission/validate"), body)
	})
}

// FuzzConversionBody: any ConversionReview body is answered, never with a 5xx.
func FuzzConversionBody(f *testing.F) {
	for _, s := range []string{
		`{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview","request":{"uid":"c1","desiredAPIVersion":"g/v2","objects":[{"apiVersion":"g/v1","kind":"Thing"}]}}`,
		"{\"request\":{\"uid\":\"\xfe\",\"desiredAPIVersion\":\"g/v2\",\"objects\":[]}}",
		`{"request":{"desiredAPIVersion":"/"}}`, `null`,
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		e.t = t
		fuzzServe(t, e, "POST", dsPath("/conversion"), body)
	})
}

// FuzzRelativeTime: whatever relativeTime evaluates, it evaluates to the instant gtime
// gives, as from (rounded down) and as to (rounded up).
func FuzzRelativeTime(f *testing.F) {
	for _, s := range []string{"now", "now-1h", "now-15m", "now-30s", "now-01h", "now-0m", "now-999999h",
		"now-1d", "now-1h/h", "now-", "now-h", "now+1h", "now-1H", "now-1.5h", "now--1h", "now-1h "} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 29, 1, 30, 15, 123456789, time.FixedZone("x", 3600))
	f.Fuzz(func(t *testing.T, s string) {
		checkRelativeTime(t, s, now)
	})
}

func checkRelativeTime(t *testing.T, s string, now time.Time) (ok bool) {
	t.Helper()
	got, ok := relativeTime(s, now)
	if !ok {
		return false
	}
	tr := gtime.TimeRange{From: s, To: s, Now: now}
	from, err := tr.ParseFrom()
	if err != nil {
		t.Fatalf("%q: relativeTime evaluates what gtime rejects: %v", s, err)
	}
	to, err := tr.ParseTo()
	if err != nil {
		t.Fatalf("%q: relativeTime evaluates what gtime rejects as to: %v", s, err)
	}
	if !got.Equal(from) || !got.Equal(to) {
		t.Fatalf("%q: relativeTime %v, gtime from %v, to %v", s, got, from, to)
	}
	return true
}
