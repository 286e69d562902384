package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
)

// getPlugin reads a Plugin object with kubectl (nil when it does not exist).
func getPlugin(t *testing.T, d *server, name string) *v0alpha1.Plugin {
	t.Helper()
	out, errOut, err := d.kubectl("get", "plugins.aggregation.grafana.app", name, "-o", "json")
	if err != nil {
		if strings.Contains(errOut, "NotFound") {
			return nil
		}
		t.Fatalf("kubectl get plugin %s: %v\n%s", name, err, errOut)
	}
	var p v0alpha1.Plugin
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("plugin %s: %v\n%s", name, err, out)
	}
	return &p
}

// replicaEntry is the entry of replica in p's status (nil when absent).
func replicaEntry(p *v0alpha1.Plugin, replica string) *v0alpha1.PluginReplicaStatus {
	if p == nil {
		return nil
	}
	for i := range p.Status.Replicas {
		if p.Status.Replicas[i].Replica == replica {
			return &p.Status.Replicas[i]
		}
	}
	return nil
}

func describe(p *v0alpha1.Plugin) string {
	b, _ := json.Marshal(p)
	return string(b)
}

// waitPlugin waits until ok holds for the Plugin object name (nil when absent).
func waitPlugin(t *testing.T, d *server, name, what string, ok func(p *v0alpha1.Plugin) bool) *v0alpha1.Plugin {
	t.Helper()
	var p *v0alpha1.Plugin
	eventually(t, 30*time.Second, name+": "+what, func() (bool, string) {
		p = getPlugin(t, d, name)
		return ok(p), describe(p)
	})
	return p
}

func runningOn(replica string) func(*v0alpha1.Plugin) bool {
	return func(p *v0alpha1.Plugin) bool {
		e := replicaEntry(p, replica)
		return e != nil && e.Running && e.Phase == v0alpha1.PluginReplicaStatusPhaseRunning && e.Pid != nil
	}
}

// TestPluginObjects: the read-only Plugin resource follows the plugin host — listed by the
// real kubectl, an installed plugin appears, a crash shows as a restart with its error and
// then running again, a removed plugin's object goes away — and nobody but dpa can write it.
func TestPluginObjects(t *testing.T) {
	built := examplePlugins(t)
	dir := t.TempDir()
	copyPluginDir(t, filepath.Join(built, "datasource"), filepath.Join(dir, "example-datasource"))
	copyPluginDir(t, filepath.Join(built, "app"), filepath.Join(dir, "example-app"))
	tokens := writeFile(t, t.TempDir(), "tokens.csv", strings.Join([]string{
		`root-token,root,root,"grafana:server-admin"`,
		`vic-token,vic,vic,"grafana:org:1:Viewer"`,
		`nobody-token,nobody,nobody,`,
		// A token file may name any user: the name alone never makes dpa's internal identity.
		`fake-token,system:dpa:internal,fake,"grafana:server-admin"`,
	}, "\n")+"\n")
	d := startServer(t, "", "--plugins-dir", dir, "--plugins-rescan-interval", "200ms", "--token-auth-file", tokens, "--replica-name", "e2e-a")

	t.Run("kubectl lists the plugins", func(t *testing.T) {
		for _, id := range []string{"example-datasource", "example-app"} {
			waitPlugin(t, d, id, "running", runningOn("e2e-a"))
		}
		out := d.kc(t, "get", "plugins.aggregation.grafana.app")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if got := strings.Fields(lines[0]); !slices.Equal(got, []string{"NAME", "TYPE", "VERSION", "PHASE", "RUNNING", "RESTARTS", "AGE"}) {
			t.Fatalf("columns %v\n%s", got, out)
		}
		rows := map[string][]string{}
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			rows[f[0]] = f[1:6]
		}
		want := map[string][]string{
			"example-app":        {"app", "1.0.0", "Running", "1/1", "0"},
			"example-datasource": {"datasource", "1.0.0", "Running", "1/1", "0"},
		}
		if fmt.Sprint(rows) != fmt.Sprint(want) {
			t.Fatalf("rows %v, want %v\n%s", rows, want, out)
		}
		p := getPlugin(t, d, "example-datasource")
		if p.Spec != (v0alpha1.PluginSpec{Id: "example-datasource", Type: "datasource", Name: "Example Datasource", Version: "1.0.0", Backend: true}) {
			t.Errorf("spec %+v", p.Spec)
		}
		e := replicaEntry(p, "e2e-a")
		if len(p.Status.Replicas) != 1 || e.Version != "1.0.0" || e.Since == nil || !slices.Contains(e.Services, "pluginv2.Data") {
			t.Errorf("status %s", describe(p))
		}
		if _, err := time.Parse(time.RFC3339, *e.Since); err != nil {
			t.Errorf("since %q: %v", *e.Since, err)
		}
		// The field selector the kind declares.
		if out := d.kc(t, "get", "plugins.aggregation.grafana.app", "--field-selector", "spec.type=app", "-o", "name"); strings.TrimSpace(out) != "plugin.aggregation.grafana.app/example-app" {
			t.Errorf("field selector spec.type=app: %q", out)
		}
	})

	t.Run("install, crash, remove", func(t *testing.T) {
		compat := filepath.Join(dir, "compat")
		copyPluginDir(t, filepath.Join(built, "compat"), compat)
		p := waitPlugin(t, d, "compat-datasource", "installed and running", runningOn("e2e-a"))
		if p.Spec.Version != "0.164.0" || p.Spec.Type != "datasource" {
			t.Errorf("compat spec %+v", p.Spec)
		}

		// Crash the example datasource: its process is the one the object names.
		p = waitPlugin(t, d, "example-datasource", "running", runningOn("e2e-a"))
		before := replicaEntry(p, "e2e-a")
		pid := int(*before.Pid)
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !strings.Contains(string(cmdline), "gpx_example-datasource") {
			t.Fatalf("pid %d from the object is not the plugin's process: %v %q", pid, err, cmdline)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p = waitPlugin(t, d, "example-datasource", "a restart after the crash", func(p *v0alpha1.Plugin) bool {
			e := replicaEntry(p, "e2e-a")
			return runningOn("e2e-a")(p) && e.Restarts > before.Restarts && int(*e.Pid) != pid
		})
		if e := replicaEntry(p, "e2e-a"); e.LastError == nil || !strings.Contains(*e.LastError, "exited") {
			t.Errorf("last error after the crash: %s", describe(p))
		}
		wide := d.kc(t, "get", "plugins.aggregation.grafana.app", "example-datasource", "-o", "wide")
		if !strings.Contains(wide, "exited") || !strings.Contains(wide, "e2e-a") {
			t.Errorf("-o wide lacks the replica or the last error:\n%s", wide)
		}

		if err := os.RemoveAll(compat); err != nil {
			t.Fatal(err)
		}
		waitPlugin(t, d, "compat-datasource", "deleted after removal", func(p *v0alpha1.Plugin) bool { return p == nil })
	})

	t.Run("read-only", func(t *testing.T) {
		waitPlugin(t, d, "example-app", "running", runningOn("e2e-a"))
		kc := func(token string, args ...string) (string, string, error) {
			if token != "" {
				args = append([]string{"--token", token}, args...)
			}
			return d.kubectl(args...)
		}
		// Org members and server admins read them; an identity without an org role does not
		// (the objects show process ids, errors and paths).
		for _, tok := range []string{"vic-token", "root-token"} {
			out, errOut, err := kc(tok, "get", "plugins.aggregation.grafana.app", "example-app", "-o", "name")
			if err != nil || strings.TrimSpace(out) != "plugin.aggregation.grafana.app/example-app" {
				t.Errorf("%s get: %v %s %s", tok, err, out, errOut)
			}
		}
		if out, errOut, err := kc("nobody-token", "get", "plugins.aggregation.grafana.app", "example-app"); err == nil || !strings.Contains(errOut, "reading plugins needs a role in an org") {
			t.Errorf("nobody get: %v %s %s", err, out, errOut)
		}
		manifest := writeFile(t, t.TempDir(), "plugin.yaml", `apiVersion: aggregation.grafana.app/v0alpha1
kind: Plugin
metadata: {name: fake}
spec: {id: fake, type: app, name: Fake, version: "1.0.0", backend: false}
`)
		for name, tc := range map[string]struct {
			token string
			args  []string
			user  string
			verb  string
		}{
			"server admin deletes":       {token: "root-token", args: []string{"delete", "plugin.aggregation.grafana.app", "example-app"}, user: "root", verb: "delete"},
			"admin token creates":        {args: []string{"create", "-f", manifest}, user: "admin", verb: "create"},
			"admin token patches status": {args: []string{"patch", "plugin.aggregation.grafana.app", "example-app", "--subresource=status", "--type=merge", "-p", `{"status":{"replicas":[]}}`}, user: "admin", verb: "patch"},
			"viewer deletes":             {token: "vic-token", args: []string{"delete", "plugin.aggregation.grafana.app", "example-app"}, user: "vic", verb: "delete"},
			"a token named like dpa":     {token: "fake-token", args: []string{"delete", "plugin.aggregation.grafana.app", "example-app"}, user: "system:dpa:internal", verb: "delete"},
		} {
			_, errOut, err := kc(tc.token, tc.args...)
			if err == nil || !strings.Contains(errOut, "Forbidden") || !strings.Contains(errOut, fmt.Sprintf("User %q cannot %s", tc.user, tc.verb)) {
				t.Errorf("%s: want 403 naming user %q and verb %q, got %v: %s", name, tc.user, tc.verb, err, errOut)
			}
		}
		if out, _, _ := kc("", "auth", "can-i", "delete", "plugins.aggregation.grafana.app"); !strings.HasPrefix(out, "no - plugins are read-only") {
			t.Errorf("can-i delete plugins as the admin: %q", out)
		}
		if out, _, _ := kc("vic-token", "auth", "can-i", "list", "plugins.aggregation.grafana.app"); strings.TrimSpace(out) != "yes" {
			t.Errorf("can-i list plugins as a viewer: %q", out)
		}
		// The Status of a denial over plain HTTP.
		path := "/apis/aggregation.grafana.app/v0alpha1/plugins/example-app"
		code, body := d.request("DELETE", path, nil, "")
		st := decodeStatus(t, 403, body)
		if st.Reason != "Forbidden" || !strings.Contains(st.Message, `User "admin" cannot delete resource "plugins" in API group "aggregation.grafana.app"`) || !strings.Contains(st.Message, "read-only") {
			t.Errorf("%d %+v", code, st)
		}
		// Nobody may act as dpa's internal identity, server admins included.
		resp, body := d.call(t, "DELETE", path, nil, withHeader("Impersonate-User", "system:dpa:internal"))
		if st := decodeStatus(t, resp.StatusCode, body); resp.StatusCode != 403 || !strings.Contains(st.Message, `User "admin" cannot impersonate resource "users"`) ||
			!strings.Contains(st.Message, "nobody may impersonate dpa's internal identity") {
			t.Errorf("impersonating dpa: %d %s", resp.StatusCode, body)
		}
		if p := getPlugin(t, d, "example-app"); p == nil || replicaEntry(p, "e2e-a") == nil {
			t.Errorf("example-app changed: %s", describe(p))
		}
	})
}

// TestPluginObjectsReplicas: two replicas on one PostgreSQL each report their own plugin
// processes in their own status entry; a replica that stops cleanly takes its entries away,
// and an object goes when no replica has its plugin any more.
func TestPluginObjectsReplicas(t *testing.T) {
	built := examplePlugins(t)
	dsn := startPostgres(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	copyPluginDir(t, filepath.Join(built, "datasource"), filepath.Join(dirA, "example-datasource"))
	copyPluginDir(t, filepath.Join(built, "app"), filepath.Join(dirA, "example-app"))
	copyPluginDir(t, filepath.Join(built, "datasource"), filepath.Join(dirB, "example-datasource"))
	a := startServer(t, "", "--storage", dsn, "--plugins-dir", dirA, "--plugins-rescan-interval", "200ms", "--replica-name", "a")
	b := startServer(t, "", "--storage", dsn, "--plugins-dir", dirB, "--plugins-rescan-interval", "200ms", "--replica-name", "b")

	both := func(p *v0alpha1.Plugin) bool { return runningOn("a")(p) && runningOn("b")(p) }
	p := waitPlugin(t, a, "example-datasource", "running on both replicas", both)
	if ea, eb := replicaEntry(p, "a"), replicaEntry(p, "b"); *ea.Pid == *eb.Pid {
		t.Errorf("both replicas report pid %d", *ea.Pid)
	}
	// Both replicas serve the same truth.
	waitPlugin(t, b, "example-datasource", "running on both replicas, seen by b", both)
	waitPlugin(t, b, "example-app", "only on a", func(p *v0alpha1.Plugin) bool {
		return runningOn("a")(p) && len(p.Status.Replicas) == 1
	})
	out := b.kc(t, "get", "plugins.aggregation.grafana.app", "example-datasource", "--no-headers")
	if f := strings.Fields(out); len(f) < 5 || f[3] != "Running" || f[4] != "2/2" {
		t.Errorf("row %q, want Running 2/2", out)
	}
	// A crash on b is b's fact alone.
	pidB := int(*replicaEntry(getPlugin(t, b, "example-datasource"), "b").Pid)
	if err := syscall.Kill(pidB, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p = waitPlugin(t, a, "example-datasource", "b's restart", func(p *v0alpha1.Plugin) bool {
		e := replicaEntry(p, "b")
		return both(p) && e.Restarts >= 1 && int(*e.Pid) != pidB
	})
	if ea := replicaEntry(p, "a"); ea.Restarts != 0 || ea.LastError != nil {
		t.Errorf("a's entry changed by b's crash: %s", describe(p))
	}

	// b stops cleanly: its entry goes, a's stays.
	b.stop()
	waitPlugin(t, a, "example-datasource", "b's entry removed", func(p *v0alpha1.Plugin) bool {
		return runningOn("a")(p) && len(p.Status.Replicas) == 1
	})
	// The app leaves a's plugins directory: no replica has it, the object goes.
	if err := os.RemoveAll(filepath.Join(dirA, "example-app")); err != nil {
		t.Fatal(err)
	}
	waitPlugin(t, a, "example-app", "deleted", func(p *v0alpha1.Plugin) bool { return p == nil })
}
