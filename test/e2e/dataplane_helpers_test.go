package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Helpers for the data-plane end-to-end tests: the example plugins built once per test
// binary, a dpa process whose log can be read while it runs, and an HTTP/1.1 keep-alive
// client that records every response body (for the "no secret in any response" check).

var (
	pluginsOnce sync.Once
	pluginsDir  string
	pluginsErr  error
)

// examplePlugins builds examples/plugins/{datasource,app,compat} once into a temporary plugins
// directory in Grafana's layout (plugin.json + <executable>_<GOOS>_<GOARCH>) under workDir,
// which TestMain removes. It never uses the binaries of the worktree.
func examplePlugins(t *testing.T) string {
	t.Helper()
	pluginsOnce.Do(func() {
		dir := filepath.Join(workDir, "plugins")
		// compat is a module of its own (plugin SDK v0.164): it is built from its directory.
		for _, p := range []struct{ sub, exe, pkg, buildDir string }{
			{"datasource", "gpx_example-datasource", "./examples/plugins/datasource", repo},
			{"app", "gpx_example-app", "./examples/plugins/app", repo},
			{"compat", "gpx_compat", ".", filepath.Join(repo, "examples", "plugins", "compat")},
		} {
			pd := filepath.Join(dir, p.sub)
			if pluginsErr = os.MkdirAll(pd, 0o755); pluginsErr != nil {
				return
			}
			js, err := os.ReadFile(filepath.Join(repo, "examples", "plugins", p.sub, "plugin.json"))
			if err != nil {
				pluginsErr = err
				return
			}
			if pluginsErr = os.WriteFile(filepath.Join(pd, "plugin.json"), js, 0o644); pluginsErr != nil {
				return
			}
			exe := filepath.Join(pd, fmt.Sprintf("%s_%s_%s", p.exe, runtime.GOOS, runtime.GOARCH))
			build := exec.Command("go", "build", "-mod=readonly", "-o", exe, p.pkg)
			build.Dir = p.buildDir
			if out, err := build.CombinedOutput(); err != nil {
				pluginsErr = fmt.Errorf("building %s: %v\n%s", p.sub, err, out)
				return
			}
		}
		pluginsDir = dir
	})
	if pluginsErr != nil {
		t.Fatal(pluginsErr)
	}
	return pluginsDir
}

// kc runs kubectl against this server and fails t (not the test that started dpa) on error.
func (s *server) kc(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := s.kubectl(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// pid of the dpa process.
func (d *server) pid() int { return d.cmd.Process.Pid }

type reqOpt func(*http.Request)

func withHeader(k, v string) reqOpt { return func(r *http.Request) { r.Header.Add(k, v) } }

func noAuth() reqOpt { return func(r *http.Request) { r.Header.Del("Authorization") } }

// newReq builds an authenticated request (body: nil, string, []byte or JSON-encoded value).
func (d *server) newReq(method, path string, body any, opts ...reqOpt) *http.Request {
	d.t.Helper()
	req, err := http.NewRequest(method, d.url+path, encodeBody(d.t, body))
	if err != nil {
		d.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(req)
	}
	return req
}

// call performs a request, reads the whole body and records it.
func (d *server) call(t *testing.T, method, path string, body any, opts ...reqOpt) (*http.Response, []byte) {
	t.Helper()
	resp, err := d.httpClient().Do(d.newReq(method, path, body, opts...))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	d.record(b)
	return resp, b
}

func (d *server) record(b []byte) {
	d.mu.Lock()
	d.bodies = append(d.bodies, append([]byte(nil), b...))
	d.mu.Unlock()
}

// want checks the HTTP status and returns the body.
func (d *server) want(t *testing.T, code int, method, path string, body any, opts ...reqOpt) (*http.Response, []byte) {
	t.Helper()
	resp, b := d.call(t, method, path, body, opts...)
	if resp.StatusCode != code {
		t.Fatalf("%s %s = %d, want %d: %s", method, path, resp.StatusCode, code, b)
	}
	return resp, b
}

// wantStatus expects a metav1.Status with the code and a message containing every substring.
func (d *server) wantStatus(t *testing.T, code int, method, path string, body any, contains ...string) (*http.Response, status) {
	t.Helper()
	resp, b := d.want(t, code, method, path, body)
	st := decodeStatus(t, code, b)
	for _, c := range contains {
		if !strings.Contains(st.Message, c) {
			t.Errorf("%s %s: Status message %q does not contain %q", method, path, st.Message, c)
		}
	}
	return resp, st
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
}

// line is one line of a streamed body and when it arrived.
type line struct {
	text string
	at   time.Time
}

// readLines reads non-empty lines from r into a channel until EOF or error.
func readLines(r io.Reader) <-chan line {
	ch := make(chan line, 1024)
	go func() {
		defer close(ch)
		br := bufio.NewReader(r)
		for {
			s, err := br.ReadString('\n')
			if s = strings.TrimRight(s, "\r\n"); s != "" {
				ch <- line{text: s, at: time.Now()}
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// writeProvisioning writes datasources/ and plugins/ YAML into dir.
func writeProvisioning(t *testing.T, dir, datasources, apps string) {
	t.Helper()
	for _, sub := range []string{"datasources", "plugins"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "datasources"), "e2e.yaml", datasources)
	if apps != "" {
		writeFile(t, filepath.Join(dir, "plugins"), "e2e.yaml", apps)
	}
}
