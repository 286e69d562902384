package pluginhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"

	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
)

// testPluginsDir holds the example plugins built by TestMain, plus a
// frontend-only plugin and a broken plugin.json.
var testPluginsDir string

const (
	dsID  = "example-datasource"
	appID = "example-app"
)

func TestMain(m *testing.M) {
	if os.Getenv("DPA_PLUGINHOST_HELPER") == "1" {
		helperHost() // never returns
	}
	dir, err := os.MkdirTemp("", "phtest")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		os.Exit(1)
	}
	if err := buildTestPlugins(dir); err != nil {
		fmt.Fprintln(os.Stderr, "FATAL: building the example plugins failed:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	testPluginsDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// buildTestPlugins builds examples/plugins/{datasource,app} into dir with
// the Grafana layout (<dir>/<plugin>/plugin.json + gpx_<exe>_<os>_<arch>).
func buildTestPlugins(dir string) error {
	for _, p := range []struct{ name, exe string }{
		{"datasource", "gpx_example-datasource"},
		{"app", "gpx_example-app"},
	} {
		src := filepath.Join("..", "..", "examples", "plugins", p.name)
		dst := filepath.Join(dir, p.name)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		pj, err := os.ReadFile(filepath.Join(src, "plugin.json"))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, "plugin.json"), pj, 0o644); err != nil {
			return err
		}
		out := filepath.Join(dst, fmt.Sprintf("%s_%s_%s", p.exe, runtime.GOOS, runtime.GOARCH))
		cmd := exec.Command("go", "build", "-o", out, "./"+filepath.ToSlash(src))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s: %w", src, err)
		}
	}
	// A frontend-only plugin: listed, never started.
	if err := writePluginJSON(filepath.Join(dir, "panel"), `{"id":"example-panel","type":"panel","name":"Example Panel"}`); err != nil {
		return err
	}
	// An invalid plugin.json: skipped and reported.
	return writePluginJSON(filepath.Join(dir, "broken"), `{"id": "broken-datasource", "type": `)
}

func writePluginJSON(dir, content string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "plugin.json"), []byte(content), 0o644)
}

// helperHost runs a Host in a child process (for the Pdeathsig test): it
// prints the datasource plugin's PID and waits to be killed.
func helperHost() {
	h, err := New(Options{Lazy: true, PluginsDir: os.Getenv("DPA_PLUGINHOST_DIR"), SocketDir: os.Getenv("DPA_PLUGINHOST_SOCKETS"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	_ = h.Start(context.Background())
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := h.Get(context.Background(), dsID); err == nil {
			fmt.Printf("PID %d\n", h.State(dsID).PID)
			select {}
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("ERR plugin did not start")
	os.Exit(2)
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newTestHost creates a host with a short socket dir and a captured log.
// Stop is registered as cleanup.
func newTestHost(t *testing.T, opts Options) (*Host, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	if opts.Logger == nil {
		opts.Logger = newLogger(logs)
	}
	if opts.PluginsDir == "" && opts.Addresses == nil {
		opts.PluginsDir = testPluginsDir
	}
	if opts.SocketDir == "" {
		opts.SocketDir = shortTempDir(t)
	}
	h, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Stop(ctx)
	})
	return h, logs
}

// newLogger logs at Info into logs (and to stderr with -v).
func newLogger(logs *logBuffer) *slog.Logger {
	var w io.Writer = logs
	if testing.Verbose() {
		w = io.MultiWriter(logs, os.Stderr)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "phs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// waitGet polls Get until it succeeds or the timeout passes.
func waitGet(t *testing.T, h *Host, id string, timeout time.Duration) *backendplugin.Client {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p, err := h.Get(ctx, id)
		cancel()
		if err == nil {
			return p
		}
		lastErr = err
		var ue *backendplugin.UnavailableError
		if !errors.As(err, &ue) {
			t.Fatalf("Get(%s): unexpected error %v", id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("Get(%s) did not succeed within %s: %v (state %+v)", id, timeout, lastErr, h.State(id))
	return nil
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// Format: pid (comm) state ...
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// dsContext is a plugin context for the example datasource.
func dsContext(uid string, updated int64, jsonData string) *pluginv2.PluginContext {
	return &pluginv2.PluginContext{
		OrgId:    1,
		PluginId: dsID,
		User:     &pluginv2.User{Login: "admin", Name: "Admin", Email: "admin@example.com", Role: "Admin"},
		DataSourceInstanceSettings: &pluginv2.DataSourceInstanceSettings{
			Id:                      7,
			Uid:                     uid,
			Name:                    "Example " + uid,
			Url:                     "http://backend.example:9090",
			JsonData:                []byte(jsonData),
			DecryptedSecureJsonData: map[string]string{"apiKey": "s3cret-api-key"},
			LastUpdatedMS:           updated,
		},
	}
}

// resourceResult is a collected CallResource response.
type resourceResult struct {
	code     int
	headers  map[string][]string
	body     []byte
	messages [][]byte // body of each stream message
	arrived  []time.Time
}

func callResource(t *testing.T, p *backendplugin.Client, pc *pluginv2.PluginContext, method, path, rawQuery string, body []byte) resourceResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := path
	if rawQuery != "" {
		url += "?" + rawQuery
	}
	stream, err := p.CallResource(ctx, &pluginv2.CallResourceRequest{
		PluginContext: pc,
		Path:          path,
		Method:        method,
		Url:           url,
		Headers:       map[string]*pluginv2.StringList{"X-Test": {Values: []string{"a", "b"}}},
		Body:          body,
	})
	if err != nil {
		t.Fatalf("CallResource %s: %v", path, err)
	}
	var res resourceResult
	for i := 0; ; i++ {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("CallResource %s recv: %v", path, err)
		}
		if i == 0 {
			res.code = int(msg.Code)
			res.headers = map[string][]string{}
			for k, v := range msg.Headers {
				res.headers[k] = v.Values
			}
		}
		res.body = append(res.body, msg.Body...)
		res.messages = append(res.messages, msg.Body)
		res.arrived = append(res.arrived, time.Now())
	}
	return res
}
