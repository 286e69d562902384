package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAvailableReasons: the Available condition tells what is wrong, from the plugin host's
// view of real plugin processes.
func TestAvailableReasons(t *testing.T) {
	d := startServer(t, "", "--plugins-dir", examplePlugins(t))
	dir := t.TempDir()
	apply := func(name, plugin, pluginType, services string) {
		t.Helper()
		obj := dpsYAML(name, name+".grafana.app", "v1", services)
		obj = strings.Replace(obj, "pluginID: "+name, "pluginID: "+plugin, 1)
		obj = strings.Replace(obj, "pluginType: datasource", "pluginType: "+pluginType, 1)
		d.kc(t, "apply", "-f", writeFile(t, dir, name+".yaml", obj))
	}
	apply("ok-app", "example-app", "app", "  - type: health\n  - type: resource\n  - type: stream\n")
	apply("missing", "no-such-plugin", "datasource", "  - type: query\n")
	apply("wrong-type", "example-app", "datasource", "  - type: health\n")
	apply("unsupported", "example-app", "app", "  - type: health\n  - type: admission\n")
	apply("app-query", "example-app", "app", "  - type: query\n")

	want := map[string]string{
		"ok-app":      "True PluginRunning",
		"missing":     "False PluginNotFound",
		"wrong-type":  "False PluginTypeMismatch",
		"unsupported": "False ServiceUnsupported",
		"app-query":   "False ServiceUnsupported",
	}
	for name, w := range want {
		waitAvailable(t, d, name, w, 60*time.Second)
	}
	if c := waitAvailable(t, d, "unsupported", "False ServiceUnsupported", time.Second); !strings.Contains(c.Message, "pluginv2.AdmissionControl") {
		t.Errorf("unsupported message %q does not name the missing service", c.Message)
	}
}

// TestAvailableFollowsHungPlugin: a plugin process that stops answering (SIGSTOP keeps its
// socket open, so only a probe notices) is Available=False PluginNotResponding, and True
// again once it answers.
func TestAvailableFollowsHungPlugin(t *testing.T) {
	prov := t.TempDir()
	writeProvisioning(t, prov, "apiVersion: 1\ndatasources:\n  - {name: ex, type: example-datasource, uid: ex}\n", "")
	d := startServer(t, "", "--plugins-dir", examplePlugins(t), "--provisioning", prov, "--plugin-probe-interval", "200ms", "--plugin-probe-timeout", "300ms")
	d.kc(t, "apply", "-f", writeFile(t, t.TempDir(), "hung.yaml", strings.Replace(
		dpsYAML("hung-ds", "hung-ds.grafana.app", "v1", "  - type: health\n  - type: resource\n"),
		"pluginID: hung-ds", "pluginID: example-datasource", 1)))
	d.kc(t, "wait", "--for=condition=Available", "dataplaneservice/hung-ds", "--timeout=60s")
	_, b := d.want(t, 200, "GET", "/apis/hung-ds.grafana.app/v1/namespaces/default/datasources/ex/resource/pid", nil)
	var p struct{ PID int }
	mustJSON(t, b, &p)
	if p.PID <= 0 {
		t.Fatalf("no pid: %s", b)
	}
	if err := syscall.Kill(p.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(p.PID, syscall.SIGCONT) })
	waitAvailable(t, d, "hung-ds", "False PluginNotResponding", 20*time.Second)
	// kubectl shows the same state: the Plugin's phase, not "Running".
	pluginPhase := func() (bool, string) {
		out, _, err := d.kubectl("get", "plugins.aggregation.grafana.app", "example-datasource", "--no-headers",
			"-o", "custom-columns=PHASE:.status.replicas[*].phase,WHY:.status.replicas[*].notResponding")
		return err == nil, strings.TrimSpace(out)
	}
	eventually(t, 20*time.Second, "the Plugin's phase NotResponding", func() (bool, string) {
		ok, out := pluginPhase()
		return ok && strings.HasPrefix(out, "NotResponding") && strings.Contains(out, "health probe"), out
	})
	eventually(t, 5*time.Second, "kubectl get plugins says NotResponding", func() (bool, string) {
		out, _, err := d.kubectl("get", "plugins.aggregation.grafana.app", "example-datasource", "--no-headers")
		return err == nil && strings.Contains(out, " NotResponding "), out
	})
	if err := syscall.Kill(p.PID, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, d, "hung-ds", "True PluginRunning", 20*time.Second)
	eventually(t, 20*time.Second, "the Plugin's phase Running again", func() (bool, string) {
		ok, out := pluginPhase()
		return ok && strings.HasPrefix(out, "Running"), out
	})
}
