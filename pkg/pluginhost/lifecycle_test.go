package pluginhost

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
)

func checkHealth(t *testing.T, p *backendplugin.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := p.CheckHealth(ctx, &pluginv2.CheckHealthRequest{PluginContext: dsContext("ds-life", 1, `{}`)})
	if err != nil || resp.Status != pluginv2.CheckHealthResponse_OK {
		t.Fatalf("CheckHealth = %v, %v", resp, err)
	}
}

// changeRecorder records OnChange notifications with the phase seen.
type changeRecorder struct {
	mu     sync.Mutex
	phases []Phase
}

func (r *changeRecorder) seen() []Phase {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Phase(nil), r.phases...)
}

func TestCrashRestart(t *testing.T) {
	h, logs := newTestHost(t, Options{RestartBackoff: Backoff{Min: 700 * time.Millisecond, Max: 5 * time.Second}})
	rec := &changeRecorder{}
	h.OnChange(func(id string) {
		if id == dsID {
			rec.mu.Lock()
			rec.phases = append(rec.phases, h.State(id).Phase)
			rec.mu.Unlock()
		}
	})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkHealth(t, waitGet(t, h, dsID, 20*time.Second))
	st := h.State(dsID)
	if !st.Running || st.PID <= 0 || st.Restarts != 0 {
		t.Fatalf("state before kill = %+v", st)
	}
	if up := testutil.ToFloat64(h.metrics.up.WithLabelValues(dsID)); up != 1 {
		t.Fatalf("dpa_plugin_up = %v before kill", up)
	}
	oldPID := st.PID

	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill plugin: %v", err)
	}
	killedAt := time.Now()

	// Get must report the plugin unavailable promptly, without blocking.
	var ue *backendplugin.UnavailableError
	waitFor(t, 2*time.Second, "Get to return backendplugin.UnavailableError", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		_, err := h.Get(ctx, dsID)
		if took := time.Since(start); took > 500*time.Millisecond {
			t.Fatalf("Get blocked for %s after the crash", took)
		}
		return errors.As(err, &ue)
	})
	if ue.PluginID != dsID || ue.RetryAfter <= 0 || !errors.Is(ue, ErrExited) {
		t.Fatalf("backendplugin.UnavailableError = %+v", ue)
	}
	t.Logf("unavailable %s after kill: %v", time.Since(killedAt), ue)

	// It recovers by itself, without restarting the host.
	p := waitGet(t, h, dsID, 15*time.Second)
	checkHealth(t, p)
	st = h.State(dsID)
	if !st.Running || st.Restarts != 1 || st.PID == oldPID || st.PID <= 0 {
		t.Fatalf("state after recovery = %+v (old pid %d)", st, oldPID)
	}
	if !strings.Contains(st.LastError, "signal: killed") {
		t.Errorf("LastError = %q, want the exit reason", st.LastError)
	}
	if r := testutil.ToFloat64(h.metrics.restarts.WithLabelValues(dsID)); r != 1 {
		t.Errorf("dpa_plugin_restarts_total = %v, want 1", r)
	}
	if up := testutil.ToFloat64(h.metrics.up.WithLabelValues(dsID)); up != 1 {
		t.Errorf("dpa_plugin_up = %v after recovery", up)
	}
	if processAlive(oldPID) {
		t.Errorf("old process %d still alive", oldPID)
	}

	// Listeners saw the crash and the recovery.
	phases := fmt.Sprint(rec.seen())
	if !strings.Contains(phases, "Running Backoff Starting Running") {
		t.Errorf("OnChange phases = %s", phases)
	}
	if !strings.Contains(logs.String(), "plugin exited") {
		t.Error("the exit was not logged")
	}
	// The killed process's socket was removed: one socket left.
	waitFor(t, 2*time.Second, "a single plugin socket per running plugin", func() bool {
		entries, _ := os.ReadDir(h.SocketDir())
		return len(entries) == 2 // datasource + app
	})
}

// TestPdeathsig kills a host process (SIGKILL, so nothing can clean up) and
// checks that its plugin dies with it.
func TestPdeathsig(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig is Linux-only")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "DPA_PLUGINHOST_HELPER=1", "DPA_PLUGINHOST_DIR="+testPluginsDir, "DPA_PLUGINHOST_SOCKETS="+shortTempDir(t))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var pluginPID int
	select {
	case line := <-lines:
		if _, err := fmt.Sscanf(line, "PID %d", &pluginPID); err != nil || pluginPID <= 0 {
			t.Fatalf("helper said %q", line)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("helper host did not report its plugin")
	}
	if !processAlive(pluginPID) {
		t.Fatalf("plugin %d not running", pluginPID)
	}
	t.Cleanup(func() {
		if processAlive(pluginPID) {
			_ = syscall.Kill(pluginPID, syscall.SIGKILL)
		}
	})

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitFor(t, 5*time.Second, "the plugin to die with its host", func() bool { return !processAlive(pluginPID) })
}

func TestStopStopsEverything(t *testing.T) {
	logs := &logBuffer{}
	h, err := New(Options{
		PluginsDir:     testPluginsDir,
		RestartBackoff: Backoff{Min: 50 * time.Millisecond},
		Logger:         newLogger(logs),
	}) // own temporary socket dir
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitGet(t, h, dsID, 20*time.Second)
	waitGet(t, h, appID, 20*time.Second)
	pids := []int{h.State(dsID).PID, h.State(appID).PID}
	socketDir := h.SocketDir()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := h.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("Stop took %s", time.Since(start))
	for _, pid := range pids {
		if processAlive(pid) {
			t.Errorf("plugin process %d still running after Stop", pid)
		}
	}
	if _, err := os.Stat(socketDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("own socket dir %s not removed: %v", socketDir, err)
	}

	// No restart happens afterwards.
	time.Sleep(500 * time.Millisecond)
	for _, id := range []string{dsID, appID} {
		st := h.State(id)
		if st.Running || st.Phase != PhaseStopped || st.PID != 0 || st.Restarts != 0 {
			t.Errorf("%s state after Stop = %+v", id, st)
		}
		if up := testutil.ToFloat64(h.metrics.up.WithLabelValues(id)); up != 0 {
			t.Errorf("%s dpa_plugin_up = %v after Stop", id, up)
		}
		_, err := h.Get(context.Background(), id)
		var ue *backendplugin.UnavailableError
		if !errors.As(err, &ue) || !errors.Is(err, ErrStopped) {
			t.Errorf("Get(%s) after Stop = %v", id, err)
		}
	}
	if strings.Contains(logs.String(), "plugin exited") {
		t.Errorf("a graceful stop was reported as a crash:\n%s", logs.String())
	}
	if err := h.Start(context.Background()); !errors.Is(err, ErrStopped) {
		t.Errorf("Start after Stop = %v", err)
	}
	// Stop is idempotent.
	if err := h.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestLazyStart(t *testing.T) {
	h, _ := newTestHost(t, Options{Lazy: true, StartWait: time.Millisecond})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if st := h.State(dsID); st.Phase != PhaseIdle || st.PID != 0 {
		t.Fatalf("lazy plugin started without a Get: %+v", st)
	}
	// The first Get starts the plugin but waits at most StartWait.
	start := time.Now()
	_, err := h.Get(context.Background(), dsID)
	var ue *backendplugin.UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, ErrStarting) || ue.RetryAfter <= 0 {
		t.Fatalf("first lazy Get = %v, want backendplugin.UnavailableError(ErrStarting)", err)
	}
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Fatalf("Get waited %s, StartWait is 1ms", took)
	}
	checkHealth(t, waitGet(t, h, dsID, 20*time.Second))
	if st := h.State(appID); st.Phase != PhaseIdle {
		t.Errorf("the app was started although nobody asked for it: %+v", st)
	}
}

func TestGetHonoursContext(t *testing.T) {
	h, _ := newTestHost(t, Options{Lazy: true, StartWait: time.Minute})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.Get(ctx, dsID)
	var ue *backendplugin.UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a cancelled ctx = %v", err)
	}
}

func TestStartFailure(t *testing.T) {
	dir := t.TempDir()
	if err := writePluginJSON(filepath.Join(dir, "missing"), `{"id":"missing-datasource","type":"datasource","backend":true,"executable":"gpx_missing"}`); err != nil {
		t.Fatal(err)
	}
	// An executable that breaks the handshake by printing to stdout.
	if err := writePluginJSON(filepath.Join(dir, "chatty"), `{"id":"chatty-datasource","type":"datasource","backend":true,"executable":"gpx_chatty"}`); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "chatty", "gpx_chatty"), []byte("#!/bin/sh\necho hello from stdout\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	h, _ := newTestHost(t, Options{PluginsDir: dir, RestartBackoff: Backoff{Min: 2 * time.Second}})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{
		"missing-datasource": "plugin executable not found",
		"chatty-datasource":  "Unrecognized remote plugin message",
	} {
		var ue *backendplugin.UnavailableError
		waitFor(t, 10*time.Second, id+" start failure", func() bool {
			_, err := h.Get(context.Background(), id)
			return errors.As(err, &ue) && h.State(id).Phase == PhaseBackoff
		})
		if !strings.Contains(ue.Error(), want) || ue.RetryAfter <= 0 {
			t.Errorf("%s: Get = %v, want %q", id, ue, want)
		}
		if st := h.State(id); !strings.Contains(st.LastError, want) || st.Running {
			t.Errorf("%s: state = %+v", id, st)
		}
	}
}

func TestSocketDirTooLong(t *testing.T) {
	_, err := New(Options{PluginsDir: testPluginsDir, SocketDir: filepath.Join(t.TempDir(), strings.Repeat("s", 100)), Logger: newLogger(&logBuffer{})})
	if err == nil || !strings.Contains(err.Error(), "too long") {
		t.Fatalf("New with a long SocketDir = %v", err)
	}
}

// startStandalone runs the example datasource in the SDK's standalone mode
// (-standalone, address from GF_PLUGIN_GRPC_ADDRESS_<ID>), from a private
// copy whose executable name is unique: in standalone mode the SDK kills
// other processes running the same executable (pgrep -f).
func startStandalone(t *testing.T, dir, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(filepath.Join(dir, "ds", "gpx_standalone-copy_"+runtime.GOOS+"_"+runtime.GOARCH), "-standalone")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "GF_PLUGIN_GRPC_ADDRESS_EXAMPLE_DATASOURCE=" + addr}
	setProcAttr(cmd)
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func TestStandaloneAddress(t *testing.T) {
	dir := t.TempDir()
	if err := writePluginJSON(filepath.Join(dir, "ds"), `{"id":"example-datasource","type":"datasource","backend":true,"executable":"gpx_standalone-copy"}`); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(filepath.Join(testPluginsDir, "datasource", "gpx_example-datasource_"+runtime.GOOS+"_"+runtime.GOARCH))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ds", "gpx_standalone-copy_"+runtime.GOOS+"_"+runtime.GOARCH), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()

	first := startStandalone(t, dir, addr)
	h, _ := newTestHost(t, Options{
		Addresses:      map[string]string{dsID: addr},
		RestartBackoff: Backoff{Min: 100 * time.Millisecond, Max: 500 * time.Millisecond},
	})
	if infos := h.Plugins(); len(infos) != 1 || infos[0].ID != dsID || infos[0].Address != addr || !infos[0].Backend {
		t.Fatalf("Plugins() = %+v", infos)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := waitGet(t, h, dsID, 20*time.Second)
	checkHealth(t, p)
	echo := callResource(t, p, dsContext("sa", 1, `{}`), "GET", "pid", "", nil)
	if want := strconv.Itoa(first.Process.Pid); !strings.Contains(string(echo.body), want) {
		t.Fatalf("talking to pid %s, want the standalone process %s", echo.body, want)
	}
	if st := h.State(dsID); !st.Running || st.Address != addr || st.PID != 0 {
		t.Fatalf("standalone state = %+v", st)
	}

	// The standalone process goes away: unavailable, then reconnect.
	_ = first.Process.Kill()
	_ = first.Wait()
	var ue *backendplugin.UnavailableError
	waitFor(t, 3*time.Second, "Get to report the standalone plugin unavailable", func() bool {
		_, err := h.Get(context.Background(), dsID)
		return errors.As(err, &ue)
	})
	second := startStandalone(t, dir, addr)
	p = waitGet(t, h, dsID, 20*time.Second)
	checkHealth(t, p)
	if st := h.State(dsID); st.Restarts < 1 || !st.Running {
		t.Errorf("state after reconnect = %+v", st)
	}

	// Stop disconnects but never stops a plugin it did not start.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if !processAlive(second.Process.Pid) {
		t.Error("Stop killed the standalone plugin")
	}
}

// TestRestartBackoff: the delay doubles while the plugin keeps crashing
// and resets once it stayed up for StableAfter.
func TestRestartBackoff(t *testing.T) {
	h, _ := newTestHost(t, Options{
		RestartBackoff: Backoff{Min: 150 * time.Millisecond, Max: 450 * time.Millisecond},
		StableAfter:    time.Second,
		Lazy:           true,
	})
	var mu sync.Mutex
	var delays []time.Duration
	h.OnChange(func(id string) {
		e := h.entries[id]
		e.mu.Lock()
		if e.phase == PhaseBackoff {
			mu.Lock()
			delays = append(delays, e.backoff)
			mu.Unlock()
		}
		e.mu.Unlock()
	})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	crash := func() {
		t.Helper()
		waitGet(t, h, dsID, 20*time.Second)
		if err := syscall.Kill(h.State(dsID).PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "the crash to be noticed", func() bool { return h.State(dsID).Phase != PhaseRunning })
	}
	crash()
	crash()
	crash()
	crash() // capped at Max
	waitGet(t, h, dsID, 20*time.Second)
	time.Sleep(1200 * time.Millisecond) // stable
	crash()

	mu.Lock()
	defer mu.Unlock()
	want := []time.Duration{150, 300, 450, 450, 150}
	if len(delays) != len(want) {
		t.Fatalf("backoff delays = %v, want %v ms", delays, want)
	}
	for i := range want {
		if delays[i] != want[i]*time.Millisecond {
			t.Fatalf("backoff delays = %v, want %v ms", delays, want)
		}
	}
	if st := h.State(dsID); st.Restarts < 4 {
		t.Errorf("restarts = %d", st.Restarts)
	}
}

// TestFailedStartsAreNoRestarts: a plugin that never ran has restarted zero times, however
// often its start failed (like a container that never started).
func TestFailedStartsAreNoRestarts(t *testing.T) {
	dir := t.TempDir()
	if err := writePluginJSON(filepath.Join(dir, "missing"), `{"id":"missing-datasource","type":"datasource","backend":true,"executable":"gpx_missing"}`); err != nil {
		t.Fatal(err)
	}
	h, _ := newTestHost(t, Options{PluginsDir: dir, RestartBackoff: Backoff{Min: 20 * time.Millisecond, Max: 20 * time.Millisecond}})
	var mu sync.Mutex
	starts := 0
	h.OnChange(func(string) {
		if h.State("missing-datasource").Phase == PhaseStarting {
			mu.Lock()
			starts++
			mu.Unlock()
		}
	})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "three start attempts", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return starts >= 3
	})
	if st := h.State("missing-datasource"); st.Restarts != 0 || st.LastError == "" {
		t.Errorf("state after failed starts = %+v, want Restarts 0 and the start error", st)
	}
}
