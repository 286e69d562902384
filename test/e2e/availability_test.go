package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestAvailableReasons: the Available condition tells what is wrong, from the plugin host's
// view of real plugin processes.
func TestAvailableReasons(t *testing.T) {
	d := startDP(t, "--plugins-dir", examplePlugins(t))
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
		eventually(t, 60*time.Second, name+" Available="+w, func() (bool, string) {
			o := getObject(t, d.server, name)
			c := cond(o, "Available")
			if c == nil {
				return false, "no Available condition"
			}
			got := string(c.Status) + " " + c.Reason
			return got == w, fmt.Sprintf("%s: %s", got, c.Message)
		})
	}
	o := getObject(t, d.server, "unsupported")
	if c := cond(o, "Available"); !strings.Contains(c.Message, "pluginv2.AdmissionControl") {
		t.Errorf("unsupported message %q does not name the missing service", c.Message)
	}
}
