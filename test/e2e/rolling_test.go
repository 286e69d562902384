package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReplicasRollingRestart: two replicas on one PostgreSQL behind a client that, like a
// load balancer, sends each request to a replica its /readyz probe (every 50 ms) says is
// ready. A route applied through A is served by B; then A gets SIGTERM and comes back while
// the load runs, and no request fails: /readyz turns unready first
// (--shutdown-delay-duration), in-flight requests drain, the listener closes last, and the
// restarted replica is ready only once its route table is loaded.
func TestReplicasRollingRestart(t *testing.T) {
	dsn := startPostgres(t)
	// One identity both replicas accept (each has its own admin token): an org-1 Viewer may
	// query the org's datasources.
	tokens := writeFile(t, t.TempDir(), "tokens.csv", `load-token,loader,loader,"grafana:org:1:Viewer"`+"\n")
	args := []string{"--storage", dsn, "--token-auth-file", tokens, "--plugins-dir", examplePlugins(t),
		"--provisioning", filepath.Join(repo, "examples", "provisioning"), "--shutdown-delay-duration", "2s"}
	a := startServer(t, "", args...)
	b := startServer(t, "", args...)
	replicas := []*server{a, b}
	// query sends a query to datasource "example" under the group path as the load user.
	query := func(s *server, group string) (int, string) {
		req, _ := http.NewRequest("POST", s.url+"/apis/"+group+"/namespaces/default/datasources/example/query",
			strings.NewReader(`{"queries":[{"refId":"A","scenario":"table","points":3}]}`))
		req.Header.Set("Authorization", "Bearer load-token")
		req.Header.Set("Content-Type", "application/json")
		code, out := s.do(req)
		return code, string(out)
	}
	call := func(s *server) (int, string) { return query(s, "example.datasource.grafana.app/v0alpha1") }

	t.Run("a route applied through A is served by B", func(t *testing.T) {
		if code, out := call(b); code == http.StatusOK {
			t.Fatalf("before the apply B already serves the route: %s", out)
		}
		a.kc(t, "apply", "-f", filepath.Join(repo, "examples", "dataplaneservices", "example-datasource.yaml"))
		eventually(t, 20*time.Second, "B serves the route applied through A", func() (bool, string) {
			code, out := call(b)
			return code == http.StatusOK, fmt.Sprintf("%d %s", code, out)
		})
		eventually(t, 20*time.Second, "B reports the object Available", func() (bool, string) {
			out := b.kc(t, "get", "dataplaneservice", "example-datasource", "-o", `jsonpath={.status.conditions[?(@.type=="Available")].status}`)
			return out == "True", out
		})
	})

	t.Run("a restarted replica is ready only once its route table is loaded", func(t *testing.T) {
		// Enough objects that loading them takes a while after the API is up.
		const n = 300
		var docs strings.Builder
		for i := range n {
			fmt.Fprintf(&docs, "---\napiVersion: aggregation.grafana.app/v0alpha1\nkind: DataPlaneService\nmetadata:\n  name: fleet-%d\n"+
				"spec:\n  pluginID: example-datasource\n  pluginType: datasource\n  group: fleet-%d.datasource.grafana.app\n  version: v1\n  services:\n  - type: query\n", i, i)
		}
		a.kc(t, "apply", "-f", writeFile(t, t.TempDir(), "fleet.yaml", docs.String()))
		last := fmt.Sprintf("fleet-%d.datasource.grafana.app/v1", n-1)
		eventually(t, 30*time.Second, "A serves the last of them", func() (bool, string) {
			code, out := query(a, last)
			return code == http.StatusOK, fmt.Sprintf("%d %s", code, out)
		})
		a.stop()
		a.start() // returns at the first /readyz 200
		if code, out := query(a, last); code != http.StatusOK {
			t.Fatalf("A said ready but does not serve a route it had before the restart: %d %s", code, out)
		}
	})

	t.Run("rolling restart loses no request", func(t *testing.T) {
		for _, s := range replicas {
			if code, out := call(s); code != http.StatusOK {
				t.Fatalf("%s before the restart: %d %s", s.url, code, out)
			}
		}
		// The probe, as a load balancer's: a replica gets requests while its /readyz is 200.
		var ready [2]atomic.Bool
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i, s := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					code, _ := s.anon("GET", "/readyz")
					ready[i].Store(code == http.StatusOK)
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
			}()
		}
		var mu sync.Mutex
		var failures []string
		var total, toA, toAAfterRestart atomic.Int64
		var restarted atomic.Bool
		var next atomic.Uint64
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					i := int(next.Add(1) % 2)
					if !ready[i].Load() {
						i = 1 - i
					}
					if !ready[i].Load() {
						time.Sleep(10 * time.Millisecond)
						continue
					}
					code, out := call(replicas[i])
					total.Add(1)
					if i == 0 {
						toA.Add(1)
						if restarted.Load() {
							toAAfterRestart.Add(1)
						}
					}
					if code != http.StatusOK {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("replica %c: %d %.200s", 'A'+i, code, out))
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Second)
		start := time.Now()
		a.stop() // SIGTERM; waits for the exit
		t.Logf("A stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
		a.start() // same data dir and port; returns once /readyz is 200
		restarted.Store(true)
		t.Logf("A ready again %s after SIGTERM", time.Since(start).Round(time.Millisecond))
		time.Sleep(2 * time.Second)
		close(stop)
		wg.Wait()
		t.Logf("%d requests, %d to A, %d to A after its restart", total.Load(), toA.Load(), toAAfterRestart.Load())
		if len(failures) > 0 {
			t.Fatalf("%d of %d requests failed during the rolling restart, e.g.:\n%s", len(failures), total.Load(), strings.Join(failures[:min(len(failures), 10)], "\n"))
		}
		if toAAfterRestart.Load() == 0 {
			t.Fatal("no request reached A after its restart: the test proved nothing about the restarted replica")
		}
	})
}
