package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-app-sdk/resource"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
)

const collection = "/apis/aggregation.grafana.app/v0alpha1/dataplaneservices"

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func dpsYAML(name, group, version string, services string) string {
	return fmt.Sprintf(`apiVersion: aggregation.grafana.app/v0alpha1
kind: DataPlaneService
metadata:
  name: %s
spec:
  pluginID: %s
  pluginType: datasource
  group: %s
  version: %s
  services:
%s`, name, name, group, version, services)
}

// getObject reads an object with kubectl -o json.
func getObject(t *testing.T, s *server, name string) *v0alpha1.DataPlaneService {
	t.Helper()
	out := s.kc(t, "get", "dataplaneservice", name, "-o", "json")
	var o v0alpha1.DataPlaneService
	if err := json.Unmarshal([]byte(out), &o); err != nil {
		t.Fatalf("decoding %s: %v", out, err)
	}
	return &o
}

func cond(o *v0alpha1.DataPlaneService, ty string) *v0alpha1.DataPlaneServiceCondition {
	for i := range o.Status.Conditions {
		if o.Status.Conditions[i].Type == ty {
			return &o.Status.Conditions[i]
		}
	}
	return nil
}

// waitAvailable waits until object name's Available condition reads want ("<status> <reason>",
// e.g. "False PluginNotFound") and returns the condition.
func waitAvailable(t *testing.T, s *server, name, want string, timeout time.Duration) *v0alpha1.DataPlaneServiceCondition {
	t.Helper()
	var c *v0alpha1.DataPlaneServiceCondition
	eventually(t, timeout, name+" Available="+want, func() (bool, string) {
		if c = cond(getObject(t, s, name), "Available"); c == nil {
			return false, "no Available condition"
		}
		got := string(c.Status) + " " + c.Reason
		return got == want, got + ": " + c.Message
	})
	return c
}

// expectedAvailable is the AVAILABLE column derived from conditions, as documented.
func expectedAvailable(o *v0alpha1.DataPlaneService) string {
	cell := func(c *v0alpha1.DataPlaneServiceCondition) string {
		if c.Status == "True" || c.Reason == "" {
			return string(c.Status)
		}
		return string(c.Status) + " (" + c.Reason + ")"
	}
	if c := cond(o, "Available"); c != nil {
		return cell(c)
	}
	if c := cond(o, "Registered"); c != nil && c.Status != "True" {
		return cell(c)
	}
	return "Unknown"
}

func TestResourceAPI(t *testing.T) {
	s := startServer(t, "")
	dir := t.TempDir()

	t.Run("unauthenticated", func(t *testing.T) {
		code, body := s.anon("GET", collection)
		decodeStatus(t, 401, body)
		if code != 401 {
			t.Fatalf("GET without token = %d", code)
		}
		for _, p := range []string{"/livez", "/readyz", "/healthz", "/version"} {
			if code, body := s.anon("GET", p); code != 200 {
				t.Errorf("GET %s without token = %d %s", p, code, body)
			}
		}
		// A wrong token is as good as none.
		req := s.url + collection
		code, _ = s.do(mustReq(t, "GET", req, "Bearer not-the-token"))
		if code != 401 {
			t.Errorf("GET with a wrong token = %d", code)
		}
	})

	t.Run("kubectl version", func(t *testing.T) {
		out := s.kc(t, "version", "-o", "json")
		var v struct {
			ServerVersion struct{ GitVersion string } `json:"serverVersion"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil || !strings.Contains(v.ServerVersion.GitVersion, "+dpa.") {
			t.Fatalf("kubectl version: %v %s", err, out)
		}
	})

	example := filepath.Join(repo, "examples", "dataplaneservices", "example-datasource.yaml")
	// ensureExample applies the example (idempotent), so each subtest also runs alone.
	ensureExample := func(t *testing.T) {
		t.Helper()
		s.kc(t, "apply", "-f", example)
		s.kc(t, "wait", "--for=condition=Registered", "dataplaneservice/example-datasource", "--timeout=30s")
	}
	t.Run("apply client-side and wait", func(t *testing.T) {
		s.kc(t, "delete", "dataplaneservice", "example-datasource", "--ignore-not-found")
		out := s.kc(t, "apply", "-f", example)
		if !strings.Contains(out, "dataplaneservice.aggregation.grafana.app/example-datasource created") {
			t.Fatalf("apply: %s", out)
		}
		s.kc(t, "wait", "--for=condition=Registered", "dataplaneservice/example-datasource", "--timeout=30s")
	})

	t.Run("get columns", func(t *testing.T) {
		ensureExample(t)
		o := getObject(t, s, "example-datasource")
		out := s.kc(t, "get", "dataplaneservices")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if got := strings.Fields(lines[0]); strings.Join(got, " ") != "NAME PLUGIN TYPE GROUP VERSION AVAILABLE AGE" {
			t.Fatalf("header = %q", lines[0])
		}
		if len(lines) != 2 {
			t.Fatalf("want one row: %s", out)
		}
		if short := strings.TrimSpace(s.kc(t, "get", "dps", "-o", "name")); short != "dataplaneservice.aggregation.grafana.app/example-datasource" {
			t.Errorf("kubectl get dps (the short name) = %q", short)
		}
		// Split on two or more spaces: AVAILABLE may read "False (Reason)".
		row := splitColumns(lines[1])
		want := []string{"example-datasource", "example-datasource", "datasource", "example.datasource.grafana.app", "v0alpha1", expectedAvailable(o)}
		if len(row) != 7 || strings.Join(row[:6], "|") != strings.Join(want, "|") {
			t.Fatalf("row = %q, want %q + AGE", row, want)
		}
	})

	t.Run("get -o yaml shows generation and status", func(t *testing.T) {
		ensureExample(t)
		out := s.kc(t, "get", "dataplaneservice", "example-datasource", "-o", "yaml")
		for _, want := range []string{"generation: 1", "observedGeneration: 1", "type: Registered", "reason: Registered", "status: \"True\""} {
			if !strings.Contains(out, want) {
				t.Errorf("yaml lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("explain", func(t *testing.T) {
		out := s.kc(t, "explain", "dataplaneservices.spec")
		for _, want := range []string{"pluginID", "pluginType", "services", "group", "version"} {
			if !strings.Contains(out, want) {
				t.Errorf("explain lacks %q:\n%s", want, out)
			}
		}
		// Every field of a service entry is described, the enums included.
		out = s.kc(t, "explain", "dataplaneservices.spec.services")
		if strings.Contains(out, "<no description>") || !strings.Contains(out, "type of plugin call served") || !strings.Contains(out, "enum: query, resource") {
			t.Errorf("explain spec.services:\n%s", out)
		}
	})

	t.Run("field selectors", func(t *testing.T) {
		ensureExample(t)
		f := writeFile(t, dir, "app.yaml", strings.Replace(dpsYAML("sel-app", "sel.app.grafana.app", "v1", "  - type: health\n"), "pluginType: datasource", "pluginType: app", 1))
		s.kc(t, "apply", "-f", f)
		out := s.kc(t, "get", "dataplaneservices", "--field-selector", "spec.pluginType=app", "-o", "name")
		if strings.TrimSpace(out) != "dataplaneservice.aggregation.grafana.app/sel-app" {
			t.Fatalf("pluginType=app selects %q", out)
		}
		out = s.kc(t, "get", "dataplaneservices", "--field-selector", "spec.pluginID=example-datasource", "-o", "name")
		if strings.TrimSpace(out) != "dataplaneservice.aggregation.grafana.app/example-datasource" {
			t.Fatalf("pluginID selects %q", out)
		}
		s.kc(t, "delete", "dataplaneservice", "sel-app")
	})

	t.Run("patch bumps generation and observedGeneration follows", func(t *testing.T) {
		ensureExample(t)
		s.kc(t, "patch", "dataplaneservice", "example-datasource", "--type=merge", "-p", `{"spec":{"version":"v1"}}`)
		eventually(t, 15*time.Second, "observedGeneration 2", func() (bool, string) {
			o := getObject(t, s, "example-datasource")
			c := cond(o, "Registered")
			ok := o.Generation == 2 && o.Status.ObservedGeneration != nil && *o.Status.ObservedGeneration == 2 &&
				c != nil && c.Status == "True" && strings.Contains(c.Message, "/v1")
			return ok, fmt.Sprintf("generation %d status %+v", o.Generation, o.Status)
		})
		// A metadata-only change does not bump generation.
		s.kc(t, "label", "dataplaneservice", "example-datasource", "team=observability")
		if o := getObject(t, s, "example-datasource"); o.Generation != 2 {
			t.Fatalf("label changed generation to %d", o.Generation)
		}
	})

	t.Run("server-side apply", func(t *testing.T) {
		f := writeFile(t, dir, "ssa.yaml", dpsYAML("ssa", "ssa.datasource.grafana.app", "v0alpha1", "  - type: query\n"))
		out := s.kc(t, "apply", "--server-side", "--field-manager=e2e", "-f", f)
		if !strings.Contains(out, "serverside-applied") {
			t.Fatalf("apply --server-side: %s", out)
		}
		f = writeFile(t, dir, "ssa.yaml", dpsYAML("ssa", "ssa.datasource.grafana.app", "v0alpha1", "  - type: query\n  - type: health\n"))
		s.kc(t, "apply", "--server-side", "--field-manager=e2e", "-f", f)
		out = s.kc(t, "get", "dataplaneservice", "ssa", "-o", "json", "--show-managed-fields")
		var o v0alpha1.DataPlaneService
		if err := json.Unmarshal([]byte(out), &o); err != nil {
			t.Fatal(err)
		}
		if len(o.Spec.Services) != 2 || o.Generation != 2 {
			t.Fatalf("after second apply: generation %d services %v", o.Generation, o.Spec.Services)
		}
		found := false
		for _, mf := range o.ManagedFields {
			found = found || (mf.Manager == "e2e" && mf.Operation == metav1.ManagedFieldsOperationApply)
		}
		if !found {
			t.Fatalf("no Apply managedFields entry for manager e2e: %+v", o.ManagedFields)
		}
	})

	t.Run("watch sees ADDED MODIFIED DELETED", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", s.kubeconfig, "get", "dataplaneservices", "-w", "--output-watch-events", "-o", "json", "--field-selector", "metadata.name=watched")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = cmd.Wait() }()
		events := make(chan string, 16)
		go func() {
			// kubectl prints one WatchEvent JSON document per event.
			dec := json.NewDecoder(stdout)
			for {
				var ev struct {
					Type   string `json:"type"`
					Object struct {
						Metadata struct{ Name string } `json:"metadata"`
					} `json:"object"`
				}
				if err := dec.Decode(&ev); err != nil {
					close(events)
					return
				}
				events <- ev.Type + " " + ev.Object.Metadata.Name
			}
		}()
		time.Sleep(time.Second) // let the watch establish before the first write
		f := writeFile(t, dir, "watched.yaml", dpsYAML("watched", "watched.datasource.grafana.app", "v0alpha1", "  - type: query\n"))
		s.kc(t, "apply", "-f", f)
		s.kc(t, "patch", "dataplaneservice", "watched", "--type=merge", "-p", `{"spec":{"version":"v2"}}`)
		s.kc(t, "delete", "dataplaneservice", "watched")
		seen := map[string]bool{}
		timeout := time.After(30 * time.Second)
		for !(seen["ADDED"] && seen["MODIFIED"] && seen["DELETED"]) {
			select {
			case line, ok := <-events:
				if !ok {
					t.Fatalf("watch ended early; seen %v", seen)
				}
				if ty, name, _ := strings.Cut(line, " "); name == "watched" {
					seen[ty] = true
				}
			case <-timeout:
				t.Fatalf("watch saw only %v", seen)
			}
		}
	})

	t.Run("invalid object is 422 with field paths", func(t *testing.T) {
		f := writeFile(t, dir, "bad.yaml", dpsYAML("bad", "bad.datasource.grafana.app", "v0alpha1", "  - type: route\n    path: items/{id}\n  - type: query\n    method: GET\n"))
		_, errOut, err := s.kubectl("apply", "-f", f)
		if err == nil {
			t.Fatal("kubectl apply of an invalid object succeeded")
		}
		for _, want := range []string{`The DataPlaneService "bad" is invalid`, "spec.services[0].path: Invalid value", "spec.services[1].method: Forbidden"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("kubectl error lacks %q:\n%s", want, errOut)
			}
		}
		body := map[string]any{
			"apiVersion": "aggregation.grafana.app/v0alpha1", "kind": "DataPlaneService",
			"metadata": map[string]any{"name": "bad"},
			"spec": map[string]any{"pluginID": "bad", "pluginType": "panel", "group": "bad.app", "version": "v1",
				"services": []any{map[string]any{"type": "query"}}},
		}
		code, resp := s.request("POST", collection, body, "")
		st := decodeStatus(t, 422, resp)
		if code != 422 || st.Reason != "Invalid" || len(st.Details.Causes) != 1 || st.Details.Causes[0].Field != "spec.pluginType" {
			t.Fatalf("POST invalid = %d %s", code, resp)
		}
		// Nothing was stored.
		if code, _ := s.request("GET", collection+"/bad", nil, ""); code != 404 {
			t.Fatalf("invalid object was stored: GET = %d", code)
		}
	})

	t.Run("group/version conflict is 422", func(t *testing.T) {
		s.kc(t, "apply", "-f", writeFile(t, dir, "owner.yaml", dpsYAML("owner", "owned.datasource.grafana.app", "v1", "  - type: query\n")))
		defer s.kc(t, "delete", "dataplaneservice", "owner")
		f := writeFile(t, dir, "dup.yaml", dpsYAML("dup", "owned.datasource.grafana.app", "v1", "  - type: query\n"))
		_, errOut, err := s.kubectl("apply", "-f", f)
		if err == nil || !strings.Contains(errOut, `spec.group: Invalid value: "owned.datasource.grafana.app": group/version owned.datasource.grafana.app/v1 is already claimed by DataPlaneService owner`) {
			t.Fatalf("conflicting apply: err=%v stderr=%s", err, errOut)
		}
	})

	t.Run("malformed and unknown fields are 400", func(t *testing.T) {
		code, resp := s.request("POST", collection, `{"apiVersion":`, "")
		decodeStatus(t, 400, resp)
		if code != 400 {
			t.Fatalf("malformed = %d", code)
		}
		code, resp = s.request("POST", collection, `{"apiVersion":"aggregation.grafana.app/v0alpha1","kind":"DataPlaneService","metadata":{"name":"u"},"spec":{"pluginID":"u","pluginType":"app","group":"u.app","version":"v1","services":[{"type":"health"}],"colour":"blue"}}`, "")
		st := decodeStatus(t, 400, resp)
		if code != 400 || !strings.Contains(st.Message, `unknown field "spec.colour"`) {
			t.Fatalf("unknown field = %d %s", code, resp)
		}
		code, resp = s.request("POST", collection, `{"apiVersion":"aggregation.grafana.app/v0alpha1","kind":"DataPlaneService","metadata":{"name":"u"},"spec":{"pluginID":7}}`, "")
		decodeStatus(t, 400, resp)
		if code != 400 {
			t.Fatalf("wrong JSON type = %d", code)
		}
	})

	t.Run("stale resourceVersion is 409 via the generated client", func(t *testing.T) {
		ensureExample(t)
		c := s.client()
		ctx := context.Background()
		id := resource.Identifier{Name: "example-datasource"}
		a, err := c.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		b := a.DeepCopy()
		a.Spec.Services = append(a.Spec.Services, v0alpha1.DataPlaneServiceService{Type: "route", Path: ptr("/first")})
		if _, err := c.Update(ctx, a, resource.UpdateOptions{ResourceVersion: a.ResourceVersion}); err != nil {
			t.Fatalf("first update: %v", err)
		}
		b.Spec.Services = append(b.Spec.Services, v0alpha1.DataPlaneServiceService{Type: "route", Path: ptr("/second")})
		_, err = c.Update(ctx, b, resource.UpdateOptions{ResourceVersion: b.ResourceVersion})
		if !apierrors.IsConflict(err) {
			t.Fatalf("stale update: want 409 Conflict, got %v", err)
		}
		got, err := c.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		last := got.Spec.Services[len(got.Spec.Services)-1]
		if last.Path == nil || *last.Path != "/first" {
			t.Fatalf("stale update changed the object: %+v", got.Spec.Services)
		}
	})

	t.Run("restart keeps objects", func(t *testing.T) {
		ensureExample(t)
		before := getObject(t, s, "example-datasource")
		s.stop()
		s.start()
		after := getObject(t, s, "example-datasource")
		if after.UID != before.UID || after.Generation != before.Generation || len(after.Spec.Services) != len(before.Spec.Services) {
			t.Fatalf("after restart: %+v, before: %+v", after.ObjectMeta, before.ObjectMeta)
		}
		s.kc(t, "wait", "--for=condition=Registered", "dataplaneservice/example-datasource", "--timeout=30s")
	})

	t.Run("delete", func(t *testing.T) {
		ensureExample(t)
		s.kc(t, "delete", "dataplaneservice", "example-datasource", "ssa", "--timeout=30s", "--ignore-not-found")
		out := s.kc(t, "get", "dataplaneservices", "-o", "name")
		if strings.TrimSpace(out) != "" {
			t.Fatalf("objects left after delete: %s", out)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func splitColumns(line string) []string {
	var cols []string
	for _, c := range strings.Split(line, "  ") {
		if c = strings.TrimSpace(c); c != "" {
			cols = append(cols, c)
		}
	}
	return cols
}

// TestDataDirLock: a second dpa on a data dir in use refuses to start, and says why.
func TestDataDirLock(t *testing.T) {
	s := startServer(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, dpaBin, "serve", "--data-dir", s.dataDir, "--secure-port", fmt.Sprint(freePort(t))).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "is in use by another dpa") {
		t.Fatalf("second dpa on the same data dir: %v\n%s", err, out)
	}
	// The first one is unaffected.
	if code, _ := s.anon("GET", "/readyz"); code != 200 {
		t.Fatalf("first dpa /readyz = %d", code)
	}
}

// TestReservedGroups: a DataPlaneService cannot claim dpa's own groups or a built-in
// Kubernetes group (422 with the field path); `kubectl auth whoami` and `can-i`, which the UI
// depends on, keep working.
func TestReservedGroups(t *testing.T) {
	s := startServer(t, "")
	dir := shortTempDir(t)
	for _, group := range []string{"authorization.k8s.io", "authentication.k8s.io", "apiregistration.k8s.io", "aggregation.grafana.app", "apps"} {
		t.Run(group, func(t *testing.T) {
			f := writeFile(t, dir, group+".yaml", "apiVersion: aggregation.grafana.app/v0alpha1\nkind: DataPlaneService\nmetadata: {name: claims-"+strings.ReplaceAll(group, ".", "-")+"}\n"+
				"spec: {pluginID: example-datasource, pluginType: datasource, group: "+group+", version: v1, services: [{type: query}]}\n")
			out, errOut, err := s.kubectl("apply", "-f", f)
			if err == nil || !strings.Contains(errOut, "spec.group: Forbidden: group "+group) {
				t.Errorf("claiming %s: %v\n%s%s", group, err, out, errOut)
			}
		})
	}
	if out, _, err := s.kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"); err != nil || out != "admin" {
		t.Errorf("whoami after the refused claims: %v %q", err, out)
	}
	if out, _, err := s.kubectl("auth", "can-i", "create", "dataplaneservices"); err != nil || strings.TrimSpace(out) != "yes" {
		t.Errorf("can-i after the refused claims: %v %q", err, out)
	}
}

// TestBadInputIsNever5xx: list and watch parameters, well-formed or not, on both resources,
// answer 2xx or a 4xx Status, never a 5xx; an object larger than --max-object-bytes is a 413,
// not the storage's 500.
func TestBadInputIsNever5xx(t *testing.T) {
	s := startServer(t, "")
	for _, resource := range []string{"dataplaneservices", "plugins"} {
		for _, q := range []string{
			"watch=1&resourceVersion=abc", "resourceVersion=abc", "resourceVersion=-1", "watch=1&resourceVersion=1.5",
			"limit=abc", "limit=-1", "continue=garbage", "limit=1&continue=Zm9v",
			"fieldSelector=foo%3D%3Dbar", "fieldSelector=(((", "labelSelector=(((", "labelSelector=a+in+(", "timeoutSeconds=abc",
			"resourceVersionMatch=bogus", "resourceVersionMatch=NotOlderThan", "watch=1&sendInitialEvents=x", "watch=maybe",
			"watch=1&allowWatchBookmarks=maybe&timeoutSeconds=1", "watch=1&timeoutSeconds=1", "fieldValidation=Bogus", "pretty=maybe",
		} {
			t.Run(resource+"?"+q, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				req := mustReq(t, "GET", s.url+"/apis/aggregation.grafana.app/v0alpha1/"+resource+"?"+q, "Bearer "+s.token).WithContext(ctx)
				resp, err := s.httpClient().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.StatusCode >= 500 {
					b, _ := io.ReadAll(resp.Body)
					t.Errorf("%d %s", resp.StatusCode, b)
				}
				if resp.StatusCode >= 400 {
					b, _ := io.ReadAll(resp.Body)
					decodeStatus(t, resp.StatusCode, b)
				}
			})
		}
	}
	t.Run("an invalid resourceVersion on a watch is a 400 naming it", func(t *testing.T) {
		code, body := s.request("GET", "/apis/aggregation.grafana.app/v0alpha1/dataplaneservices?watch=1&resourceVersion=abc", nil, "")
		if st := decodeStatus(t, code, body); code != 400 || st.Reason != "BadRequest" || !strings.Contains(st.Message, `invalid resource version "abc"`) {
			t.Errorf("%d %s", code, body)
		}
	})
	t.Run("a 2.5 MB object is a 413", func(t *testing.T) {
		big := map[string]any{"apiVersion": "aggregation.grafana.app/v0alpha1", "kind": "DataPlaneService",
			"metadata": map[string]any{"name": "big", "annotations": map[string]string{"x": strings.Repeat("x", 2500000)}},
			"spec": map[string]any{"pluginID": "example-datasource", "pluginType": "datasource", "group": "big.example.app", "version": "v1",
				"services": []map[string]string{{"type": "query"}}}}
		code, body := s.request("POST", "/apis/aggregation.grafana.app/v0alpha1/dataplaneservices", big, "application/json")
		if st := decodeStatus(t, code, body); code != 413 || strings.Contains(st.Message, "ResourceExhausted") {
			t.Errorf("%d %.300s", code, body)
		}
	})
}
