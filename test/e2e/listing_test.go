package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestListingFollowsRoles: `kubectl auth can-i --list` is answered (it was a 403), the
// Plugin objects (pids, errors, paths) are for org members only, and a datasource list honours
// fieldSelector and labelSelector or refuses them with a 400 (it ignored them, listing all).
func TestListingFollowsRoles(t *testing.T) {
	dir := shortTempDir(t)
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte("vic-token,vic,vic-uid,\"grafana:org:1:Viewer\"\nnobody-token,nobody,nobody-uid,\"team-x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startServer(t, "", "--plugins-dir", examplePlugins(t), "--provisioning", filepath.Join(repo, "examples", "provisioning"), "--token-auth-file", tokens)
	d.kc(t, "apply", "-f", filepath.Join(repo, "examples", "dataplaneservices", "example-datasource.yaml"))
	waitAvailable(t, d, "example-datasource", "True PluginRunning", 60*time.Second)
	as := func(token string, args ...string) (string, error) {
		out, errOut, err := d.kubectl(append([]string{"--token", token}, args...)...)
		return out + errOut, err
	}

	t.Run("kubectl auth can-i --list", func(t *testing.T) {
		out, err := as("vic-token", "auth", "can-i", "--list")
		if err != nil || !regexpLine(out, "dataplaneservices.aggregation.grafana.app", "[]", "[]", "[get list watch]") ||
			!regexpLine(out, "plugins.aggregation.grafana.app", "[]", "[]", "[get list watch]") {
			t.Errorf("an org viewer: %v\n%s", err, out)
		}
		out, err = as("nobody-token", "auth", "can-i", "--list")
		if err != nil || strings.Contains(out, "dataplaneservices") || strings.Contains(out, "plugins.aggregation") || !strings.Contains(out, "selfsubjectaccessreviews") {
			t.Errorf("no org role: %v\n%s", err, out)
		}
	})
	t.Run("Plugin objects are for org members", func(t *testing.T) {
		if out, err := as("vic-token", "get", "plugins", "-o", "name"); err != nil || !strings.Contains(out, "plugin.aggregation.grafana.app/example-datasource") {
			t.Errorf("an org viewer: %v\n%s", err, out)
		}
		if out, err := as("nobody-token", "get", "plugins"); err == nil || !strings.Contains(out, "reading plugins needs a role in an org") {
			t.Errorf("no org role: %v\n%s", err, out)
		}
	})
	t.Run("a datasource list honours its selectors", func(t *testing.T) {
		list := "/apis/example.datasource.grafana.app/v0alpha1/namespaces/default/datasources"
		names := func(q string) (int, []string) {
			code, body := d.request("GET", list+"?"+q, nil, "")
			var l struct {
				Items []struct {
					Metadata struct{ Name string } `json:"metadata"`
				} `json:"items"`
			}
			_ = json.Unmarshal(body, &l)
			var out []string
			for _, it := range l.Items {
				out = append(out, it.Metadata.Name)
			}
			return code, out
		}
		for q, want := range map[string]string{
			"fieldSelector=metadata.name%3Dexample":        "example",
			"fieldSelector=metadata.name%3Dnope":           "",
			"fieldSelector=spec.type%3Dexample-datasource": "example",
			"fieldSelector=metadata.name!%3Dexample":       "",
			"labelSelector=app%3Dx":                        "",
			"fieldSelector=metadata.namespace%3Ddefault":   "example",
		} {
			if code, got := names(q); code != 200 || strings.Join(got, ",") != want {
				t.Errorf("%s: %d %v, want %q", q, code, got, want)
			}
		}
		for _, q := range []string{"fieldSelector=spec.url%3Dx", "fieldSelector=(((", "labelSelector=((("} {
			code, body := d.request("GET", list+"?"+q, nil, "")
			if st := decodeStatus(t, code, body); code != 400 || st.Reason != "BadRequest" {
				t.Errorf("%s: %d %s", q, code, body)
			}
		}
		if out, err := as(d.token, "get", "datasources.example.datasource.grafana.app", "-n", "default", "--field-selector", "metadata.name=nope"); err != nil || !strings.Contains(out, "No resources found") {
			t.Errorf("kubectl --field-selector: %v\n%s", err, out)
		}
	})
}
