package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/dataplane-aggregator/dpa/internal/testpki"
	"github.com/dataplane-aggregator/dpa/test/internal/fanout"
	"github.com/dataplane-aggregator/dpa/test/internal/proc"
)

// kubeAnchor measures the same restart on the real kube-apiserver `make kube-bins` builds:
// n objects of the DataPlaneService CRD (pkg/generated, the same schema) stored in its etcd,
// the kube-apiserver restarted (etcd keeps running), time to /readyz 200, its peak resident
// memory during the restart and 5 s later. It is the anchor for dpa's figures of the same run.
func kubeAnchor(kubeAPIServer, etcdBin string, n int) error {
	dir, err := os.MkdirTemp("", "dpa-apibench-kube-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return err
		}
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	etcd := exec.Command(etcdBin, "--data-dir", filepath.Join(dir, "etcd"), "--listen-client-urls", etcdURL,
		"--advertise-client-urls", etcdURL, "--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		"--initial-cluster", fmt.Sprintf("default=http://127.0.0.1:%d", ports[1]), "--log-level", "error")
	etcd.Stderr = io.Discard
	if err := etcd.Start(); err != nil {
		return err
	}
	defer func() { _ = etcd.Process.Signal(syscall.SIGTERM); _ = etcd.Wait() }()

	if err := testpki.WriteKeyPair(filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")); err != nil {
		return err
	}
	const token = "apibench-admin"
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(token+",admin,admin,system:masters\n"), 0o600); err != nil {
		return err
	}
	base := fmt.Sprintf("https://127.0.0.1:%d", ports[2])
	args := []string{"--etcd-servers", etcdURL, "--secure-port", strconv.Itoa(ports[2]), "--bind-address", "127.0.0.1",
		"--advertise-address", "127.0.0.1", "--cert-dir", filepath.Join(dir, "certs"),
		"--service-account-issuer", "https://kubernetes.default.svc", "--service-account-key-file", filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file", filepath.Join(dir, "sa.key"), "--authorization-mode", "RBAC",
		"--token-auth-file", filepath.Join(dir, "tokens.csv"), "--service-cluster-ip-range", "10.96.0.0/24",
		// As dpa (which refuses P&F) and the end-to-end harness: max-in-flight limits only.
		"--enable-priority-and-fairness=false", "--v=0"}
	// The kube-apiserver's self-signed certificate: readiness and the objects only.
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 16}} //nolint:gosec // a throwaway local server
	do := func(method, path string, body []byte) (int, []byte, error) {
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b, nil
	}
	var cmd *exec.Cmd
	start := func() (time.Duration, error) {
		cmd = exec.Command(kubeAPIServer, args...)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		for time.Since(t0) < 3*time.Minute {
			if code, _, err := do("GET", "/readyz", nil); err == nil && code == 200 {
				return time.Since(t0), nil
			}
			time.Sleep(5 * time.Millisecond)
		}
		return 0, fmt.Errorf("kube-apiserver not ready after 3m")
	}
	stop := func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }
	if _, err := start(); err != nil {
		return err
	}
	crd, err := os.ReadFile("pkg/generated/dataplaneservice.aggregation.grafana.app.json")
	if err != nil {
		return err
	}
	if code, b, err := do("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd); err != nil || code != 201 {
		stop()
		return fmt.Errorf("creating the CRD: %d %s %v", code, b, err)
	}
	for t0 := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		if code, _, _ := do("GET", collection, nil); code == 200 {
			break
		}
		if time.Since(t0) > time.Minute {
			stop()
			return fmt.Errorf("the CRD is not served after 1m")
		}
	}
	if err := fanout.Each(n, 8, func(i int) error {
		obj, _ := json.Marshal(map[string]any{
			"apiVersion": "aggregation.grafana.app/v0alpha1", "kind": "DataPlaneService",
			"metadata": map[string]any{"name": fmt.Sprintf("bench-%05d", i)},
			"spec": map[string]any{"pluginID": "bench", "pluginType": "datasource",
				"group": fmt.Sprintf("g%05d.bench.grafana.app", i), "version": "v1",
				"services": []any{map[string]any{"type": "query"}}},
		})
		if code, b, err := do("POST", collection, obj); err != nil || code != 201 {
			return fmt.Errorf("creating bench-%05d: %d %s %v", i, code, b, err)
		}
		return nil
	}); err != nil {
		stop()
		return err
	}
	stop()
	client.CloseIdleConnections()
	restart, err := start()
	if err != nil {
		return err
	}
	defer stop()
	// A kube-apiserver is ready before its watch cache of the CRD is: a list answers 429
	// ("storage is (re)initializing") until then. Time the first list that succeeds.
	t0 := time.Now()
	var code int
	var b []byte
	for {
		if code, b, err = do("GET", collection, nil); err == nil && code == 200 {
			break
		}
		if time.Since(t0) > time.Minute || (err == nil && code != http.StatusTooManyRequests) {
			return fmt.Errorf("listing after the restart: %d %v", code, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var l struct{ Items []json.RawMessage }
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	list := time.Since(t0)
	time.Sleep(5 * time.Second)
	steady := proc.StatusKiB(cmd.Process.Pid, "VmRSS")
	peak := proc.StatusKiB(cmd.Process.Pid, "VmHWM") // the peak since the restart
	fmt.Printf("anchor: kube-apiserver v1.35.4 restart with %d objects of the same CRD to /readyz 200: %s; peak RSS (VmHWM, restart to 5 s after) %d MiB, RSS 5 s after ready %d MiB; first list that succeeded (429 until the CRD's watch cache is ready) after ready + %s, %d objects\n",
		n, restart.Round(time.Millisecond), peak/1024, steady/1024, list.Round(time.Millisecond), len(l.Items))
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
