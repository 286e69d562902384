package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/dataplane-aggregator/dpa/internal/testpki"
)

var (
	kubeAPIServerBin = flag.String("kube-apiserver", "bin/kube-apiserver", "kube-apiserver binary for the topology section (`make kube-bins`)")
	etcdBin          = flag.String("etcd", "bin/etcd", "etcd binary for the topology section (`make kube-bins`)")
	behindFlags      = flag.String("topology-behind-flags", "", "more `dpa serve` flags (space-separated) for the dpa behind the kube-apiserver, e.g. --disable-http2-serving")
)

// The topology section's users: a static token of the kube-apiserver and one of dpa's
// --token-auth-file, both in system:masters (the cluster's admin; dpa's server admin).
const (
	kubeBenchToken = "bench-kube-token"
	dpaBenchToken  = "bench-dpa-token"
)

// topologySection measures the two hops of docs/topology.md on loopback, at concurrency 1
// (keep-alive client), each against its direct baseline in the same run:
//
//  1. the example datasource's QueryData through dpa's HTTP route, (a) sent to dpa directly
//     and (b) through a real kube-apiserver's aggregator (dpa as an aggregated API server:
//     an APIService for v0alpha1.example.datasource.grafana.app → a Service of type
//     ExternalName localhost; dpa trusts the aggregator's --proxy-client-cert-file);
//  2. GET /api/v1/namespaces/default, which the kube-apiserver serves itself, (a) sent to it
//     directly and (b) through dpa as its front proxy (--delegate-url with a client
//     certificate of the kube-apiserver's --requestheader-client-ca-file).
//
// The kube-apiserver and its etcd (plain HTTP on loopback) come from -kube-apiserver and
// -etcd; without them the section prints "skipped: …".
func topologySection(ctx context.Context, tmp string) error {
	fmt.Println("## Topology hops: kube-apiserver → dpa (aggregated API server) and dpa → kube-apiserver (front proxy), concurrency 1")
	for _, bin := range []string{*kubeAPIServerBin, *etcdBin} {
		if _, err := os.Stat(bin); err != nil {
			fmt.Printf("skipped: %s not found (run `make kube-bins`, or pass -kube-apiserver/-etcd): %v\n\n", bin, err)
			return nil
		}
	}
	dir, err := os.MkdirTemp("", "dpa-topo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	k, err := startKubeCluster(dir)
	if k != nil {
		defer k.stop()
	}
	if err != nil {
		fmt.Printf("skipped: the kube-apiserver did not start: %v\n\n", err)
		return nil
	}

	// dpa behind the kube-apiserver: trusts the aggregator's client certificate.
	behind, err := startDPA(filepath.Join(tmp, "topology-behind"), append([]string{
		"--requestheader-client-ca-file", k.frontProxyCA, "--requestheader-allowed-names", "front-proxy-client",
		"--tls-san", "dpa.default.svc"}, strings.Fields(*behindFlags)...)...)
	if err != nil {
		return fmt.Errorf("dpa behind the kube-apiserver: %w", err)
	}
	defer behind.stop()
	if err := k.registerDPA(ctx, behind); err != nil {
		return err
	}

	// dpa in front of the kube-apiserver: its front proxy, with a user of its own in
	// system:masters.
	tokens := filepath.Join(dir, "dpa-tokens.csv")
	if err := os.WriteFile(tokens, []byte(dpaBenchToken+",bench,bench-uid,\"system:masters\"\n"), 0o600); err != nil {
		return err
	}
	front, err := startDPA(filepath.Join(tmp, "topology-front"), "--token-auth-file", tokens,
		"--delegate-url", k.url, "--delegate-ca-file", k.servingCA,
		"--delegate-client-cert-file", k.dpaProxyCert, "--delegate-client-key-file", k.dpaProxyKey)
	if err != nil {
		return fmt.Errorf("dpa in front of the kube-apiserver: %w", err)
	}
	defer front.stop()

	queryPath := "/apis/" + dsGroup + "/v0alpha1/namespaces/default/datasources/" + dsUID + "/query"
	qbody := []byte(`{"from":"now-1h","to":"now","queries":[` + string(queryJSON) + `]}`)
	nsPath := "/api/v1/namespaces/default"
	kubeTarget := target{client: k.client, url: k.url, token: kubeBenchToken}
	behindTarget := target{client: behind.client, url: behind.url, token: behind.token}
	frontTarget := target{client: front.client, url: front.url, token: dpaBenchToken}
	query := func(t target) callFunc {
		return func(ctx context.Context) error {
			return t.expect(ctx, "POST", queryPath, qbody, `"results":{"A"`)
		}
	}
	ns := func(t target) callFunc {
		return func(ctx context.Context) error {
			return t.expect(ctx, "GET", nsPath, nil, `"name":"default"`)
		}
	}
	// Both ways answer before anything is timed (the APIService may take a moment).
	checks := map[string]callFunc{
		"query → dpa": query(behindTarget), "query → kube-apiserver → dpa": query(kubeTarget),
		"namespace → kube-apiserver": ns(kubeTarget), "namespace → dpa → kube-apiserver": ns(frontTarget),
	}
	for name, f := range checks {
		var err error
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			if err = f(ctx); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}

	behindPlugin := behind.pluginPID()
	pidsOf := func(dpaPID int, more ...int) []int {
		return append([]int{k.cmd.Process.Pid, k.etcd.Process.Pid, dpaPID}, more...)
	}
	idle := idleCPU([]int{k.cmd.Process.Pid, k.etcd.Process.Pid, behind.cmd.Process.Pid, front.cmd.Process.Pid}, 2*time.Second)

	type row struct {
		hop, path string
		r         result
		base      *result
		conns     string
	}
	var rows []row
	run := func(hop, path string, f callFunc, pids []int, port int, base *result, profiles map[string]target) result {
		var stops []func()
		if *profileDir != "" {
			for file, t := range profiles {
				stops = append(stops, t.profile(ctx, filepath.Join(*profileDir, file)))
			}
		}
		before := connCount(port)
		r := measure(ctx, 1, f, pids)
		for _, stop := range stops {
			stop()
		}
		if r.errs > 0 {
			fmt.Fprintf(os.Stderr, "bench: topology %s: %d errors (last: %v)\n", path, r.errs, r.lastErr)
		}
		conns := fmt.Sprintf("%d→%d", before, connCount(port))
		rows = append(rows, row{hop, path, r, base, conns})
		return r
	}
	behindPort, kubePort := urlPort(behind.url), urlPort(k.url)
	a1 := run("1", "client → dpa", query(behindTarget), pidsOf(behind.cmd.Process.Pid, behindPlugin), behindPort, nil,
		map[string]target{"dpa-topology-direct.pprof": behindTarget})
	run("1", "client → kube-apiserver → dpa", query(kubeTarget), pidsOf(behind.cmd.Process.Pid, behindPlugin), behindPort, &a1,
		map[string]target{"dpa-topology-via-kube.pprof": behindTarget, "kube-topology-aggregator.pprof": kubeTarget})
	a2 := run("2", "client → kube-apiserver", ns(kubeTarget), pidsOf(front.cmd.Process.Pid), kubePort, nil,
		map[string]target{"kube-topology-direct.pprof": kubeTarget})
	run("2", "client → dpa → kube-apiserver", ns(frontTarget), pidsOf(front.cmd.Process.Pid), kubePort, &a2,
		map[string]target{"dpa-topology-front.pprof": frontTarget, "kube-topology-behind-dpa.pprof": kubeTarget})

	proto := "HTTP/1.1 keep-alive"
	if *http2Flag {
		proto = "HTTP/2"
	}
	fmt.Printf("hop 1: POST …/datasources/%s/query (QueryData, random_walk) to dpa directly vs through the aggregator;\n", dsUID)
	fmt.Printf("hop 2: GET %s directly vs through dpa (--delegate-url). Client: %s, one connection.\n", nsPath, proto)
	if *behindFlags != "" {
		fmt.Printf("dpa behind the kube-apiserver runs with: %s\n", *behindFlags)
	}
	fmt.Println("CPU µs/op per process over the measured window (dpa = the dpa of that hop; plugin = its example-datasource).")
	fmt.Println("conns: TCP sockets on the port of the server behind (hop 1: dpa, hop 2: the kube-apiserver), established +")
	fmt.Println("TIME_WAIT, before → after the window (new connections per request would show here; the kube-apiserver keeps")
	fmt.Println("loopback connections to itself too).")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "hop\tpath\tops/s\tp50\tp99\tp50 ×\tadded p50\tclient\tkube-apiserver\tetcd\tdpa\tplugin\tΔ kube CPU\tΔ dpa CPU\tconns\t")
	for _, r := range rows {
		c := r.r.cpu // client, kube, etcd, dpa, plugin
		plugin := "–"
		if len(c) > 4 {
			plugin = fmt.Sprintf("%.0f", c[4])
		}
		ratio, added, dk, dd := "", "", "", ""
		if r.base != nil {
			ratio = fmt.Sprintf("%.2f", float64(r.r.p50)/float64(r.base.p50))
			added = us(r.r.p50 - r.base.p50)
			dk = fmt.Sprintf("%+.0f", c[1]-r.base.cpu[1])
			dd = fmt.Sprintf("%+.0f", c[3]-r.base.cpu[3])
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%.0f\t%.0f\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t\n", r.hop, r.path,
			r.r.opsPerSec, us(r.r.p50), us(r.r.p99), ratio, added, c[0], c[1], c[2], c[3], plugin, dk, dd, r.conns)
	}
	_ = tw.Flush()
	fmt.Printf("idle CPU (µs per second, before the runs): kube-apiserver %.0f, etcd %.0f, dpa behind %.0f, dpa in front %.0f\n\n",
		idle[0], idle[1], idle[2], idle[3])
	return nil
}

// target is a server and the credentials the benchmark's user presents to it.
type target struct {
	client *http.Client
	url    string
	token  string
}

func (t target) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	return call(ctx, t.client, t.url, t.token, method, path, body)
}

// expect sends the request and wants 200 with want in the body.
func (t target) expect(ctx context.Context, method, path string, body []byte, want string) error {
	code, b, err := t.do(ctx, method, path, body)
	if err == nil && (code != 200 || !bytes.Contains(b, []byte(want))) {
		err = fmt.Errorf("%s %s: HTTP %d: %.300s", method, path, code, b)
	}
	return err
}

// profile starts a CPU profile of t's server (/debug/pprof, its admin) for warm-up +
// duration; the returned func waits for it and writes it to path.
func (t target) profile(ctx context.Context, path string) func() {
	secs := max(1, int((*warmup + *duration).Seconds()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		code, b, err := t.do(ctx, "GET", fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), nil)
		if err == nil && code != 200 {
			err = fmt.Errorf("HTTP %d: %.200s", code, b)
		}
		if err == nil {
			err = os.WriteFile(path, b, 0o644)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: profile %s: %v\n", path, err)
		}
	}()
	return func() { <-done }
}

// idleCPU is each pid's CPU time per second of wall time over window (µs/s).
func idleCPU(pids []int, window time.Duration) []float64 {
	c0 := make([]time.Duration, len(pids))
	for i, pid := range pids {
		c0[i] = cpuTime(pid)
	}
	time.Sleep(window)
	out := make([]float64, len(pids))
	for i, pid := range pids {
		out[i] = float64(cpuTime(pid)-c0[i]) / float64(time.Microsecond) / window.Seconds()
	}
	return out
}

func urlPort(u string) int {
	i := strings.LastIndexByte(u, ':')
	p, _ := strconv.Atoi(u[i+1:])
	return p
}

// connCount is the number of TCP sockets (IPv4 and IPv6) in state ESTABLISHED or TIME_WAIT
// whose local port is port (the server's side, and the TIME_WAIT left by the closing side
// of a loopback connection both show it). 0 when port is 0.
func connCount(port int) int {
	if port == 0 {
		return 0
	}
	hex := fmt.Sprintf(":%04X", port)
	n := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 4 {
				continue
			}
			// 01 ESTABLISHED, 06 TIME_WAIT
			if (fs[3] == "01" || fs[3] == "06") && (strings.HasSuffix(fs[1], hex) || strings.HasSuffix(fs[2], hex)) {
				n++
			}
		}
	}
	return n
}

// ---- a kube-apiserver with its etcd on loopback ----

type kubeCluster struct {
	dir          string
	url          string
	servingCA    string // verifies the kube-apiserver's serving certificate
	frontProxyCA string // --requestheader-client-ca-file; signs the aggregator's and dpa's client certificates
	dpaProxyCert string // dpa's client certificate as the kube-apiserver's front proxy
	dpaProxyKey  string
	client       *http.Client
	cmd, etcd    *exec.Cmd
	done, etcdCh chan error
	log, etcdLog *os.File
}

// startKubeCluster starts etcd (plain HTTP on loopback) and a kube-apiserver with RBAC, a
// static token in system:masters, a front-proxy CA (the aggregator's client certificate and
// dpa's are signed by it) and a serving CA of its own. On error the returned cluster (if
// any) still needs stop.
func startKubeCluster(dir string) (*kubeCluster, error) {
	k := &kubeCluster{dir: dir}
	fp, err := testpki.NewCA(dir, "front-proxy-ca")
	if err != nil {
		return nil, err
	}
	k.frontProxyCA = fp.File
	client := func(cn string) testpki.Spec { return testpki.Spec{CommonName: cn, Usage: x509.ExtKeyUsageClientAuth} }
	proxyClientCert, proxyClientKey, err := fp.IssueFiles(client("front-proxy-client"))
	if err != nil {
		return nil, err
	}
	if k.dpaProxyCert, k.dpaProxyKey, err = fp.IssueFiles(client("dpa-front-proxy")); err != nil {
		return nil, err
	}
	serving, err := testpki.NewCA(dir, "kube-serving-ca")
	if err != nil {
		return nil, err
	}
	k.servingCA = serving.File
	servingCert, servingKey, err := serving.IssueFiles(testpki.Spec{CommonName: "kube-apiserver", Usage: x509.ExtKeyUsageServerAuth})
	if err != nil {
		return nil, err
	}
	if err := testpki.WriteKeyPair(filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")); err != nil {
		return nil, err
	}
	tokens := filepath.Join(dir, "kube-tokens.csv")
	if err := os.WriteFile(tokens, []byte(kubeBenchToken+",bench-admin,bench-admin,system:masters\n"), 0o600); err != nil {
		return nil, err
	}

	etcdPort, err := freePort()
	if err != nil {
		return nil, err
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	if k.etcdLog, err = os.Create(filepath.Join(dir, "etcd.log")); err != nil {
		return nil, err
	}
	k.etcd = exec.Command(*etcdBin, "--name", "bench", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL, "--initial-cluster", "bench="+peerURL,
		"--log-level", "warn", "--unsafe-no-fsync")
	k.etcd.Stdout, k.etcd.Stderr = k.etcdLog, k.etcdLog
	if err := k.etcd.Start(); err != nil {
		return nil, err
	}
	k.etcdCh = make(chan error, 1)
	go func() { k.etcdCh <- k.etcd.Wait() }()
	plain := &http.Client{Timeout: time.Second}
	if err := waitFor(90*time.Second, k.etcdCh, k.etcdLog.Name(), func() bool {
		resp, err := plain.Get(etcdURL + "/health")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200 && bytes.Contains(b, []byte(`"health":"true"`))
	}); err != nil {
		return k, fmt.Errorf("etcd: %w", err)
	}

	port, err := freePort()
	if err != nil {
		return k, err
	}
	k.url = fmt.Sprintf("https://127.0.0.1:%d", port)
	// As test/e2e/kube_test.go starts it (priority and fairness off there too).
	args := []string{
		"--etcd-servers", etcdURL,
		"--secure-port", strconv.Itoa(port), "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--tls-cert-file", servingCert, "--tls-private-key-file", servingKey, "--cert-dir", filepath.Join(dir, "certs"),
		"--service-account-issuer", "https://kubernetes.default.svc", "--service-account-key-file", filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file", filepath.Join(dir, "sa.key"),
		"--authorization-mode", "RBAC", "--token-auth-file", tokens,
		"--service-cluster-ip-range", "10.96.0.0/24",
		"--requestheader-client-ca-file", fp.File, "--requestheader-allowed-names", "dpa-front-proxy",
		"--requestheader-username-headers", "X-Remote-User", "--requestheader-group-headers", "X-Remote-Group",
		"--requestheader-extra-headers-prefix", "X-Remote-Extra-",
		"--proxy-client-cert-file", proxyClientCert, "--proxy-client-key-file", proxyClientKey,
		"--enable-priority-and-fairness=false", "--v=0",
	}
	if k.log, err = os.Create(filepath.Join(dir, "kube-apiserver.log")); err != nil {
		return k, err
	}
	k.cmd = exec.Command(*kubeAPIServerBin, args...)
	k.cmd.Stdout, k.cmd.Stderr = k.log, k.log
	if err := k.cmd.Start(); err != nil {
		return k, err
	}
	k.done = make(chan error, 1)
	go func() { k.done <- k.cmd.Wait() }()
	caPEM, err := os.ReadFile(k.servingCA)
	if err != nil {
		return k, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	// As the driver's client to dpa: HTTP/1.1 keep-alive unless -http2.
	k.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64,
		ForceAttemptHTTP2: *http2Flag,
	}}
	kt := target{client: k.client, url: k.url, token: kubeBenchToken}
	if err := waitFor(120*time.Second, k.done, k.log.Name(), func() bool {
		code, _, err := kt.do(context.Background(), "GET", "/readyz", nil)
		return err == nil && code == 200
	}); err != nil {
		return k, fmt.Errorf("kube-apiserver: %w", err)
	}
	return k, nil
}

// waitFor polls ready every 200 ms until it is true, the process (done) exits, or limit.
func waitFor(limit time.Duration, done chan error, log string, ready func() bool) error {
	for deadline := time.Now().Add(limit); ; time.Sleep(200 * time.Millisecond) {
		select {
		case err := <-done:
			done <- err // for stop
			return fmt.Errorf("exited during start-up: %v (log: %s)", err, log)
		default:
		}
		if ready() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s (log: %s)", limit, log)
		}
	}
}

// registerDPA makes d the aggregated API server of the example datasource's group/version:
// a Service of type ExternalName (localhost, d's port) and an APIService with d's CA, and
// waits until the APIService is Available.
func (k *kubeCluster) registerDPA(ctx context.Context, d *dpa) error {
	caPEM, err := os.ReadFile(filepath.Join(d.dataDir, "pki", "ca.crt"))
	if err != nil {
		return err
	}
	port := urlPort(d.url)
	svc := map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "dpa", "namespace": "default"},
		"spec": map[string]any{"type": "ExternalName", "externalName": "localhost", "ports": []map[string]any{{"port": port}}}}
	apiSvc := map[string]any{"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": "v0alpha1." + dsGroup},
		"spec": map[string]any{"group": dsGroup, "version": "v0alpha1",
			"service":  map[string]any{"name": "dpa", "namespace": "default", "port": port},
			"caBundle": base64.StdEncoding.EncodeToString(caPEM), "groupPriorityMinimum": 1000, "versionPriority": 15}}
	kt := target{client: k.client, url: k.url, token: kubeBenchToken}
	for path, obj := range map[string]any{"/api/v1/namespaces/default/services": svc, "/apis/apiregistration.k8s.io/v1/apiservices": apiSvc} {
		b, _ := json.Marshal(obj)
		code, body, err := kt.do(ctx, "POST", path, b)
		if err != nil {
			return err
		}
		if code != 201 {
			return fmt.Errorf("POST %s: HTTP %d %.300s", path, code, body)
		}
	}
	var last string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		code, body, err := kt.do(ctx, "GET", "/apis/apiregistration.k8s.io/v1/apiservices/v0alpha1."+dsGroup, nil)
		if err != nil || code != 200 {
			last = fmt.Sprintf("%d %v", code, err)
			continue
		}
		var st struct {
			Status struct {
				Conditions []struct{ Type, Status, Message string }
			}
		}
		_ = json.Unmarshal(body, &st)
		for _, c := range st.Status.Conditions {
			if c.Type == "Available" {
				if c.Status == "True" {
					return nil
				}
				last = c.Message
			}
		}
	}
	return fmt.Errorf("APIService v0alpha1.%s not Available after 60s: %s", dsGroup, last)
}

func (k *kubeCluster) stop() {
	if k.client != nil {
		k.client.CloseIdleConnections()
	}
	for _, p := range []struct {
		cmd  *exec.Cmd
		done chan error
		log  *os.File
	}{{k.cmd, k.done, k.log}, {k.etcd, k.etcdCh, k.etcdLog}} {
		if p.log != nil {
			defer p.log.Close()
		}
		if p.cmd == nil || p.cmd.Process == nil || p.done == nil {
			continue
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// ---- certificates ----
