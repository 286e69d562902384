// Command soak runs a real dpa with the example plugins under mixed load — queries, resource
// calls, stream subscriptions and publishes, and DataPlaneService writes — while the example
// datasource's plugin is killed twice and dpa itself restarts once (SIGTERM, same data dir).
// It reports requests by kind and status, dpa's RSS over time, and whether every write the
// API acknowledged is still there at the end. Run it with `make soak` (not part of make test):
//
//	go run ./test/soak -dpa bin/dpa -plugins examples/plugins -provisioning examples/provisioning -duration 2m
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dataplane-aggregator/dpa/test/internal/proc"
)

const (
	collection = "/apis/aggregation.grafana.app/v0alpha1/dataplaneservices"
	dsBase     = "/apis/example.datasource.grafana.app/v0alpha1/namespaces/default/datasources/example"
)

type soak struct {
	bin, plugins, provisioning, dir string
	port                            int
	cmd                             *exec.Cmd
	client                          *http.Client
	token                           string

	mu     sync.Mutex
	counts map[string]map[int]int // kind → status (0: transport error) → count
	began  time.Time
	// codeSpan is when each status other than 200/201 was first and last seen (seconds).
	codeSpan map[int][2]float64
	rss      []string
	acked    []string // DataPlaneService names whose create answered 201
}

func main() {
	s := &soak{counts: map[string]map[int]int{}, codeSpan: map[int][2]float64{}}
	flag.StringVar(&s.bin, "dpa", "bin/dpa", "dpa binary")
	flag.StringVar(&s.plugins, "plugins", "examples/plugins", "plugins directory (built example plugins)")
	flag.StringVar(&s.provisioning, "provisioning", "examples/provisioning", "provisioning directory")
	duration := flag.Duration("duration", 2*time.Minute, "how long the load runs")
	workers := flag.Int("workers", 8, "concurrent load workers")
	flag.Parse()
	if err := s.run(*duration, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func (s *soak) start() error {
	s.cmd = exec.Command(s.bin, "serve", "--data-dir", s.dir, "--secure-port", strconv.Itoa(s.port), "--log-level", "warn",
		"--plugins-dir", s.plugins, "--provisioning", s.provisioning)
	// examples/provisioning's datasources point at dpa itself (${DPA_URL}), as with `make run`.
	s.cmd.Env = append(os.Environ(), fmt.Sprintf("DPA_URL=https://127.0.0.1:%d", s.port))
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, io.Discard
	if err := s.cmd.Start(); err != nil {
		return err
	}
	insecure := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // probe only
	for t0 := time.Now(); time.Since(t0) < 90*time.Second; time.Sleep(50 * time.Millisecond) {
		if resp, err := insecure.Get(s.url("/readyz")); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s.loadCredentials()
			}
		}
	}
	return fmt.Errorf("dpa not ready after 90s")
}

func (s *soak) loadCredentials() error {
	tok, err := os.ReadFile(filepath.Join(s.dir, "admin-token"))
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(filepath.Join(s.dir, "pki", "ca.crt"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	s.token = strings.TrimSpace(string(tok))
	s.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64}}
	return nil
}

func (s *soak) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
}

func (s *soak) url(p string) string { return fmt.Sprintf("https://127.0.0.1:%d%s", s.port, p) }

func (s *soak) count(kind string, code int) {
	if code == 0 {
		// dpa is down (its restart): do not spin on refused connections.
		time.Sleep(50 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if code != 200 && code != 201 && !s.began.IsZero() {
		at := time.Since(s.began).Seconds()
		span, seen := s.codeSpan[code]
		if !seen {
			span[0] = at
		}
		span[1] = at
		s.codeSpan[code] = span
	}
	if s.counts[kind] == nil {
		s.counts[kind] = map[int]int{}
	}
	s.counts[kind][code]++
}

// do sends one request and returns the status (0 on a transport error) and the body.
func (s *soak) do(ctx context.Context, method, path string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(ctx, method, s.url(path), rd)
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (s *soak) worker(ctx context.Context, id int, writes *atomic.Int64) {
	r := rand.New(rand.NewPCG(uint64(id), 7))
	for ctx.Err() == nil {
		switch k := r.IntN(10); {
		case k < 4:
			code, _ := s.do(ctx, "POST", dsBase+"/query", map[string]any{"queries": []map[string]any{
				{"refId": "A", "scenario": "table", "points": 100}, {"refId": "B"}}})
			s.count("query", code)
		case k < 7:
			code, _ := s.do(ctx, "GET", dsBase+"/resource/echo?x=1", nil)
			s.count("resource", code)
		case k < 8:
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			req, _ := http.NewRequestWithContext(sctx, "GET", s.url(dsBase+"/stream/ticks/100ms"), nil)
			req.Header.Set("Authorization", "Bearer "+s.token)
			code := 0
			if resp, err := s.client.Do(req); err == nil {
				code = resp.StatusCode
				_, _ = bufio.NewReader(resp.Body).ReadString('\n')
				resp.Body.Close()
			}
			cancel()
			s.count("stream", code)
		case k < 9:
			code, _ := s.do(ctx, "POST", dsBase+"/stream/ticks", map[string]int{"n": id})
			s.count("publish", code)
		default:
			n := writes.Add(1)
			name := fmt.Sprintf("soak-%06d", n)
			code, _ := s.do(ctx, "POST", collection, map[string]any{"apiVersion": "aggregation.grafana.app/v0alpha1", "kind": "DataPlaneService",
				"metadata": map[string]any{"name": name},
				"spec": map[string]any{"pluginID": "example-app", "pluginType": "app", "group": name + ".grafana.app", "version": "v1",
					"services": []any{map[string]any{"type": "health"}}}})
			s.count("create", code)
			if code == http.StatusCreated {
				s.mu.Lock()
				s.acked = append(s.acked, name)
				s.mu.Unlock()
			}
		}
	}
}

func (s *soak) pluginPID() int {
	_, b := s.do(context.Background(), "GET", dsBase+"/resource/pid", nil)
	var p struct{ PID int }
	_ = json.Unmarshal(b, &p)
	return p.PID
}

func rssMiB(pid int) int { return proc.StatusKiB(pid, "VmRSS") / 1024 }

func (s *soak) event(start time.Time, what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rss = append(s.rss, fmt.Sprintf("%6.1fs  %s", time.Since(start).Seconds(), what))
}

func (s *soak) run(duration time.Duration, workers int) error {
	dir, err := os.MkdirTemp("", "dpa-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s.dir = dir
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	if err := s.start(); err != nil {
		return err
	}
	defer func() { s.stop() }()
	for _, f := range []string{"example-datasource.yaml", "example-app.yaml"} {
		b, err := os.ReadFile(filepath.Join("examples", "dataplaneservices", f))
		if err != nil {
			return err
		}
		cmd := exec.Command("kubectl", "--kubeconfig", filepath.Join(dir, "kubeconfig"), "apply", "-f", "-")
		cmd.Stdin = bytes.NewReader(b)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("kubectl apply %s: %v: %s", f, err, out)
		}
	}
	for t0 := time.Now(); ; time.Sleep(200 * time.Millisecond) {
		if code, _ := s.do(context.Background(), "GET", dsBase+"/health", nil); code == 200 {
			break
		}
		if time.Since(t0) > 60*time.Second {
			return fmt.Errorf("the example datasource did not become healthy")
		}
	}

	start := time.Now()
	s.mu.Lock()
	s.began = start
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var writes atomic.Int64
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() { defer wg.Done(); s.worker(ctx, i, &writes) }()
	}
	// RSS every 10 s; faults at 1/4 (plugin killed), 1/2 (dpa restarted), 3/4 (plugin killed).
	faults := []struct {
		at   time.Duration
		what string
		do   func() error
	}{
		{duration / 4, "SIGKILL to the example datasource's plugin", func() error { return syscall.Kill(s.pluginPID(), syscall.SIGKILL) }},
		{duration / 2, "dpa restarted (SIGTERM, then started again on the same data dir)", func() error { s.stop(); return s.start() }},
		{3 * duration / 4, "SIGKILL to the example datasource's plugin", func() error { return syscall.Kill(s.pluginPID(), syscall.SIGKILL) }},
	}
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	s.event(start, fmt.Sprintf("RSS %d MiB", rssMiB(s.cmd.Process.Pid)))
loop:
	for {
		next := time.Until(start.Add(duration))
		if len(faults) > 0 {
			next = time.Until(start.Add(faults[0].at))
		}
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			s.event(start, fmt.Sprintf("RSS %d MiB", rssMiB(s.cmd.Process.Pid)))
		case <-time.After(next):
			if len(faults) == 0 {
				continue
			}
			f := faults[0]
			faults = faults[1:]
			if err := f.do(); err != nil {
				s.event(start, f.what+": "+err.Error())
			} else {
				s.event(start, f.what)
			}
		}
	}
	wg.Wait()
	s.event(start, fmt.Sprintf("RSS %d MiB (end of load)", rssMiB(s.cmd.Process.Pid)))

	// Every acknowledged create is still there.
	code, b := s.do(context.Background(), "GET", collection, nil)
	if code != 200 {
		return fmt.Errorf("final list: %d", code)
	}
	var list struct {
		Items []struct{ Metadata struct{ Name string } }
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	have := map[string]bool{}
	for _, it := range list.Items {
		have[it.Metadata.Name] = true
	}
	var lost []string
	for _, n := range s.acked {
		if !have[n] {
			lost = append(lost, n)
		}
	}

	fmt.Printf("## Soak: %s, %d workers, example plugins, SQLite\n\n", duration, workers)
	fmt.Println("| kind | status → requests |")
	fmt.Println("|---|---|")
	kinds := make([]string, 0, len(s.counts))
	total := 0
	for k := range s.counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		codes := make([]int, 0, len(s.counts[k]))
		for c, n := range s.counts[k] {
			codes = append(codes, c)
			total += n
		}
		sort.Ints(codes)
		var parts []string
		for _, c := range codes {
			label := strconv.Itoa(c)
			if c == 0 {
				label = "transport error"
			}
			parts = append(parts, fmt.Sprintf("%s: %d", label, s.counts[k][c]))
		}
		fmt.Printf("| %s | %s |\n", k, strings.Join(parts, ", "))
	}
	fmt.Printf("\n%d requests in %s (%.0f/s).\n\n", total, duration, float64(total)/duration.Seconds())
	fmt.Println("Timeline (dpa RSS and faults):")
	fmt.Println()
	fmt.Println("```")
	for _, l := range s.rss {
		fmt.Println(l)
	}
	fmt.Println("```")
	fmt.Println()
	fmt.Println("When each other status was seen (first … last, seconds into the run):")
	fmt.Println()
	spanCodes := make([]int, 0, len(s.codeSpan))
	for c := range s.codeSpan {
		spanCodes = append(spanCodes, c)
	}
	sort.Ints(spanCodes)
	for _, c := range spanCodes {
		label := strconv.Itoa(c)
		if c == 0 {
			label = "transport error"
		}
		fmt.Printf("- %s: %.1f … %.1f\n", label, s.codeSpan[c][0], s.codeSpan[c][1])
	}
	fmt.Printf("\nAcknowledged creates: %d; missing at the end: %d %v\n", len(s.acked), len(lost), lost)
	if len(lost) > 0 {
		return fmt.Errorf("%d acknowledged writes lost", len(lost))
	}
	return nil
}
