package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dataplane-aggregator/dpa/test/internal/pg"
)

// replicasSection: two dpa replicas on one PostgreSQL. A DataPlaneService created through A
// is timed until B serves its route (B's health route polled every 1 ms), with kine's own
// 1 s poll (--storage-poll-interval 0) and with dpa's default; then the database's idle load
// (statements per second, both replicas idle) for each.
func replicasSection(ctx context.Context, tmp string) error {
	dir, err := os.MkdirTemp("", "dpa-pg-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// Every statement is logged, so the idle load is counted in statements, not guessed.
	db, err := pg.Start(dir, "log_statement=all")
	if err != nil {
		return err
	}
	defer func() { _ = db.Stop() }()
	fmt.Printf("## Two replicas on one PostgreSQL: create through A → route live on B (%d repetitions), idle database load\n", *liveReps)
	for _, interval := range []string{"0", "100ms"} {
		if err := replicaRun(ctx, tmp, db, interval); err != nil {
			return err
		}
	}
	fmt.Println()
	return nil
}

func replicaRun(ctx context.Context, tmp string, db *pg.Server, interval string) error {
	args := []string{"--storage", db.DSN, "--storage-poll-interval", interval}
	a, err := startDPA(filepath.Join(tmp, "replica-a-"+interval), args...)
	if err != nil {
		return err
	}
	defer a.stop()
	b, err := startDPA(filepath.Join(tmp, "replica-b-"+interval), args...)
	if err != nil {
		return err
	}
	defer b.stop()

	var lat []time.Duration
	for i := range *liveReps {
		name := fmt.Sprintf("bench-replica-%s-%d", interval, i)
		group := fmt.Sprintf("bench-replica-%d.datasource.grafana.app", i)
		path := "/apis/" + group + "/v1/namespaces/default/datasources/" + dsUID + "/health"
		start := time.Now()
		if err := a.apply(ctx, name, group, "v1"); err != nil {
			return err
		}
		if _, err := b.waitLive(ctx, path, 30*time.Second); err != nil {
			return err
		}
		lat = append(lat, time.Since(start))
		if code, body, err := a.do(ctx, "DELETE", collection+"/"+name, nil); err != nil || code != 200 {
			return fmt.Errorf("deleting %s: %d %s %v", name, code, body, err)
		}
		// The next create reuses nothing of this one, but let B see the delete first.
		if _, err := b.waitGone(ctx, path, 30*time.Second); err != nil {
			return err
		}
	}
	slices.Sort(lat)
	label := "--storage-poll-interval " + interval
	if interval == "0" {
		label += " (kine's 1 s poll)"
	}
	fmt.Printf("%s: create on A → first 200 on B: p50 %s, min %s, max %s (n=%d)\n", label, ms(pct(lat, 50)), ms(lat[0]), ms(lat[len(lat)-1]), len(lat))

	// Idle load: both replicas up, nobody calling. Counted from the server's statement log:
	// pg_stat_database's counters are flushed by each backend on its own schedule (up to 10 s
	// late when idle), which made a 10 s window of them swing by 5× between runs.
	time.Sleep(2 * time.Second)
	before, err := statements(db)
	if err != nil {
		return err
	}
	const window = 10 * time.Second
	time.Sleep(window)
	after, err := statements(db)
	if err != nil {
		return err
	}
	fmt.Printf("%s: idle database load with 2 replicas over %s: %.1f statements/s (log_statement=all)\n",
		label, window, float64(after-before)/window.Seconds())
	return nil
}

// statements counts the statements the server logged so far (log_statement=all).
func statements(db *pg.Server) (int, error) {
	b, err := os.ReadFile(db.Log())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "LOG:  statement: ") || strings.Contains(line, "LOG:  execute ") {
			n++
		}
	}
	return n, nil
}

// waitGone polls path every 1 ms until it answers 404.
func (d *dpa) waitGone(ctx context.Context, path string, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		code, _, err := d.do(ctx, "GET", path, nil)
		if err == nil && code == 404 {
			return time.Since(start), nil
		}
		if time.Since(start) > limit {
			return 0, fmt.Errorf("%s still served after %s: %d %v", path, limit, code, err)
		}
		time.Sleep(time.Millisecond)
	}
}
