package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

	// A plugin whose executable exits at once is restarted with a growing backoff (100ms
	// doubling); a working executable installed meanwhile starts at once, not when the
	// backoff runs out. The backoff is let grow until the host's Retry-After says the next
	// start is at least 4s away; the plugin must run before that time.
	t.Run("an installed executable ends the restart backoff", func(t *testing.T) {
		exe := filepath.Join(pluginDir, filepath.Base(builtExecutable(t, filepath.Join(built, "datasource"))))
		if err := os.MkdirAll(pluginDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(pj, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(exe, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		available("False PluginNotRunning")
		var due time.Time
		eventually(t, 60*time.Second, "a restart backoff of several seconds", func() (bool, string) {
			asked := time.Now()
			resp, b := d.call(t, "GET", health, nil)
			secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			if resp.StatusCode != 503 || secs < 5 {
				return false, fmt.Sprintf("%d Retry-After=%q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
			}
			// Retry-After is rounded up to whole seconds: the retry is due after this.
			due = asked.Add(time.Duration(secs-1) * time.Second)
			return true, ""
		})

		bin, err := os.ReadFile(filepath.Join(built, "datasource", filepath.Base(exe)))
		if err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(pluginDir, ".new-executable")
		if err := os.WriteFile(tmp, bin, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, exe); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "the new executable to serve", func() (bool, string) {
			resp, b := d.call(t, "GET", health, nil)
			return resp.StatusCode == 200, fmt.Sprintf("%d %s", resp.StatusCode, b)
		})
		if now := time.Now(); !now.Before(due) {
			t.Fatalf("the new executable served at %s, not before the backoff's retry (after %s)", now.Format(time.StampMilli), due.Format(time.StampMilli))
		}
		available("True PluginRunning")
		if !strings.Contains(d.log.String(), "plugin files changed during the restart backoff") {
			t.Error("dpa's log does not say the backoff was ended by the new files")
		}
	})
}

// builtExecutable is the one executable (gpx_*) in a built plugin directory.
func builtExecutable(t *testing.T, dir string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "gpx_*"))
	if err != nil || len(m) != 1 {
		t.Fatalf("executables in %s: %v %v", dir, m, err)
	}
	return m[0]
}
