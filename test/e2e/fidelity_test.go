package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The plugin contract across plugin SDK generations: the example datasource (the project's
// SDK, v0.298) and the compat datasource (SDK v0.164: instances cached by settings ID only,
// Arrow frames only, no streams or admission, reflection v1alpha only) answer the same
// checks through dpa.

const compatGroup = "compat.datasource.grafana.app"

// sdkBuild is one build of a datasource under test.
// uid is the same in org 1 and org 2 (uids are unique per org across plugins).
type sdkBuild struct {
	name, pluginID, base, uid string
}

func (p sdkBuild) ds(ns string) string { return p.base + "/namespaces/" + ns + "/datasources/" + p.uid }

var sdkBuilds = []sdkBuild{
	{"sdk v0.298", "example-datasource", dsBase, "shared"},
	{"sdk v0.164", "compat-datasource", "/apis/" + compatGroup + "/v0alpha1", "shared-compat"},
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// identityYAML provisions each plugin's uid in org 1 (a live URL) and org 2 (url2), each
// with its own apiKey. Org 2's health fails unless url2 is live: the compat plugin fetches
// its URL, the example datasource fails with jsonData.failHealth.
func identityYAML(live, url2 string) string {
	var b strings.Builder
	b.WriteString("apiVersion: 1\ndatasources:\n")
	for _, p := range sdkBuilds {
		fmt.Fprintf(&b, `  - {name: %[1]s one, type: %[1]s, uid: %[4]s, orgId: 1, url: %[2]q, secureJsonData: {apiKey: %[1]s-org1-key}}
  - {name: %[1]s two, type: %[1]s, uid: %[4]s, orgId: 2, url: %[3]q, jsonData: {failHealth: %[5]t}, secureJsonData: {apiKey: %[1]s-org2-key}}
`, p.pluginID, live, url2, p.uid, url2 != live)
	}
	return b.String()
}

type instanceSettings struct {
	ID     int64  `json:"id"`
	UID    string `json:"uid"`
	URL    string `json:"url"`
	APIKey string `json:"apiKeySha256"`
}

func TestPluginContractAcrossSDKs(t *testing.T) {
	plugins := examplePlugins(t)
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	t.Cleanup(live.Close)
	dead := fmt.Sprintf("http://127.0.0.1:%d", freePort(t)) // nothing listens there

	prov := t.TempDir()
	writeProvisioning(t, prov, identityYAML(live.URL, dead), "")
	d := startServer(t, "", "--plugins-dir", plugins, "--provisioning", prov, "--log-level", "info",
		"--app-url", "https://grafana.example/", "--grafana-config", "GF_CONCURRENT_QUERY_COUNT=4")
	d.kc(t, "apply", "-f", filepath.Join(repo, "examples", "dataplaneservices", "example-datasource.yaml"))
	d.kc(t, "apply", "-f", writeFile(t, t.TempDir(), "compat.yaml", dpsYAML("compat-datasource", compatGroup, "v0alpha1",
		"  - type: query\n  - type: health\n  - type: resource\n")))
	d.kc(t, "wait", "--for=condition=Available", "dataplaneservice/example-datasource", "dataplaneservice/compat-datasource", "--timeout=60s")

	instance := func(t *testing.T, p sdkBuild, ns string) instanceSettings {
		t.Helper()
		_, b := d.want(t, 200, "GET", p.ds(ns)+"/resource/instance", nil)
		var s instanceSettings
		mustJSON(t, b, &s)
		return s
	}
	// health is the datasource's HealthCheckResult: 200 when it is OK, 400 otherwise (as
	// Grafana's health subresource answers).
	health := func(t *testing.T, p sdkBuild, ns string) (string, string) {
		t.Helper()
		resp, b := d.call(t, "GET", p.ds(ns)+"/health", nil)
		var h struct{ Kind, Status, Message string }
		mustJSON(t, b, &h)
		if h.Kind != "HealthCheckResult" || (resp.StatusCode == 200) != (h.Status == "OK") || (resp.StatusCode != 200 && resp.StatusCode != 400) {
			t.Errorf("%s health: %d %s", ns, resp.StatusCode, b)
		}
		return h.Status, h.Message
	}

	// Each datasource is served by its own instance with its own settings and secrets, in
	// whatever order they are called: org 2 first, then org 1, then org 2 again.
	checkIdentity := func(t *testing.T, url2 string) {
		for _, p := range sdkBuilds {
			t.Run(p.name, func(t *testing.T) {
				want := map[string]instanceSettings{
					"org-2":   {UID: p.uid, URL: url2, APIKey: sha(p.pluginID + "-org2-key")},
					"default": {UID: p.uid, URL: live.URL, APIKey: sha(p.pluginID + "-org1-key")},
				}
				ids := map[int64]string{}
				for _, ns := range []string{"org-2", "default", "org-2"} {
					got := instance(t, p, ns)
					w := want[ns]
					if got.UID != w.UID || got.URL != w.URL || got.APIKey != w.APIKey {
						t.Errorf("%s: the call ran on an instance with url %s, key %.8s…; want url %s, key %.8s…", ns, got.URL, got.APIKey, w.URL, w.APIKey)
					}
					if got.ID == 0 {
						t.Errorf("%s: the plugin got settings id 0", ns)
					}
					if prev, ok := ids[got.ID]; ok && prev != ns {
						t.Errorf("%s and %s share settings id %d", prev, ns, got.ID)
					}
					ids[got.ID] = ns
				}
				// Health runs on the datasource's own instance: the one whose URL is dead fails
				// even right after the healthy one was checked.
				for _, ns := range []string{"default", "org-2", "default"} {
					st, msg := health(t, p, ns)
					wantOK := ns == "default" || url2 == live.URL
					if (st == "OK") != wantOK {
						t.Errorf("%s health = %s %q, want OK=%v", ns, st, msg, wantOK)
					}
				}
			})
		}
	}
	t.Run("instance per datasource", func(t *testing.T) { checkIdentity(t, dead) })

	// The PluginContext as Grafana fills it, read back through the SDK's own accessors.
	t.Run("plugin context", func(t *testing.T) {
		_, b := d.want(t, 200, "GET", sdkBuilds[0].ds("org-2")+"/resource/echo", nil)
		var echo struct {
			OrgID                int64  `json:"orgId"`
			PluginVersion        string `json:"pluginVersion"`
			AppURL               string `json:"appUrl"`
			ConcurrentQueryCount int    `json:"concurrentQueryCount"`
			User                 struct{ Login, Role string }
		}
		mustJSON(t, b, &echo)
		if echo.OrgID != 2 || echo.PluginVersion != "1.0.0" || echo.AppURL != "https://grafana.example/" ||
			echo.ConcurrentQueryCount != 4 || echo.User.Login != "admin" || echo.User.Role != "Admin" {
			t.Errorf("plugin context: %s", b)
		}
	})

	// A reload that changes org 2's datasources reaches their instances, and only theirs.
	writeProvisioning(t, prov, identityYAML(live.URL, live.URL), "")
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the reload to reach org 2's instance", func() (bool, string) {
		got := instance(t, sdkBuilds[1], "org-2")
		return got.URL == live.URL, got.URL
	})
	t.Run("instance per datasource after reload", func(t *testing.T) { checkIdentity(t, live.URL) })

	t.Run("empty results", func(t *testing.T) {
		for _, p := range sdkBuilds {
			t.Run(p.name, func(t *testing.T) {
				body := map[string]any{"queries": []map[string]any{
					{"refId": "E", "scenario": "empty"}, {"refId": "N", "scenario": "nofields"}, {"refId": "T", "scenario": "table"},
				}}
				_, b := d.want(t, 200, "POST", p.ds("default")+"/query", body)
				var r struct {
					Results map[string]struct {
						Status int               `json:"status"`
						Frames []json.RawMessage `json:"frames"`
						Error  string            `json:"error"`
					} `json:"results"`
				}
				mustJSON(t, b, &r)
				for _, ref := range []string{"E", "N", "T"} {
					res := r.Results[ref]
					if res.Status != 200 || res.Error != "" || len(res.Frames) == 0 {
						t.Errorf("%s: %+v (%s)", ref, res, b)
					}
				}
				if !strings.Contains(string(r.Results["E"].Frames[0]), `"values":[[],[]]`) {
					t.Errorf("empty frame E: %s", r.Results["E"].Frames[0])
				}
			})
		}
	})

	t.Run("services learned over reflection v1alpha", func(t *testing.T) {
		if strings.Contains(d.log.String(), "cannot learn which plugin services") {
			t.Errorf("dpa could not learn a plugin's services:\n%s", d.log.String())
		}
	})

	// A declared service the plugin registers but does not implement: 501 NotImplemented,
	// then Available=False naming every such service.
	t.Run("declared but unimplemented", func(t *testing.T) {
		d.kc(t, "apply", "-f", writeFile(t, t.TempDir(), "compat.yaml", dpsYAML("compat-datasource", compatGroup, "v0alpha1",
			"  - type: query\n  - type: health\n  - type: resource\n  - type: stream\n  - type: admission\n")))
		// The route goes live when the reconciler sees the update (404 until then).
		stream := sdkBuilds[1].ds("default") + "/stream/live"
		eventually(t, 20*time.Second, "the stream route", func() (bool, string) {
			resp, b := d.call(t, "GET", stream, nil)
			return resp.StatusCode != 404, fmt.Sprintf("%d %s", resp.StatusCode, b)
		})
		_, st := d.wantStatus(t, 501, "GET", stream, nil, "compat-datasource does not implement")
		if st.Reason != "NotImplemented" {
			t.Errorf("reason = %q, want NotImplemented", st.Reason)
		}
		eventually(t, 20*time.Second, "Available=False naming stream", func() (bool, string) {
			o := getObject(t, d, "compat-datasource")
			c := cond(o, "Available")
			if c == nil {
				return false, "no Available condition"
			}
			// admission was never called: only reflection (v1alpha for this plugin) tells
			// that the process does not serve it.
			return c.Status == "False" && c.Reason == "ServiceUnsupported" &&
				strings.Contains(c.Message, "stream (pluginv2.Stream)") &&
				strings.Contains(c.Message, "admission (pluginv2.AdmissionControl)"), c.Reason + ": " + c.Message
		})
	})

	// Secrets never leave: not in any response, not in the log.
	t.Cleanup(func() {
		logs := d.log.String()
		for _, p := range sdkBuilds {
			for _, s := range []string{p.pluginID + "-org1-key", p.pluginID + "-org2-key"} {
				if strings.Contains(logs, s) {
					t.Errorf("secret %q in dpa's log", s)
				}
				d.mu.Lock()
				for _, b := range d.bodies {
					if strings.Contains(string(b), s) {
						t.Errorf("secret %q in a response", s)
					}
				}
				d.mu.Unlock()
			}
		}
	})
}

// TestProvisionedSettingsAdmitted: as Grafana runs a plugin's admission when a datasource is
// saved, dpa runs it when a provisioned datasource with an apiVersion is loaded or changed:
// the settings go in the SDK's protobuf encoding, a mutation is taken over, a rejection is a
// load error naming file and field, and the last good configuration stays.
func TestProvisionedSettingsAdmitted(t *testing.T) {
	prov := t.TempDir()
	good := `apiVersion: 1
datasources:
  - {name: adm, type: example-datasource, uid: adm, apiVersion: v0alpha1, url: "https://good.example", jsonData: {mode: fast}}
  - {name: plain, type: example-datasource, uid: plain, url: "ftp://not-admitted"}
`
	writeProvisioning(t, prov, good, "")
	d := startServer(t, "", "--plugins-dir", examplePlugins(t), "--provisioning", prov, "--log-level", "info")
	d.kc(t, "apply", "-f", filepath.Join(repo, "examples", "dataplaneservices", "example-datasource.yaml"))
	d.kc(t, "wait", "--for=condition=Available", "dataplaneservice/example-datasource", "--timeout=60s")
	instance := func() map[string]any {
		t.Helper()
		_, b := d.want(t, 200, "GET", dsBase+"/namespaces/default/datasources/adm/resource/instance", nil)
		var m map[string]any
		mustJSON(t, b, &m)
		return m
	}
	got := instance()
	if js, _ := got["jsonData"].(map[string]any); js["timeout"] != "30s" || js["mode"] != "fast" {
		t.Errorf("the plugin's mutation (jsonData.timeout) was not taken over: %v", got)
	}
	// Without an apiVersion a datasource is not admitted (as in Grafana).
	d.want(t, 200, "GET", dsBase+"/namespaces/default/datasources/plain/health", nil)

	writeProvisioning(t, prov, strings.Replace(good, "https://good.example", "ftp://bad.example", 1), "")
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	want := `datasources/e2e.yaml: datasources[0]: rejected by plugin example-datasource: url: \"ftp://bad.example\" is not an http(s) URL`
	eventually(t, 10*time.Second, "the rejected reload in the log", func() (bool, string) {
		return strings.Contains(d.log.String(), want), "not logged yet"
	})
	if got := instance(); got["url"] != "https://good.example" {
		t.Errorf("after a rejected reload the datasource is %v, want the last good one", got)
	}
}
