package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// copyPluginDir installs a built plugin directory as dst, as an operator would.
func copyPluginDir(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-R", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
}

// TestPluginsDirFollowedLive: installing, upgrading and removing a plugin in --plugins-dir
// takes effect without restarting dpa, and Available follows.
func TestPluginsDirFollowedLive(t *testing.T) {
	built := examplePlugins(t)
	dir := t.TempDir()
	prov := t.TempDir()
	writeProvisioning(t, prov, "apiVersion: 1\ndatasources:\n  - {name: ex, type: example-datasource, uid: ex}\n", "")
	d := startServer(t, "", "--plugins-dir", dir, "--provisioning", prov, "--plugins-rescan-interval", "200ms", "--log-level", "info")
	d.kc(t, "apply", "-f", filepath.Join(repo, "examples", "dataplaneservices", "example-datasource.yaml"))
	health := dsBase + "/namespaces/default/datasources/ex/health"
	available := func(want string) {
		t.Helper()
		waitAvailable(t, d, "example-datasource", want, 30*time.Second)
	}

	available("False PluginNotFound")
	resp, b := d.call(t, "GET", health, nil)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "not installed") {
		t.Fatalf("before install: %d Retry-After=%q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}

	pluginDir := filepath.Join(dir, "example-datasource")
	copyPluginDir(t, filepath.Join(built, "datasource"), pluginDir)
	available("True PluginRunning")
	d.want(t, 200, "GET", health, nil)

	// Upgrade: a new info.version; calls keep working and the new process takes over.
	pj := filepath.Join(pluginDir, "plugin.json")
	raw, err := os.ReadFile(pj)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pj, []byte(strings.Replace(string(raw), `"version": "1.0.0"`, `"version": "1.0.1"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the upgrade", func() (bool, string) {
		logs := d.log.String()
		return strings.Contains(logs, "plugin upgraded"), "no upgrade logged:\n" + logs[max(0, len(logs)-3000):]
	})
	d.want(t, 200, "GET", health, nil)
	available("True PluginRunning")

	if err := os.RemoveAll(pluginDir); err != nil {
		t.Fatal(err)
	}
	available("False PluginNotFound")
	eventually(t, 10*time.Second, "503 after removal", func() (bool, string) {
		resp, b := d.call(t, "GET", health, nil)
		return resp.StatusCode == 503, fmt.Sprintf("%d %s", resp.StatusCode, b)
	})
	for _, want := range []string{"plugin installed", "plugin removed"} {
		if !strings.Contains(d.log.String(), want) {
			t.Errorf("dpa's log lacks %q", want)
		}
	}
}
