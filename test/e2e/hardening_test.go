package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dataplane-aggregator/dpa/test/internal/proc"
)

// TestHardening: what a caller sends or makes dpa serve cannot exhaust it or act on its
// origin — in-flight limits, body deadlines, query limits, malformed input as 400, sandboxed
// plugin and upstream content, private files, TLS defaults.
func TestHardening(t *testing.T) {
	html := `<!doctype html><script>document.title = document.cookie</script>`
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, html)
	}))
	t.Cleanup(upstream.Close)
	prov := t.TempDir()
	writeProvisioning(t, prov, datasourcesYAML(upstream.URL), appsYAML)

	// A data dir that already exists with a lax mode.
	dataDir := shortTempDir(t)
	if err := os.Chmod(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	d := startServer(t, dataDir, "--plugins-dir", examplePlugins(t), "--provisioning", prov,
		"--max-dataplane-inflight-per-user", "4", "--body-read-timeout", "2s", "--max-queries-per-request", "10")
	d.kc(t, "apply", "-f", filepath.Join(repo, "examples", "dataplaneservices", "example-datasource.yaml"))
	d.kc(t, "wait", "--for=condition=Available", "dataplaneservice/example-datasource", "--timeout=60s")

	t.Run("upstream and plugin content is sandboxed", func(t *testing.T) {
		for _, p := range []string{dsNS + "/proxy/page.html", dsNS + "/resource/echo"} {
			resp, b := d.call(t, "GET", p, nil)
			if resp.Header.Get("Content-Security-Policy") != "sandbox" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s: CSP %q, nosniff %q (%d %.60s)", p, resp.Header.Get("Content-Security-Policy"),
					resp.Header.Get("X-Content-Type-Options"), resp.StatusCode, b)
			}
		}
	})

	t.Run("invalid UTF-8 is a 400", func(t *testing.T) {
		for name, req := range map[string]func() *http.Request{
			"header": func() *http.Request {
				r := d.newReq("GET", dsNS+"/resource/echo", nil)
				r.Header.Set("X-Bad", "caf\xe9")
				return r
			},
			"path":  func() *http.Request { return d.newReq("GET", dsNS+"/resource/caf%E9", nil) },
			"query": func() *http.Request { return d.newReq("GET", dsNS+"/resource/echo?q=%FF", nil) },
			"refId": func() *http.Request {
				return d.newReq("POST", dsNS+"/query", "{\"queries\":[{\"refId\":\"\xff\xfe\"}]}")
			},
		} {
			resp, err := d.httpClient().Do(req())
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if st := decodeStatus(t, 400, b); resp.StatusCode != 400 || !strings.Contains(st.Message, "UTF-8") {
				t.Errorf("%s: %d %s", name, resp.StatusCode, b)
			}
		}
	})

	t.Run("queries per request are bounded", func(t *testing.T) {
		var qs []map[string]any
		for i := range 11 {
			qs = append(qs, map[string]any{"refId": fmt.Sprint("Q", i)})
		}
		d.wantStatus(t, 400, "POST", dsNS+"/query", map[string]any{"queries": qs}, "11 queries in one request; the limit is 10")
		d.want(t, 200, "POST", dsNS+"/query", map[string]any{"queries": qs[:10]})
	})

	t.Run("a burst past the in-flight limit gets 429s and nothing hangs", func(t *testing.T) {
		var wg sync.WaitGroup
		codes := make(chan int, 20)
		start := time.Now()
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := d.httpClient().Do(d.newReq("GET", dsNS+"/resource/stream?chunks=3&delay=400ms", nil))
				if err != nil {
					codes <- 0
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
					codes <- -429
					return
				}
				codes <- resp.StatusCode
			}()
		}
		wg.Wait()
		close(codes)
		count := map[int]int{}
		for c := range codes {
			count[c]++
		}
		if count[200] < 4 || count[429] < 8 || count[200]+count[429] != 20 || time.Since(start) > 20*time.Second {
			t.Errorf("codes %v after %v, want at most 4 at a time served and the rest 429 with Retry-After", count, time.Since(start))
		}
		metrics := metricSeries(t, d)
		if metrics[`dpa_dataplane_rejected_total{kind="requests",limit="user"}`] < float64(count[429]) {
			t.Errorf("rejections not counted: %v", metrics[`dpa_dataplane_rejected_total{kind="requests",limit="user"}`])
		}
	})

	t.Run("a slow body is cut off at its deadline", func(t *testing.T) {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(d.url, "https://"), &tls.Config{RootCAs: caPool(t, d)})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		fmt.Fprintf(conn, "POST %s/resource/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 1000\r\n\r\nx", dsNS, d.token)
		_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		b, _ := io.ReadAll(io.LimitReader(conn, 4096))
		if took := time.Since(start); !strings.HasPrefix(string(b), "HTTP/1.1 408") || took < 1500*time.Millisecond || took > 10*time.Second {
			t.Errorf("after %v: %.200s", took, b)
		}
	})

	// Every path class, with or without a credential: the connection is closed at the
	// deadline (2s here), not held for as long as the client trickles its body.
	before := metricSeries(t, d)["dpa_request_body_read_timeouts_total"]
	for name, tc := range map[string]struct{ path, auth string }{
		"resource API, bogus token":            {"/apis/aggregation.grafana.app/v0alpha1/dataplaneservices", "Bearer bogus"},
		"resource API, no credential":          {"/apis/aggregation.grafana.app/v0alpha1/dataplaneservices", ""},
		"access review, signed in":             {"/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "Bearer " + d.token},
		"data plane, bogus token":              {dsNS + "/query", "Bearer bogus"},
		"UI sign-in":                           {"/ui/login", ""},
		"a path nothing serves, no credential": {"/nothing", ""},
	} {
		t.Run("slow body: "+name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", strings.TrimPrefix(d.url, "https://"), &tls.Config{RootCAs: caPool(t, d)})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			auth := ""
			if tc.auth != "" {
				auth = "Authorization: " + tc.auth + "\r\n"
			}
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", tc.path, auth)
			// The client keeps trickling; the server must close the connection itself.
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(200 * time.Millisecond):
						if _, err := conn.Write([]byte(" ")); err != nil {
							return
						}
					}
				}
			}()
			_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.Copy(io.Discard, conn); err != nil {
				t.Errorf("the connection was still open after 20s of a trickled body: %v", err)
			}
		})
	}
	if after := metricSeries(t, d)["dpa_request_body_read_timeouts_total"]; after-before < 6 {
		t.Errorf("dpa_request_body_read_timeouts_total grew by %v, want 6", after-before)
	}

	t.Run("files are private in a 0755 data dir", func(t *testing.T) {
		err := filepath.Walk(dataDir, func(p string, info os.FileInfo, err error) error {
			if err != nil || p == dataDir {
				return err
			}
			if info.Mode()&0o077 != 0 && info.Mode()&os.ModeSymlink == 0 {
				t.Errorf("%s is %v", strings.TrimPrefix(p, dataDir), info.Mode())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dataDir, "state.db")); err != nil {
			t.Errorf("no SQLite file to check: %v", err)
		}
	})

	t.Run("TLS: no CBC suites, TLS 1.2 minimum, HSTS", func(t *testing.T) {
		addr := strings.TrimPrefix(d.url, "https://")
		cbc := &tls.Config{RootCAs: caPool(t, d), MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
				tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_RSA_WITH_AES_128_CBC_SHA}}
		if c, err := tls.Dial("tcp", addr, cbc); err == nil {
			c.Close()
			t.Errorf("a TLS 1.2 CBC-only client was served (%s)", tls.CipherSuiteName(c.ConnectionState().CipherSuite))
		}
		if c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: caPool(t, d), MaxVersion: tls.VersionTLS11}); err == nil {
			c.Close()
			t.Error("TLS 1.1 was served")
		}
		gcm := &tls.Config{RootCAs: caPool(t, d), MaxVersion: tls.VersionTLS12}
		c, err := tls.Dial("tcp", addr, gcm)
		if err != nil {
			t.Fatalf("TLS 1.2 with the default suites: %v", err)
		}
		c.Close()
		resp, _ := d.call(t, "GET", "/version", nil)
		if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=31536000") {
			t.Errorf("Strict-Transport-Security %q", hsts)
		}
	})
}

func caPool(t *testing.T, d *server) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.dataDir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(b)
	return p
}

// vmHWM is a process's peak resident set size in MiB.
func vmHWM(t *testing.T, pid int) float64 {
	t.Helper()
	kb := proc.StatusKiB(pid, "VmHWM")
	if kb < 0 {
		t.Fatalf("no VmHWM for pid %d", pid)
	}
	return float64(kb) / 1024
}

// MemoryCeilingMiB is the documented bound on dpa's peak RSS in TestMemoryCeiling (README,
// "Limits and hardening").
const MemoryCeilingMiB = 280

// TestMemoryCeiling: the burst that once took dpa from 105 MiB to 3.2 GiB — three requests
// of 5,000 queries at once — and three of the largest accepted answers at once (100 queries
// of 2,000 rows each) keep dpa's peak RSS under MemoryCeilingMiB.
func TestMemoryCeiling(t *testing.T) {
	d := startServer(t, "", "--plugins-dir", examplePlugins(t), "--provisioning", func() string {
		prov := t.TempDir()
		writeProvisioning(t, prov, datasourcesYAML("http://127.0.0.1:1"), appsYAML)
		return prov
	}())
	d.kc(t, "apply", "-f", filepath.Join(repo, "examples", "dataplaneservices", "example-datasource.yaml"))
	d.kc(t, "wait", "--for=condition=Available", "dataplaneservice/example-datasource", "--timeout=60s")
	burst := func(n, points int, want int) {
		var qs []map[string]any
		for i := range n {
			qs = append(qs, map[string]any{"refId": fmt.Sprint("Q", i), "scenario": "table", "points": points})
		}
		var wg sync.WaitGroup
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := d.httpClient().Do(d.newReq("POST", dsNS+"/query", map[string]any{"queries": qs}))
				if err != nil {
					t.Error(err)
					return
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Errorf("%d queries of %d points: %d (%d bytes)", len(qs), points, resp.StatusCode, n)
				}
			}()
		}
		wg.Wait()
	}
	before := vmHWM(t, d.pid())
	burst(5000, 10, 400) // refused before any plugin call
	burst(100, 2000, 200)
	after := vmHWM(t, d.pid())
	t.Logf("dpa peak RSS: %.0f MiB at start, %.0f MiB after the bursts", before, after)
	if after > MemoryCeilingMiB {
		t.Errorf("dpa peak RSS %.0f MiB is over the documented ceiling of %d MiB", after, MemoryCeilingMiB)
	}
}
