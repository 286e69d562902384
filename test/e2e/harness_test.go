// Package e2e builds the real dpa binary and drives it over HTTPS with the real kubectl and
// the generated Go clients. Everything a test starts, it stops.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grafana/grafana-app-sdk/k8s"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
)

var (
	dpaBin  string
	kubectl string
	repo    string
	// workDir holds what the suite builds (dpa unless DPA_BIN names one, the example
	// plugins); TestMain removes it.
	workDir string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	repo, err = filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	kubectl = "/usr/bin/kubectl"
	if _, err := os.Stat(kubectl); err != nil {
		if kubectl, err = exec.LookPath("kubectl"); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: kubectl not found at /usr/bin/kubectl or on PATH: install kubectl to run the end-to-end suite")
			return 1
		}
	}
	dir, err := os.MkdirTemp("", "dpa-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	workDir = dir
	dpaBin = filepath.Join(dir, "dpa")
	if env := os.Getenv("DPA_BIN"); env != "" {
		dpaBin = env
	} else {
		build := exec.Command("go", "build", "-o", dpaBin, "./cmd/dpa")
		build.Dir = repo
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: building dpa failed:", err)
			return 1
		}
	}
	return m.Run()
}

// server is one running `dpa serve` with its log, its kubeconfig and one keep-alive client;
// call records every body it reads (for the secret scans).
type server struct {
	t          *testing.T
	cmd        *exec.Cmd
	dataDir    string
	port       int
	url        string
	kubeconfig string
	token      string
	log        *syncBuffer
	done       chan error
	args       []string

	httpMu sync.Mutex
	httpc  *http.Client // one keep-alive client, made once the CA exists

	mu     sync.Mutex
	bodies [][]byte // every response body call read
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer runs dpa with a fresh port; dataDir "" means a new temp dir.
func startServer(t *testing.T, dataDir string, args ...string) *server {
	t.Helper()
	if dataDir == "" {
		dataDir = shortTempDir(t)
	}
	s := &server{t: t, dataDir: dataDir, port: freePort(t), args: args}
	// Fixed for the server's life (a restart keeps data dir and port), so goroutines that
	// call it while it restarts read them without a race.
	s.url = fmt.Sprintf("https://127.0.0.1:%d", s.port)
	s.kubeconfig = filepath.Join(s.dataDir, "kubeconfig")
	s.start()
	t.Cleanup(func() { s.stop() })
	return s
}

// shortTempDir keeps kine's unix socket path under the 108-byte limit.
func shortTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "dpa-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func (s *server) start() {
	t := s.t
	t.Helper()
	args := append([]string{"serve", "--data-dir", s.dataDir, "--secure-port", strconv.Itoa(s.port), "--log-level", "warn"}, s.args...)
	s.cmd = exec.Command(dpaBin, args...)
	// As `make run` does: examples/provisioning's datasources point at dpa itself (${DPA_URL}).
	s.cmd.Env = append(os.Environ(), "DPA_URL="+s.url)
	s.log = &syncBuffer{b: &bytes.Buffer{}}
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.done = make(chan error, 1)
	go func() { s.done <- s.cmd.Wait() }()
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case err := <-s.done:
			t.Fatalf("dpa exited during start-up: %v\n%s", err, s.log)
		default:
		}
		if code, _ := s.anon("GET", "/readyz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dpa not ready after 90s\n%s", s.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	tok, err := os.ReadFile(filepath.Join(s.dataDir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	// The data dir keeps its admin token across restarts: written once.
	if s.token == "" {
		s.token = strings.TrimSpace(string(tok))
	}
}

// stop sends SIGTERM and expects a clean exit (code 0) within 30s.
func (s *server) stop() {
	if s.cmd == nil || s.cmd.ProcessState != nil {
		return
	}
	select {
	case <-s.done:
		s.t.Errorf("dpa had already exited\n%s", s.log)
		s.cmd = nil
		return
	default:
	}
	s.httpMu.Lock()
	if s.httpc != nil {
		s.httpc.CloseIdleConnections()
	}
	s.httpMu.Unlock()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("dpa exited with %v after SIGTERM\n%s", err, s.log)
		}
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		s.t.Errorf("dpa did not stop within 30s of SIGTERM\n%s", s.log)
	}
	s.cmd = nil
}

// httpClient is the server's one keep-alive client, verifying TLS against the generated CA
// (HTTP/1.1 on purpose: hop-by-hop headers such as Connection only exist there). Until the CA
// exists (during start-up) each call gets a throwaway client.
func (s *server) httpClient() *http.Client {
	s.httpMu.Lock()
	defer s.httpMu.Unlock()
	if s.httpc != nil {
		return s.httpc
	}
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(filepath.Join(s.dataDir, "pki", "ca.crt"))
	c := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 32,
	}}
	if err == nil && pool.AppendCertsFromPEM(ca) {
		s.httpc = c
	}
	return c
}

// anon makes an unauthenticated request, verifying TLS against the generated CA.
func (s *server) anon(method, path string) (int, []byte) {
	req, _ := http.NewRequest(method, s.url+path, nil)
	return s.do(req)
}

// request makes an authenticated request with a JSON body.
func (s *server) request(method, path string, body any, contentType string) (int, []byte) {
	req, _ := http.NewRequest(method, s.url+path, encodeBody(s.t, body))
	req.Header.Set("Authorization", "Bearer "+s.token)
	if contentType == "" {
		contentType = "application/json"
	}
	req.Header.Set("Content-Type", contentType)
	return s.do(req)
}

func (s *server) do(req *http.Request) (int, []byte) {
	resp, err := s.httpClient().Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// kubectl runs the real kubectl against this server.
func (s *server) kubectl(args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", s.kubeconfig}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// client is the generated typed client, configured from the written kubeconfig.
func (s *server) client() *v0alpha1.DataPlaneServiceClient {
	s.t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		s.t.Fatal(err)
	}
	c, err := v0alpha1.NewDataPlaneServiceClientFromGenerator(k8s.NewClientRegistry(*cfg, k8s.DefaultClientConfig()))
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// status is the subset of metav1.Status the tests check.
type status struct {
	Kind    string `json:"kind"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details struct {
		Causes []struct {
			Field   string `json:"field"`
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"causes"`
	} `json:"details"`
}

func decodeStatus(t *testing.T, code int, body []byte) status {
	t.Helper()
	var st status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("response %d is not JSON: %v\n%s", code, err, body)
	}
	if st.Kind != "Status" || st.Code != code || st.Status != "Failure" {
		t.Fatalf("want a Status with code %d, got HTTP %d: %s", code, code, body)
	}
	return st
}

func eventually(t *testing.T, timeout time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, detail := f()
		if ok {
			return
		}
		last = detail
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, last)
}

func mustReq(t *testing.T, method, url, auth string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return req
}

// syncBuffer is a log sink that may be read while dpa writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// encodeBody turns a request body given as nil, string, []byte or a JSON-encodable value
// into a reader.
func encodeBody(t *testing.T, body any) io.Reader {
	t.Helper()
	switch b := body.(type) {
	case nil:
		return nil
	case string:
		return strings.NewReader(b)
	case []byte:
		return bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.NewReader(js)
	}
}
