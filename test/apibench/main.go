// Command apibench measures the resource API of a real dpa: cold start to ready, create and
// get latency over N objects (sequential, HTTPS keep-alive), and idle RSS. Run it with
// `make bench-api` (or go run ./test/apibench -dpa bin/dpa).
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dataplane-aggregator/dpa/test/internal/proc"
)

const collection = "/apis/aggregation.grafana.app/v0alpha1/dataplaneservices"

func main() {
	bin := flag.String("dpa", "bin/dpa", "dpa binary")
	n := flag.Int("n", 1000, "objects to create and get")
	storage := flag.String("storage", "", "--storage for dpa (default: SQLite)")
	keep := flag.String("dir", "", "data dir to use and keep (default: a temporary one); objects already in it are not created again")
	kubeBin := flag.String("kube-apiserver", "", "also measure this kube-apiserver's restart with n objects of the same CRD, as the anchor (with -etcd; make kube-bins builds both)")
	etcdBin := flag.String("etcd", "", "etcd for -kube-apiserver")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the restart (from the first request dpa accepts until /readyz) to this file")
	flag.Parse()
	if err := run(*bin, *n, *storage, *keep, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "apibench:", err)
		os.Exit(1)
	}
	if *kubeBin != "" {
		if err := kubeAnchor(*kubeBin, *etcdBin, *n); err != nil {
			fmt.Fprintln(os.Stderr, "apibench: anchor:", err)
			os.Exit(1)
		}
	}
}

func run(bin string, n int, storage, keep, profile string) error {
	dir := keep
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "dpa-apibench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	args := []string{"serve", "--data-dir", dir, "--secure-port", strconv.Itoa(port), "--log-level", "warn"}
	if storage != "" {
		args = append(args, "--storage", storage)
	}
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	// start runs dpa and returns once /readyz answers 200 (which waits for the route table
	// to hold every stored DataPlaneService), with the time that took.
	var cmd *exec.Cmd
	// profiled, when set, is called once dpa accepts connections and returns when it is ready.
	var profiled func(ready <-chan struct{})
	profileDone := make(chan struct{})
	start := func() (time.Duration, error) {
		cmd = exec.Command(bin, args...)
		cmd.Stderr = io.Discard
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		ready := make(chan struct{})
		defer close(ready)
		profiling := profiled == nil
		for {
			if !profiling {
				if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
					c.Close()
					profiling = true
					go profiled(ready)
				}
			}
			resp, err := insecure.Get(base + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return time.Since(t0), nil
				}
			}
			if time.Since(t0) > 5*time.Minute {
				return 0, fmt.Errorf("not ready after 5m")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	coldStart, err := start()
	if err != nil {
		return err
	}
	defer func() { stop() }()

	token, err := os.ReadFile(filepath.Join(dir, "admin-token"))
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(filepath.Join(dir, "pki", "ca.crt"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	do := func(method, path string, body []byte, want int) (time.Duration, error) {
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		req.Header.Set("Content-Type", "application/json")
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(t0)
		if resp.StatusCode != want {
			return 0, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return d, nil
	}

	creates := make([]time.Duration, 0, n)
	first := 0
	if keep != "" {
		var l struct{ Items []json.RawMessage }
		req, _ := http.NewRequest("GET", base+collection, nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		if resp, err := client.Do(req); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&l)
			resp.Body.Close()
		}
		first = len(l.Items)
	}
	for i := first; i < n; i++ {
		obj, _ := json.Marshal(map[string]any{
			"apiVersion": "aggregation.grafana.app/v0alpha1", "kind": "DataPlaneService",
			"metadata": map[string]any{"name": fmt.Sprintf("bench-%05d", i)},
			"spec": map[string]any{"pluginID": "bench", "pluginType": "datasource",
				"group": fmt.Sprintf("g%05d.bench.grafana.app", i), "version": "v1",
				"services": []any{map[string]any{"type": "query"}}},
		})
		d, err := do("POST", collection, obj, 201)
		if err != nil {
			return err
		}
		creates = append(creates, d)
	}
	if len(creates) == 0 {
		creates = append(creates, 0)
	}
	gets := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		d, err := do("GET", fmt.Sprintf("%s/bench-%05d", collection, i), nil, 200)
		if err != nil {
			return err
		}
		gets = append(gets, d)
	}
	listStart := time.Now()
	if _, err := do("GET", collection, nil, 200); err != nil {
		return err
	}
	list := time.Since(listStart)
	// kubectl get dps: a server-side Table of every object, as a user types it.
	kubectlStart := time.Now()
	kubectlOut, kubectlErr := exec.Command("kubectl", "--kubeconfig", filepath.Join(dir, "kubeconfig"), "get", "dps", "--no-headers").Output()
	kubectlTime := time.Since(kubectlStart)
	if kubectlErr != nil {
		return fmt.Errorf("kubectl get dps: %w", kubectlErr)
	}

	time.Sleep(5 * time.Second) // let the reconciler's status writes settle
	rss := proc.StatusKiB(cmd.Process.Pid, "VmRSS")
	metricsReq, _ := http.NewRequest("GET", base+"/metrics", nil)
	metricsReq.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	var metrics string
	if resp, err := client.Do(metricsReq); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics = string(b)
	}

	stop()
	if profile != "" {
		profiled = func(ready <-chan struct{}) {
			// A 30 s profile from the first accepted connection: it covers the restart to
			// ready (and what follows it within the 30 s).
			t0 := time.Now()
			req, _ := http.NewRequest("GET", base+"/debug/pprof/profile?seconds=30", nil)
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
			go func() {
				defer close(profileDone)
				long := &http.Client{Timeout: 90 * time.Second, Transport: client.Transport}
				resp, err := long.Do(req)
				if err != nil {
					fmt.Fprintln(os.Stderr, "apibench: profile:", err)
					return
				}
				defer resp.Body.Close()
				f, err := os.Create(profile)
				if err == nil {
					_, _ = io.Copy(f, resp.Body)
					f.Close()
				}
			}()
			<-ready
			fmt.Fprintf(os.Stderr, "apibench: profiling began %s before ready\n", time.Since(t0).Round(time.Millisecond))
		}
	}
	warmStart, err := start()
	if err != nil {
		return err
	}
	time.Sleep(5 * time.Second)
	steady := proc.StatusKiB(cmd.Process.Pid, "VmRSS")
	// VmHWM is the peak resident set since the process started: the restart's peak.
	peak := proc.StatusKiB(cmd.Process.Pid, "VmHWM")

	fmt.Printf("cold start to /readyz 200: %s\n", coldStart.Round(time.Millisecond))
	fmt.Printf("restart with %d objects to /readyz 200 (every route in the table): %s\n", n, warmStart.Round(time.Millisecond))
	fmt.Printf("create x%d: p50 %s  p99 %s\n", n, pct(creates, 50), pct(creates, 99))
	fmt.Printf("get    x%d: p50 %s  p99 %s\n", n, pct(gets, 50), pct(gets, 99))
	fmt.Printf("list of %d objects: %s\n", n, list.Round(time.Millisecond))
	fmt.Printf("kubectl get dps (%d rows): %s\n", strings.Count(string(kubectlOut), "\n"), kubectlTime.Round(time.Millisecond))
	fmt.Printf("server-side mean (apiserver_request_duration_seconds): create %s, get %s, status update %s\n",
		serverMean(metrics, `verb="POST"`, `subresource=""`), serverMean(metrics, `verb="GET"`, `scope="resource",subresource=""`),
		serverMean(metrics, `verb="PUT"`, `subresource="status"`))
	fmt.Printf("storage mean (etcd_request_duration_seconds): create %s, update %s\n",
		storageMean(metrics, "create"), storageMean(metrics, "update"))
	fmt.Printf("RSS after the run, idle 5s: %d MiB\n", rss/1024)
	fmt.Printf("restart with %d objects: peak RSS (VmHWM, restart to 5 s after) %d MiB, RSS 5 s after ready %d MiB\n", n, peak/1024, steady/1024)
	if profile != "" {
		<-profileDone
	}
	return nil
}

func pct(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100].Round(time.Microsecond)
}

// serverMean is sum/count of the API server's request duration for DataPlaneService
// requests whose labels contain all of match.
func serverMean(metrics string, match ...string) string {
	return mean(metrics, "apiserver_request_duration_seconds", append(match, `resource="dataplaneservices"`)...)
}

func storageMean(metrics, op string) string {
	return mean(metrics, "etcd_request_duration_seconds", `operation="`+op+`"`, `resource="dataplaneservices"`)
}

func mean(metrics, name string, match ...string) string {
	var sum, count float64
	for _, line := range strings.Split(metrics, "\n") {
		isSum, isCount := strings.HasPrefix(line, name+"_sum{"), strings.HasPrefix(line, name+"_count{")
		if !isSum && !isCount {
			continue
		}
		ok := true
		for _, m := range match {
			ok = ok && strings.Contains(line, m)
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if !ok || err != nil {
			continue
		}
		if isSum {
			sum += v
		} else {
			count += v
		}
	}
	if count == 0 {
		return "n/a"
	}
	return time.Duration(sum / count * float64(time.Second)).Round(time.Microsecond).String()
}
