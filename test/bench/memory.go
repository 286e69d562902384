package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dataplane-aggregator/dpa/test/internal/proc"
)

// memorySection: a fresh dpa's resident memory idle, then after 1,000 DataPlaneServices and
// 10,000 data-plane requests (QueryData, 16 clients), once with dpa's default GC target
// (GOGC unset: dpa sets 400) and once with GOGC=100.
func memorySection(ctx context.Context, tmp string) error {
	fmt.Println("## Memory: RSS idle, and after 1,000 DataPlaneServices + 10,000 data-plane requests")
	for _, gogc := range []string{"", "100"} {
		if err := memoryRun(ctx, tmp, gogc); err != nil {
			return err
		}
	}
	fmt.Println()
	return nil
}

func memoryRun(ctx context.Context, tmp, gogc string) error {
	label := "GOGC unset (dpa's default, 400)"
	if gogc != "" {
		label = "GOGC=" + gogc
		if err := os.Setenv("GOGC", gogc); err != nil {
			return err
		}
		defer os.Unsetenv("GOGC")
	}
	d, err := startDPA(filepath.Join(tmp, "memory-"+gogc))
	if err != nil {
		return err
	}
	defer d.stop()
	pid := d.cmd.Process.Pid
	time.Sleep(3 * time.Second)
	idle := proc.StatusKiB(pid, "VmRSS")
	for i := range 1000 {
		if err := d.apply(ctx, fmt.Sprintf("bench-mem-%04d", i), fmt.Sprintf("mem-%04d.datasource.grafana.app", i), "v1"); err != nil {
			return err
		}
	}
	query := d.calls()["QueryData"]
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= 10000 {
				if query(ctx) != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		return fmt.Errorf("%d of 10,000 requests failed", failed.Load())
	}
	time.Sleep(5 * time.Second)
	fmt.Printf("%s: RSS idle %d MiB; after 1,000 objects + 10,000 requests, idle 5 s: %d MiB (peak %d MiB)\n",
		label, idle/1024, proc.StatusKiB(pid, "VmRSS")/1024, proc.StatusKiB(pid, "VmHWM")/1024)
	return nil
}
