package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/dataplane-aggregator/dpa/test/internal/pg"
)

// startPostgres runs a throwaway PostgreSQL on a free loopback port and returns its DSN.
func startPostgres(t *testing.T) string {
	t.Helper()
	srv, err := pg.Start(shortTempDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stopping PostgreSQL: %v", err)
		}
	})
	return srv.DSN
}

func TestPostgresReplicas(t *testing.T) {
	dsn := startPostgres(t)
	tokens := writeFile(t, t.TempDir(), "tokens.csv", `vic-token,vic,vic,"grafana:org:1:Viewer"`+"\n")
	a := startServer(t, "", "--storage", dsn, "--token-auth-file", tokens)
	b := startServer(t, "", "--storage", dsn, "--token-auth-file", tokens)

	// A UI session started on A works on B; signing out on B ends it on A too.
	s := session(a.signIn(t, "vic-token"))
	if code, body := b.as(t, s, "GET", collection, nil); code != 200 {
		t.Fatalf("A's session on B: %d %s", code, body)
	}
	out := *b.httpClient()
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest("POST", b.url+"/ui/logout", nil)
	req.Header.Set("Cookie", s.headers["Cookie"])
	if resp, err := out.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	if code, body := a.as(t, s, "GET", collection, nil); code != 401 {
		t.Fatalf("the session signed out on B still works on A: %d %s", code, body)
	}

	// Watch on replica B, write through replica A.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	watch := exec.CommandContext(ctx, kubectl, "--kubeconfig", b.kubeconfig, "get", "dataplaneservices", "-w", "--output-watch-events", "-o", "json")
	stdout, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = watch.Wait() }()
	type event struct {
		Type   string `json:"type"`
		Object struct {
			Metadata struct{ Name string } `json:"metadata"`
			Status   struct {
				Conditions []struct{ Type, Status string } `json:"conditions"`
			} `json:"status"`
		} `json:"object"`
	}
	events := make(chan event, 16)
	go func() {
		dec := json.NewDecoder(stdout)
		for {
			var ev event
			if dec.Decode(&ev) != nil {
				close(events)
				return
			}
			events <- ev
		}
	}()
	time.Sleep(time.Second)

	f := writeFile(t, t.TempDir(), "pg.yaml", dpsYAML("shared", "shared.datasource.grafana.app", "v0alpha1", "  - type: query\n"))
	created := time.Now()
	a.kc(t, "apply", "-f", f)

	added, registered := false, false
	timeout := time.After(20 * time.Second)
	for !(added && registered) {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("watch on replica B ended early")
			}
			if ev.Object.Metadata.Name != "shared" {
				continue
			}
			if ev.Type == "ADDED" && !added {
				added = true
				t.Logf("replica B saw ADDED %s after the write through A", time.Since(created).Round(time.Millisecond))
			}
			for _, c := range ev.Object.Status.Conditions {
				registered = registered || (c.Type == "Registered" && c.Status == "True")
			}
		case <-timeout:
			t.Fatalf("replica B did not see the object created through A (added=%v registered=%v)", added, registered)
		}
	}
	// Both replicas read the same store.
	if out := b.kc(t, "get", "dataplaneservice", "shared", "-o", "name"); out == "" {
		t.Fatal("replica B cannot get the object")
	}
	b.kc(t, "delete", "dataplaneservice", "shared")
	if _, errOut, err := a.kubectl("get", "dataplaneservice", "shared"); err == nil {
		t.Fatalf("replica A still has the object deleted through B: %s", errOut)
	}
}
