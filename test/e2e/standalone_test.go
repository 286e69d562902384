package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startStandaloneDatasource runs the example datasource the way a plugin author debugs one:
// in the SDK's standalone mode, listening on addr. stop kills it and waits (also at cleanup).
func startStandaloneDatasource(t *testing.T, exe, addr string) (stop func()) {
	t.Helper()
	cmd := exec.Command(exe, "-standalone")
	cmd.Dir = filepath.Dir(exe)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "GF_PLUGIN_GRPC_ADDRESS_EXAMPLE_DATASOURCE=" + addr}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop = func() { _ = cmd.Process.Kill(); <-done }
	t.Cleanup(stop)
	eventually(t, 20*time.Second, "the standalone plugin to listen on "+addr, func() (bool, string) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})
	return stop
}

// --plugin-address: dpa calls a plugin it did not start, reports it unavailable while it is
// gone, and reconnects when it listens again.
func TestDataPlaneStandalonePlugin(t *testing.T) {
	plugins := examplePlugins(t)
	src := filepath.Join(plugins, "datasource", fmt.Sprintf("gpx_example-datasource_%s_%s", runtime.GOOS, runtime.GOARCH))
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	// The SDK finds its plugin.json (by id) in the working directory, and kills processes
	// matching the executable named there: a private name keeps other tests' plugins alive.
	dir := shortTempDir(t)
	exe := filepath.Join(dir, "gpx_e2e-standalone-datasource")
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "plugin.json", `{"id":"example-datasource","type":"datasource","name":"Example","backend":true,"executable":"gpx_e2e-standalone-datasource"}`)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	stopPlugin := startStandaloneDatasource(t, exe, addr)

	prov := t.TempDir()
	writeProvisioning(t, prov, datasourcesYAML("http://127.0.0.1:1"), appsYAML)
	d := startServer(t, "", "--plugin-address", "example-datasource="+addr, "--provisioning", prov)
	d.kc(t, "apply", "-f", filepath.Join(repo, "examples", "dataplaneservices", "example-datasource.yaml"))
	d.kc(t, "wait", "--for=condition=Available", "dataplaneservice/example-datasource", "--timeout=60s")

	health := func() (int, string) {
		resp, body := d.call(t, "GET", dsNS+"/health", nil)
		return resp.StatusCode, string(body)
	}
	if code, body := health(); code != 200 || !strings.Contains(body, `"status":"OK"`) {
		t.Fatalf("health through --plugin-address: %d %s", code, body)
	}

	// The plugin goes away: 503 with Retry-After (never a hang), Available turns False.
	stopPlugin()
	eventually(t, 30*time.Second, "503 while the standalone plugin is gone", func() (bool, string) {
		resp, body := d.call(t, "GET", dsNS+"/health", nil)
		return resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "", fmt.Sprintf("%d %s", resp.StatusCode, body)
	})
	d.kc(t, "wait", "--for=condition=Available=False", "dataplaneservice/example-datasource", "--timeout=60s")

	// It listens again on the same address: dpa reconnects without a restart.
	startStandaloneDatasource(t, exe, addr)
	eventually(t, 60*time.Second, "health to recover", func() (bool, string) {
		code, body := health()
		return code == 200, fmt.Sprintf("%d %s", code, body)
	})
	d.kc(t, "wait", "--for=condition=Available", "dataplaneservice/example-datasource", "--timeout=60s")
}
