package dataplane

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
)

// TestMalformedRequestsNeverAskForThePlugin: for every type that takes a body or parameters
// (query, resource, route, stream publish and subscribe, admission, conversion), a malformed
// or oversized request is answered 400 or 413 before the plugin is asked for. Fetching a
// plugin may start it and starts the type's deadline, so a 400 must never depend on the
// plugin's state: here the provider reports the plugin as not running (a 503 if it were
// asked) and counts how often it is asked. The last case proves the provider is live: a
// well-formed query does ask it.
func TestMalformedRequestsNeverAskForThePlugin(t *testing.T) {
	var gets atomic.Int32
	e := newEnvWith(t, nil, func(o *Options) {
		o.MaxBodyBytes = 256
		o.Plugins = PluginProviderFunc(func(_ context.Context, id string) (*backendplugin.Client, error) {
			gets.Add(1)
			return nil, &backendplugin.UnavailableError{PluginID: id, RetryAfter: time.Second, Cause: errors.New("not running")}
		})
	})
	big := `{"x":"` + strings.Repeat("x", 300) + `"}`
	ds := func(rest string) string { return dsPath("/namespaces/default/datasources/ds1" + rest) }
	app := func(rest string) string { return "/apis/" + appGroup + "/v1/namespaces/default" + rest }
	for name, tc := range map[string]struct {
		method, path, body string
		code               int
		msg                string
		admin              bool // the custom route is outside a namespace: a server admin's
	}{
		"query: not JSON":              {http.MethodPost, ds("/query"), `{"queries":`, 400, "invalid query body", false},
		"query: empty":                 {http.MethodPost, ds("/query"), "", 400, "request body is empty", false},
		"query: no queries":            {http.MethodPost, ds("/query"), `{"queries":[]}`, 400, "no queries", false},
		"query: bad time range":        {http.MethodPost, ds("/query"), `{"from":"yesterday-ish","queries":[{"refId":"A"}]}`, 400, "invalid from", false},
		"query: another datasource":    {http.MethodPost, ds("/query"), `{"queries":[{"refId":"A","datasource":{"uid":"other"}}]}`, 400, "does not match", false},
		"query: too large":             {http.MethodPost, ds("/query"), big, 413, "", false},
		"resource: too large":          {http.MethodPost, ds("/resource/x"), big, 413, "", false},
		"app resource: too large":      {http.MethodPut, app("/resource/x"), big, 413, "", false},
		"route: too large":             {http.MethodPost, dsPath("/hooks/a"), big, 413, "", true},
		"stream publish: too large":    {http.MethodPost, ds("/stream/ch"), big, 413, "", false},
		"stream subscribe: bad data":   {http.MethodGet, ds("/stream/ch?data=%7B"), "", 400, "subscription data must be JSON", false},
		"admission: no request":        {http.MethodPost, dsPath("/admission/validate"), `{}`, 400, "request is missing", false},
		"admission: not JSON":          {http.MethodPost, dsPath("/admission/mutate"), `{`, 400, "invalid AdmissionReview", false},
		"conversion: no request":       {http.MethodPost, dsPath("/conversion"), `{}`, 400, "request is missing", false},
		"conversion: no version":       {http.MethodPost, dsPath("/conversion"), `{"request":{"uid":"u","desiredAPIVersion":"g/"}}`, 400, "desiredAPIVersion", false},
		"conversion: too large":        {http.MethodPost, dsPath("/conversion"), big, 413, "", false},
		"admission: unknown operation": {http.MethodPost, dsPath("/admission/validate"), `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"version":"v1","kind":"X"},"operation":"CONNECT"}}`, 200, "", false},
	} {
		t.Run(name, func(t *testing.T) {
			before := gets.Load()
			var hdr []string
			if tc.admin {
				hdr = []string{"X-Test-Server-Admin", "1"}
			}
			r := e.do(tc.method, tc.path, tc.body, hdr...)
			if tc.code == http.StatusOK {
				// A CONNECT review is refused in the review itself (webhooks answer 200).
				if r.code != http.StatusOK || !strings.Contains(string(r.body), `"allowed":false`) {
					t.Fatalf("HTTP %d: %s", r.code, r.body)
				}
			} else {
				expectStatus(t, r, tc.code, tc.msg)
			}
			if n := gets.Load() - before; n != 0 {
				t.Errorf("the plugin provider was asked %d times for a request that never reaches the plugin", n)
			}
		})
	}
	t.Run("well-formed query asks for the plugin", func(t *testing.T) {
		before := gets.Load()
		expectStatus(t, e.do(http.MethodPost, ds("/query"), `{"queries":[{"refId":"A"}]}`), http.StatusServiceUnavailable, "")
		if n := gets.Load() - before; n != 1 {
			t.Errorf("the provider was asked %d times, want 1", n)
		}
	})
}
