package pluginhost

import (
	"context"
	"errors"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
)

// copyDir copies the files of src (one level) into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		info, _ := e.Info()
		// Write a new file (never in place): a running executable cannot be rewritten.
		tmp := filepath.Join(dst, "."+e.Name())
		if err := os.WriteFile(tmp, b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dst, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRescanFollowsThePluginsDir: a plugin installed after start is found and started, an
// upgrade (new plugin.json version, new binary) replaces the process without failing the
// call in flight, and a removed plugin is stopped and no longer found.
func TestRescanFollowsThePluginsDir(t *testing.T) {
	dir := t.TempDir()
	h, logs := newTestHost(t, Options{PluginsDir: dir})
	var changes atomic.Int64
	h.OnChange(func(string) { changes.Add(1) })
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Get(context.Background(), dsID); !errors.Is(err, backendplugin.ErrNotFound) {
		t.Fatalf("before install: Get = %v, want backendplugin.ErrNotFound", err)
	}

	// Install.
	pluginDir := filepath.Join(dir, "datasource")
	copyDir(t, filepath.Join(testPluginsDir, "datasource"), pluginDir)
	h.Rescan()
	p := waitGet(t, h, dsID, 20*time.Second)
	checkHealth(t, p)
	first := h.State(dsID).PID
	if !strings.Contains(logs.String(), "plugin installed") {
		t.Errorf("the install is not logged:\n%s", logs)
	}

	// Upgrade while a slow resource call (10 chunks, 100ms apart) is in flight.
	inFlight := make(chan resourceResult, 1)
	go func() {
		inFlight <- callResource(t, p, dsContext("ds1", 1, `{}`), "GET", "stream", "chunks=10&delay=100ms", nil)
	}()
	time.Sleep(200 * time.Millisecond)
	pj, err := os.ReadFile(filepath.Join(pluginDir, "plugin.json"))
	if err != nil {
		t.Fatal(err)
	}
	upgraded := strings.Replace(string(pj), `"version": "`, `"version": "9.9.9-`, 1)
	if upgraded == string(pj) {
		t.Fatal("plugin.json has no info.version to change")
	}
	if err := os.WriteFile(filepath.Join(pluginDir, "plugin.json"), []byte(upgraded), 0o644); err != nil {
		t.Fatal(err)
	}
	h.Rescan()
	waitFor(t, 20*time.Second, "the upgraded process", func() bool {
		st := h.State(dsID)
		return st.Running && st.PID != first && st.PID > 0
	})
	if info, _ := h.Info(dsID); !strings.HasPrefix(info.Version, "9.9.9-") {
		t.Errorf("version after upgrade = %q", info.Version)
	}
	select {
	case res := <-inFlight:
		if res.code != 200 || strings.Count(string(res.body), "\n") < 10 {
			t.Errorf("the call in flight during the upgrade: %d %q", res.code, res.body)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the call in flight never finished")
	}
	waitFor(t, 10*time.Second, "the old process to stop", func() bool { return !processAlive(first) })
	p = waitGet(t, h, dsID, 5*time.Second)
	checkHealth(t, p)
	if st := h.State(dsID); st.Restarts != 0 {
		t.Errorf("an upgrade counted as a restart: %+v", st)
	}

	// Remove.
	pid := h.State(dsID).PID
	if err := os.RemoveAll(pluginDir); err != nil {
		t.Fatal(err)
	}
	h.Rescan()
	if _, err := h.Get(context.Background(), dsID); !errors.Is(err, backendplugin.ErrNotFound) {
		t.Errorf("after removal: Get = %v, want backendplugin.ErrNotFound", err)
	}
	waitFor(t, 10*time.Second, "the removed plugin's process to stop", func() bool { return !processAlive(pid) })
	// Its series go too: a removed plugin is not reported as down (dpa_plugin_up 0) forever.
	waitFor(t, 10*time.Second, "the removed plugin's metric series to go", func() bool {
		return testutil.CollectAndCount(h.metrics.up, "dpa_plugin_up") == 0 &&
			testutil.CollectAndCount(h.metrics.restarts, "dpa_plugin_restarts_total") == 0
	})
	for _, want := range []string{"plugin files changed: upgrading", "plugin upgraded", "plugin removed"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if changes.Load() == 0 {
		t.Error("listeners heard of no change")
	}
}

// TestNewFilesEndTheBackoff: a plugin in restart backoff starts again as soon as Rescan finds
// new files — a changed plugin.json or a newly installed executable — instead of when its
// backoff runs out, and the new files' backoff starts again from RestartBackoff.Min. The
// backoff is long (5s); every assertion is an ordering against the retry time the host
// reports (State.NextStart), not a tight timing.
func TestNewFilesEndTheBackoff(t *testing.T) {
	dir := t.TempDir()
	pluginDir := filepath.Join(dir, "datasource")
	if err := os.MkdirAll(pluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	pj, err := os.ReadFile(filepath.Join(testPluginsDir, "datasource", "plugin.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pluginDir, "plugin.json"), pj, 0o644); err != nil {
		t.Fatal(err)
	}
	exe := "gpx_example-datasource_" + runtime.GOOS + "_" + runtime.GOARCH
	// An executable that exits at once: every start fails.
	if err := os.WriteFile(filepath.Join(pluginDir, exe), []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	const minBackoff = 5 * time.Second
	h, logs := newTestHost(t, Options{PluginsDir: dir, RestartBackoff: Backoff{Min: minBackoff, Max: time.Minute}})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var first PluginState
	waitFor(t, 20*time.Second, "the first start to fail", func() bool {
		first = h.State(dsID)
		return first.Phase == PhaseBackoff
	})
	if first.NextStart.Sub(first.Since) < minBackoff || !strings.Contains(first.LastError, "start failed") {
		t.Fatalf("state after the first failure = %+v", first)
	}

	// A changed plugin.json: the pending start happens now (and fails: the executable still
	// exits), and the next backoff is Min again, not doubled.
	if err := os.WriteFile(filepath.Join(pluginDir, "plugin.json"), []byte(strings.Replace(string(pj), `"version": "`, `"version": "2.0.0-`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	h.Rescan()
	var second PluginState
	waitFor(t, 20*time.Second, "a start attempt with the new plugin.json", func() bool {
		second = h.State(dsID)
		return second.Phase == PhaseBackoff && second.Since.After(first.Since)
	})
	if !second.Since.Before(first.NextStart) {
		t.Fatalf("the new plugin.json was tried at %s, not before the backoff's retry at %s", second.Since, first.NextStart)
	}
	if d := second.NextStart.Sub(second.Since); d < minBackoff || d >= 2*minBackoff {
		t.Errorf("backoff after new files = %s, want %s (Min)", d, minBackoff)
	}

	// A working executable installed: running before the pending retry.
	bin, err := os.ReadFile(filepath.Join(testPluginsDir, "datasource", exe))
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(pluginDir, ".new")
	if err := os.WriteFile(tmp, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(pluginDir, exe)); err != nil {
		t.Fatal(err)
	}
	h.Rescan()
	waitFor(t, 20*time.Second, "the new executable to run", func() bool { return h.State(dsID).Running })
	if now := time.Now(); !now.Before(second.NextStart) {
		t.Fatalf("the new executable ran at %s, not before the backoff's retry at %s", now, second.NextStart)
	}
	checkHealth(t, waitGet(t, h, dsID, 5*time.Second))
	if st := h.State(dsID); st.Restarts != 0 || !st.NextStart.IsZero() || !strings.Contains(st.LastError, "start failed") {
		t.Errorf("state once running = %+v (failed starts are no restarts; LastError is kept)", st)
	}
	if !strings.Contains(logs.String(), "plugin files changed during the restart backoff") {
		t.Errorf("ending the backoff is not logged:\n%s", logs)
	}
}
