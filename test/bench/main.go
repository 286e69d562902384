// Command bench measures the data plane's overhead (scripts/bench.sh runs it; see
// docs/benchmarks.md). In one run it:
//
//   - makes the same QueryData and CallResource calls (a) directly over gRPC to the example
//     datasource plugin, started by pkg/pluginhost exactly as dpa starts it, and (b) over
//     HTTPS with keep-alive through a real `dpa serve` (its own plugin process), at
//     concurrency 1 and 16, and prints ops/s, p50, p99, the throughput ratio (b)/(a), the
//     added p50 (b − a) and the CPU time per op of every process involved (driver, dpa,
//     plugin; from /proc, so that CPU contention on a small machine can be accounted for);
//   - times the data plane's route lookup + dispatch in-process with 1 and 10,000
//     registrations (a discovery request, which needs no plugin);
//   - times apply → route live: create a DataPlaneService through the API and poll its route
//     until the plugin answers (p50 over -live-reps repetitions);
//   - measures the topology hops (topology.go): a plugin query through a real kube-apiserver's
//     aggregator to dpa vs to dpa directly, and a request the kube-apiserver serves itself
//     through dpa as its front proxy vs directly.
//
// -only, -calls and -conc select scenarios, -http2 switches the HTTPS client to HTTP/2 and
// -dpa-profile saves a CPU profile of dpa per through-dpa scenario.
//
// Numbers are measured and reported, never asserted.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
	"github.com/dataplane-aggregator/dpa/pkg/dataplane"
	"github.com/dataplane-aggregator/dpa/pkg/pluginhost"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

var (
	dpaBin      = flag.String("dpa", "bin/dpa", "dpa binary")
	pluginsDir  = flag.String("plugins", "", "plugins directory with the built example plugins (required)")
	duration    = flag.Duration("duration", 3*time.Second, "measuring time per scenario")
	warmup      = flag.Duration("warmup", 500*time.Millisecond, "warm-up time per scenario")
	liveReps    = flag.Int("live-reps", 20, "apply → route-live repetitions")
	lookupIters = flag.Int("lookup-iters", 200000, "in-process lookup iterations per size")
	dpaLogLevel = flag.String("dpa-log-level", "info", "dpa --log-level for the run (info is the default in production)")
	callsFlag   = flag.String("calls", "QueryData,CallResource", "comma-separated calls to compare (QueryData, CallResource)")
	concFlag    = flag.String("conc", "1,16", "comma-separated client concurrencies")
	only        = flag.String("only", "", "comma-separated sections to run (compare, floor, instr, lookup, live, memory, replicas, scale, topology; default all)")
	http2Flag   = flag.Bool("http2", false, "HTTP/2 for the client to dpa (default HTTP/1.1 keep-alive, one connection per client)")
	think       = flag.Duration("think", 0, "pause between two calls of one client (default none; e.g. 300µs makes the direct calls as sparse as the calls through dpa)")
	profileDir  = flag.String("dpa-profile", "", "save a CPU profile of dpa (via /debug/pprof) for every through-dpa scenario into this directory")
	instrCalls  = flag.Int("instr-calls", 500, "calls per scenario counted by callgrind in the instr section")
	instrDir    = flag.String("instr-dir", "", "keep the instr section's callgrind dumps in this directory (for callgrind_annotate)")
)

func section(name string) bool {
	return *only == "" || slices.Contains(strings.Split(*only, ","), name)
}

func concurrencies() []int {
	var out []int
	for _, f := range strings.Split(*concFlag, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

const (
	dsUID   = "bench"
	dsGroup = "example.datasource.grafana.app"
)

func main() {
	flag.Parse()
	if *pluginsDir == "" {
		fmt.Fprintln(os.Stderr, "bench: -plugins is required")
		os.Exit(2)
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tmp, err := os.MkdirTemp("", "dpa-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	fmt.Printf("dpa data-plane benchmark — %s, GOMAXPROCS=%s, %s per scenario (+%s warm-up)\n\n",
		time.Now().UTC().Format(time.RFC3339), gomaxprocs(), *duration, *warmup)

	// (a) the plugin over gRPC, started by pluginhost as dpa does.
	host, plugin, err := startDirect(ctx, *pluginsDir, filepath.Join(tmp, "s"), 30*time.Second)
	if err != nil {
		return err
	}
	defer stopDirect(host)

	// (b) a real dpa with its own plugin process.
	d, err := startDPA(tmp)
	if err != nil {
		return err
	}
	defer d.stop()

	directPID := host.State("example-datasource").PID
	same, echo, err := learnRequest(ctx, d)
	if err != nil {
		return fmt.Errorf("dpa echo: %w", err)
	}
	if err := sameAnswer(ctx, plugin, same, echo); err != nil {
		return err
	}
	direct := directCalls(plugin, same)
	viaDPA := d.calls()
	// Check both paths answer the same thing before timing anything.
	for name := range direct {
		if err := direct[name](ctx); err != nil {
			return fmt.Errorf("direct %s: %w", name, err)
		}
		if err := viaDPA[name](ctx); err != nil {
			return fmt.Errorf("dpa %s: %w", name, err)
		}
	}

	proto := "HTTP/1.1 keep-alive"
	if *http2Flag {
		proto = "HTTP/2"
	}
	if section("compare") {
		fmt.Printf("## Direct gRPC (a) vs through dpa over HTTPS (b, %s)\n", proto)
		fmt.Println("CPU µs/op: user+system CPU time of each process during the measured window / ops (client = this driver:")
		fmt.Println("gRPC client in (a), HTTPS client in (b); dpa = the dpa process; plugin = the plugin process serving the calls).")
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "call\tconc\ta ops/s\ta p50\ta p99\tb ops/s\tb p50\tb p99\tratio b/a\tadded p50\ta CPU client+plugin\tb CPU client+dpa+plugin\t")
		for _, name := range strings.Split(*callsFlag, ",") {
			if direct[name] == nil {
				return fmt.Errorf("unknown call %q", name)
			}
			for _, conc := range concurrencies() {
				a := measure(ctx, conc, direct[name], []int{directPID})
				var stopProfile func()
				if *profileDir != "" {
					stopProfile = d.profile(ctx, filepath.Join(*profileDir, fmt.Sprintf("dpa-%s-c%d.pprof", name, conc)))
				}
				b := measure(ctx, conc, viaDPA[name], []int{d.cmd.Process.Pid, d.pluginPID()})
				if stopProfile != nil {
					stopProfile()
				}
				if a.errs > 0 || b.errs > 0 {
					fmt.Fprintf(os.Stderr, "bench: %s conc %d: %d direct and %d dpa errors (last: %v / %v)\n", name, conc, a.errs, b.errs, a.lastErr, b.lastErr)
				}
				fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%.0f\t%s\t%s\t%.2f\t%s\t%s\t%s\t\n", name, conc,
					a.opsPerSec, us(a.p50), us(a.p99), b.opsPerSec, us(b.p50), us(b.p99),
					b.opsPerSec/a.opsPerSec, us(b.p50-a.p50), a.cpuString(), b.cpuString())
			}
		}
		_ = tw.Flush()
		fmt.Println()
	}

	// Where the added latency goes: the same HTTPS request path without a plugin call (the
	// data plane answers the group/version discovery document itself).
	if section("floor") {
		if err := floorSection(ctx, d, proto); err != nil {
			return err
		}
	}
	if section("instr") {
		if err := instrSection(ctx, tmp); err != nil {
			return err
		}
	}
	if section("lookup") {
		fmt.Println("## Route lookup + dispatch in-process (discovery request, no plugin call)")
		lookup()
		fmt.Println()
	}
	if section("live") {
		fmt.Printf("## Apply → route live through the API (%d repetitions)\n", *liveReps)
		if err := d.applyToLive(ctx, *liveReps); err != nil {
			return err
		}
	}
	if section("memory") {
		if err := memorySection(ctx, tmp); err != nil {
			return err
		}
	}
	if section("replicas") {
		if err := replicasSection(ctx, tmp); err != nil {
			return err
		}
	}
	if section("scale") {
		if err := scaleSection(ctx, tmp); err != nil {
			return err
		}
	}
	if section("topology") {
		if err := topologySection(ctx, tmp); err != nil {
			return err
		}
	}
	return nil
}

func floorSection(ctx context.Context, d *dpa, proto string) error {
	fmt.Printf("## dpa floor: HTTPS (%s) + API-server filter chain + data plane, no plugin call (GET /apis/{g}/{v})\n", proto)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "conc	ops/s	p50	p99	CPU client+dpa	")
	floor := func(ctx context.Context) error {
		code, b, err := d.do(ctx, "GET", "/apis/"+dsGroup+"/v0alpha1", nil)
		if err == nil && code != 200 {
			err = fmt.Errorf("HTTP %d: %.200s", code, b)
		}
		return err
	}
	for _, conc := range concurrencies() {
		r := measure(ctx, conc, floor, []int{d.cmd.Process.Pid})
		if r.errs > 0 {
			fmt.Fprintf(os.Stderr, "bench: floor conc %d: %d errors (last: %v)\n", conc, r.errs, r.lastErr)
		}
		fmt.Fprintf(tw, "%d\t%.0f\t%s\t%s\t%s\t\n", conc, r.opsPerSec, us(r.p50), us(r.p99), r.cpuString())
	}
	_ = tw.Flush()
	fmt.Println()
	return nil
}

func gomaxprocs() string {
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		return v
	}
	return "default"
}

func us(d time.Duration) string {
	return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
}

// ---- calls ----

type callFunc func(ctx context.Context) error

var queryJSON = []byte(`{"refId":"A","scenario":"random_walk","points":10}`)

// sameRequest is what dpa puts into the plugin request besides the call itself, as the
// example plugin's echo resource reports it through dpa: the direct calls send the same, so
// that (a) and (b) differ only in the path to the plugin.
type sameRequest struct {
	AppURL        string              `json:"appUrl"`
	PluginVersion string              `json:"pluginVersion"`
	Headers       map[string][]string `json:"headers"`
	User          struct {
		Login, Name, Email, Role string
	} `json:"user"`
}

// learnRequest asks dpa's echo resource what the plugin receives through dpa.
func learnRequest(ctx context.Context, d *dpa) (sameRequest, []byte, error) {
	var same sameRequest
	code, b, err := d.do(ctx, "POST", "/apis/"+dsGroup+"/v0alpha1/namespaces/default/datasources/"+dsUID+"/resource/echo", []byte("bench"))
	if err == nil && code != 200 {
		err = fmt.Errorf("HTTP %d: %.200s", code, b)
	}
	if err == nil {
		err = json.Unmarshal(b, &same)
	}
	return same, b, err
}

// directRequest is the PluginContext and the CallResource headers dpa sends for the
// calls in calls(): the same datasource settings, user, Grafana config, user agent and
// plugin version, and the same headers.
func directRequest(same sameRequest) (func() *pluginv2.PluginContext, map[string]*pluginv2.StringList) {
	settings := &pluginv2.DataSourceInstanceSettings{
		Uid: dsUID, Name: "Bench", Url: "http://127.0.0.1:9", JsonData: []byte("{}"),
		LastUpdatedMS: 1, DecryptedSecureJsonData: map[string]string{},
	}
	cfg := dataplane.GrafanaConfig(same.AppURL, nil)
	pc := func() *pluginv2.PluginContext {
		return &pluginv2.PluginContext{OrgId: 1, PluginId: "example-datasource", Namespace: "default",
			PluginVersion: same.PluginVersion, GrafanaConfig: cfg, UserAgent: "dpa",
			User:                       &pluginv2.User{Login: same.User.Login, Name: same.User.Name, Email: same.User.Email, Role: same.User.Role},
			DataSourceInstanceSettings: settings}
	}
	headers := map[string]*pluginv2.StringList{}
	for k, v := range same.Headers {
		headers[k] = &pluginv2.StringList{Values: v}
	}
	return pc, headers
}

// directCalls are the requests dpa sends to the plugin for the HTTP calls in calls().
func directCalls(p *backendplugin.Client, same sameRequest) map[string]callFunc {
	pc, headers := directRequest(same)
	return map[string]callFunc{
		"QueryData": func(ctx context.Context) error {
			now := time.Now()
			resp, err := p.QueryData(ctx, &pluginv2.QueryDataRequest{
				PluginContext: pc(),
				Headers:       map[string]string{},
				Format:        pluginv2.DataFrameFormat_JSON,
				Queries: []*pluginv2.DataQuery{{RefId: "A", MaxDataPoints: 100, IntervalMS: 1000, Json: queryJSON,
					TimeRange: &pluginv2.TimeRange{FromEpochMS: now.Add(-time.Hour).UnixMilli(), ToEpochMS: now.UnixMilli()}}},
			})
			if err != nil {
				return err
			}
			if r := resp.Responses["A"]; r == nil || len(r.Frames) != 1 {
				return fmt.Errorf("unexpected QueryData response")
			}
			return nil
		},
		"CallResource": func(ctx context.Context) error {
			_, err := directEcho(ctx, p, pc(), headers)
			return err
		},
	}
}

// directEcho is CallResource POST echo, directly; it returns the answer's body.
func directEcho(ctx context.Context, p *backendplugin.Client, pc *pluginv2.PluginContext, headers map[string]*pluginv2.StringList) ([]byte, error) {
	stream, err := p.CallResource(ctx, &pluginv2.CallResourceRequest{
		PluginContext: pc, Path: "echo", Method: "POST", Url: "echo", Headers: headers, Body: []byte("bench"),
	})
	if err != nil {
		return nil, err
	}
	code := 0
	var body []byte
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if code == 0 {
			code = int(m.Code)
		}
		body = append(body, m.Body...)
	}
	if code != 200 {
		return nil, fmt.Errorf("CallResource status %d", code)
	}
	return body, nil
}

// sameAnswer checks that the plugin saw the same request both ways: the echo answers
// (method, path, headers, body, org, plugin version, Grafana config, user, datasource),
// compared as JSON, are equal.
func sameAnswer(ctx context.Context, p *backendplugin.Client, same sameRequest, viaDPA []byte) error {
	pc, headers := directRequest(same)
	direct, err := directEcho(ctx, p, pc(), headers)
	if err != nil {
		return err
	}
	var a, b any
	if err := json.Unmarshal(direct, &a); err != nil {
		return err
	}
	if err := json.Unmarshal(viaDPA, &b); err != nil {
		return err
	}
	if !reflect.DeepEqual(a, b) {
		return fmt.Errorf("the plugin saw different requests:\n  direct:   %s\n  through dpa: %s", bytes.TrimSpace(direct), bytes.TrimSpace(viaDPA))
	}
	return nil
}

// startDirect starts the example datasource from pluginsDir with pkg/pluginhost, as dpa
// starts it, and returns once it answers (within limit).
func startDirect(ctx context.Context, pluginsDir, socketDir string, limit time.Duration) (*pluginhost.Host, *backendplugin.Client, error) {
	if err := os.MkdirAll(socketDir, 0o700); err != nil {
		return nil, nil, err
	}
	host, err := pluginhost.New(pluginhost.Options{
		PluginsDir: pluginsDir, SocketDir: socketDir, StartTimeout: limit,
		Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		return nil, nil, err
	}
	if err := host.Start(ctx); err != nil {
		return nil, nil, err
	}
	for deadline := time.Now().Add(limit); ; {
		plugin, err := host.Get(ctx, "example-datasource")
		if err == nil {
			return host, plugin, nil
		}
		if time.Now().After(deadline) {
			stopDirect(host)
			return nil, nil, fmt.Errorf("direct plugin did not start: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stopDirect(host *pluginhost.Host) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = host.Stop(ctx)
}

type dpa struct {
	cmd     *exec.Cmd
	done    chan error
	dataDir string
	url     string
	token   string
	client  *http.Client
	logFile *os.File
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startDPA runs dpa with its data and provisioning under tmp; extra are more serve flags.
func startDPA(tmp string, extra ...string) (*dpa, error) {
	return startDPABin(*dpaBin, tmp, extra...)
}

// startDPABin starts bin (dpa, or a wrapper that execs it) like startDPA.
func startDPABin(bin, tmp string, extra ...string) (*dpa, error) {
	prov := filepath.Join(tmp, "prov")
	if err := os.MkdirAll(filepath.Join(prov, "datasources"), 0o755); err != nil {
		return nil, err
	}
	ds := "apiVersion: 1\ndatasources:\n  - name: Bench\n    type: example-datasource\n    uid: " + dsUID + "\n    orgId: 1\n    url: http://127.0.0.1:9\n"
	if err := os.WriteFile(filepath.Join(prov, "datasources", "bench.yaml"), []byte(ds), 0o644); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	d := &dpa{dataDir: filepath.Join(tmp, "data"), url: fmt.Sprintf("https://127.0.0.1:%d", port), done: make(chan error, 1)}
	if d.logFile, err = os.Create(filepath.Join(tmp, "dpa.log")); err != nil {
		return nil, err
	}
	d.cmd = exec.Command(bin, append([]string{"serve", "--data-dir", d.dataDir, "--secure-port", strconv.Itoa(port),
		"--plugins-dir", *pluginsDir, "--provisioning", prov, "--log-level", *dpaLogLevel}, extra...)...)
	d.cmd.Stdout, d.cmd.Stderr = d.logFile, d.logFile
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.done <- d.cmd.Wait() }()
	insecure := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // readiness only
	for deadline := time.Now().Add(90 * time.Second); ; {
		select {
		case err := <-d.done:
			return nil, fmt.Errorf("dpa exited during start-up: %v (log: %s)", err, d.logFile.Name())
		default:
		}
		if resp, err := insecure.Get(d.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, errors.New("dpa not ready after 90s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	insecure.CloseIdleConnections()
	tok, err := os.ReadFile(filepath.Join(d.dataDir, "admin-token"))
	if err != nil {
		d.stop()
		return nil, err
	}
	d.token = strings.TrimSpace(string(tok))
	ca, err := os.ReadFile(filepath.Join(d.dataDir, "pki", "ca.crt"))
	if err != nil {
		d.stop()
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	// HTTP/1.1 keep-alive, one connection per concurrent client (a custom TLS config turns
	// the transport's HTTP/2 off); -http2: HTTP/2, all clients multiplexed on one connection,
	// as client-go does.
	d.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64,
		ForceAttemptHTTP2: *http2Flag,
	}}
	// (Another replica on the same storage may have created it already.)
	if err := d.apply(context.Background(), "example-datasource", dsGroup, "v0alpha1"); err != nil && !errors.Is(err, errExists) {
		d.stop()
		return nil, err
	}
	if _, err := d.waitLive(context.Background(), "/apis/"+dsGroup+"/v0alpha1/namespaces/default/datasources/"+dsUID+"/health", 60*time.Second); err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

// pluginPID is the pid of dpa's example-datasource process (a child of dpa, under
// callgrind in the instr section), 0 if not found.
func (d *dpa) pluginPID() int {
	return childPID(d.cmd.Process.Pid, "gpx_example-datasource")
}

// profile starts a CPU profile of dpa covering warm-up + duration and returns a func that
// waits for it and writes it to path.
func (d *dpa) profile(ctx context.Context, path string) func() {
	return target{client: d.client, url: d.url, token: d.token}.profile(ctx, path)
}

func (d *dpa) stop() {
	if d.client != nil {
		d.client.CloseIdleConnections()
	}
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
	d.cmd = nil
	d.logFile.Close()
}

func (d *dpa) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	return call(ctx, d.client, d.url, d.token, method, path, body)
}

// call sends one request with a bearer token (a JSON body when body is not nil) and reads the
// whole answer.
func call(ctx context.Context, client *http.Client, base, token, method, path string, body []byte) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (d *dpa) calls() map[string]callFunc {
	base := "/apis/" + dsGroup + "/v0alpha1/namespaces/default/datasources/" + dsUID
	qbody := []byte(`{"from":"now-1h","to":"now","queries":[` + string(queryJSON) + `]}`)
	check := func(code int, b []byte, err error) error {
		if err != nil {
			return err
		}
		if code != 200 {
			return fmt.Errorf("HTTP %d: %.200s", code, b)
		}
		return nil
	}
	return map[string]callFunc{
		"QueryData": func(ctx context.Context) error {
			return check(d.do(ctx, "POST", base+"/query", qbody))
		},
		"CallResource": func(ctx context.Context) error {
			return check(d.do(ctx, "POST", base+"/resource/echo", []byte("bench")))
		},
	}
}

func dpsJSON(name, group, version string) []byte {
	obj := map[string]any{
		"apiVersion": "aggregation.grafana.app/v0alpha1", "kind": "DataPlaneService",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{"pluginID": "example-datasource", "pluginType": "datasource", "group": group, "version": version,
			"services": []map[string]string{{"type": "query"}, {"type": "health"}, {"type": "resource"}}},
	}
	b, _ := json.Marshal(obj)
	return b
}

const collection = "/apis/aggregation.grafana.app/v0alpha1/dataplaneservices"

func (d *dpa) apply(ctx context.Context, name, group, version string) error {
	code, b, err := d.do(ctx, "POST", collection, dpsJSON(name, group, version))
	if err != nil {
		return err
	}
	if code == http.StatusConflict {
		return fmt.Errorf("creating %s: %w", name, errExists)
	}
	if code != 201 {
		return fmt.Errorf("creating %s: HTTP %d %s", name, code, b)
	}
	return nil
}

var errExists = errors.New("already exists")

// waitLive polls path every 1ms until it answers 200 and returns how long that took.
func (d *dpa) waitLive(ctx context.Context, path string, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		code, b, err := d.do(ctx, "GET", path, nil)
		if err == nil && code == 200 {
			return time.Since(start), nil
		}
		if time.Since(start) > limit {
			return 0, fmt.Errorf("%s not live after %s: %d %.200s %v", path, limit, code, b, err)
		}
		time.Sleep(time.Millisecond)
	}
}

func (d *dpa) applyToLive(ctx context.Context, reps int) error {
	var lat []time.Duration
	for i := range reps {
		name := fmt.Sprintf("bench-live-%d", i)
		group := fmt.Sprintf("bench-live-%d.datasource.grafana.app", i)
		path := "/apis/" + group + "/v1/namespaces/default/datasources/" + dsUID + "/health"
		start := time.Now()
		if err := d.apply(ctx, name, group, "v1"); err != nil {
			return err
		}
		if _, err := d.waitLive(ctx, path, 30*time.Second); err != nil {
			return err
		}
		lat = append(lat, time.Since(start))
		if code, b, err := d.do(ctx, "DELETE", collection+"/"+name, nil); err != nil || code != 200 {
			return fmt.Errorf("deleting %s: %d %s %v", name, code, b, err)
		}
	}
	slices.Sort(lat)
	fmt.Printf("create → first 200 from the plugin: p50 %s, min %s, max %s (n=%d, 1ms polling)\n",
		ms(pct(lat, 50)), ms(lat[0]), ms(lat[len(lat)-1]), len(lat))
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

// ---- measurement ----

type result struct {
	opsPerSec float64
	p50, p99  time.Duration
	errs      int
	lastErr   error
	// cpu is CPU time per op (µs) of this driver, then of each pid passed to measure.
	cpu []float64
}

func (r result) cpuString() string {
	parts := make([]string, len(r.cpu))
	total := 0.0
	for i, c := range r.cpu {
		parts[i] = fmt.Sprintf("%.0f", c)
		total += c
	}
	return fmt.Sprintf("%s = %.0fµs", strings.Join(parts, "+"), total)
}

// cpuTime is the user+system CPU time of a process (pid 0: this one) from /proc (Linux only;
// 0 elsewhere).
func cpuTime(pid int) time.Duration {
	p := "/proc/self/stat"
	if pid > 0 {
		p = "/proc/" + strconv.Itoa(pid) + "/stat"
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(len(sorted)-1, i-1))]
}

// measure runs f from conc goroutines for warm-up + duration and reports the measured part,
// with the CPU time per op of this process and of pids over the measured window.
func measure(ctx context.Context, conc int, f callFunc, pids []int) result {
	var (
		mu      sync.Mutex
		all     []time.Duration
		errs    int
		lastErr error
		wg      sync.WaitGroup
	)
	begin := time.Now()
	measureFrom := begin.Add(*warmup)
	end := measureFrom.Add(*duration)
	pids = append([]int{0}, pids...)
	cpu0 := make([]time.Duration, len(pids))
	cpuDone := make(chan struct{})
	go func() {
		defer close(cpuDone)
		time.Sleep(time.Until(measureFrom))
		for i, pid := range pids {
			cpu0[i] = cpuTime(pid)
		}
	}()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1<<14)
			var ne int
			var le error
			for {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				err := f(ctx)
				el := time.Since(t0)
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil {
					ne++
					le = err
					continue
				}
				lat = append(lat, el)
				if *think > 0 {
					time.Sleep(*think)
				}
			}
			mu.Lock()
			all = append(all, lat...)
			errs += ne
			if le != nil {
				lastErr = le
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	<-cpuDone
	cpu := make([]float64, len(pids))
	for i, pid := range pids {
		if n := len(all); n > 0 {
			cpu[i] = float64(cpuTime(pid)-cpu0[i]) / float64(time.Microsecond) / float64(n)
		}
	}
	slices.Sort(all)
	return result{
		opsPerSec: float64(len(all)) / duration.Seconds(),
		p50:       pct(all, 50), p99: pct(all, 99), errs: errs, lastErr: lastErr, cpu: cpu,
	}
}

// ---- in-process lookup ----

type noPlugins struct{}

func (noPlugins) Get(context.Context, string) (*backendplugin.Client, error) {
	return nil, backendplugin.ErrNotFound
}

func lookup() {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "registrations\tns/request (median of 7 interleaved rounds)\tmin\tmax\t")
	route := v0alpha1.DataPlaneServiceServiceTypeRoute
	get := v0alpha1.DataPlaneServiceServiceMethodGET
	path := "/namespaces/{ns}/things/{name}"
	sizes := []int{1, 10000}
	type target struct {
		h   *dataplane.Handler
		req *http.Request
		w   *discardWriter
	}
	targets := make([]target, len(sizes))
	for i, n := range sizes {
		regs := make([]routes.Registration, n)
		for i := range regs {
			regs[i] = routes.Registration{Name: fmt.Sprintf("r%05d", i), PluginID: "p", PluginType: "datasource",
				Group: fmt.Sprintf("g%d.grafana.app", i), Version: "v1",
				Services: []v0alpha1.DataPlaneServiceService{
					{Type: v0alpha1.DataPlaneServiceServiceTypeQuery},
					{Type: v0alpha1.DataPlaneServiceServiceTypeHealth},
					{Type: v0alpha1.DataPlaneServiceServiceTypeResource},
					{Type: route, Method: &get, Path: &path},
				}}
		}
		h := dataplane.New(dataplane.Options{Plugins: noPlugins{},
			Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))})
		h.SetRegistrations(regs)
		req := httptest.NewRequest("GET", fmt.Sprintf("/apis/g%d.grafana.app/v1", n/2), nil)
		// An org-1 Viewer, as the authentication filter would put it on the request: the data
		// plane authorizes every request (discovery needs a signed-in user).
		req = req.WithContext(request.WithUser(req.Context(), &user.DefaultInfo{Name: "bench", Groups: []string{"grafana:org:1:Viewer"}}))
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, req)
		if w.code != 200 {
			fmt.Fprintf(tw, "%d\tunexpected status %d\t\t\t\n", n, w.code)
			_ = tw.Flush()
			return
		}
		targets[i] = target{h, req, w}
	}
	// Rounds alternate the sizes, so that machine noise (other jobs, frequency changes)
	// falls on both alike; a single back-to-back pair differed by ±30 % between runs.
	const rounds = 7
	per := make([][]float64, len(sizes))
	for range rounds {
		for i, t := range targets {
			start := time.Now()
			for range *lookupIters / rounds {
				t.w.code = 0
				clear(t.w.h)
				t.h.ServeHTTP(t.w, t.req)
			}
			per[i] = append(per[i], float64(time.Since(start).Nanoseconds())/float64(*lookupIters/rounds))
		}
	}
	for i, n := range sizes {
		slices.Sort(per[i])
		fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%.0f\t\n", n, per[i][rounds/2], per[i][0], per[i][rounds-1])
	}
	_ = tw.Flush()
	fmt.Printf("10,000 vs 1: %+.1f %% (medians)\n", (per[1][rounds/2]/per[0][rounds/2]-1)*100)
}

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(c int) {
	if w.code == 0 {
		w.code = c
	}
}
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return len(b), nil
}
