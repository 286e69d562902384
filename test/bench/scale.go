package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/dataplane-aggregator/dpa/test/internal/fanout"
)

// scaleN is how many datasources and DataPlaneServices the scale section adds.
const scaleN = 10000

// scaleSection measures what thousands of datasources and DataPlaneServices cost a call end to
// end — the same QueryData through a real dpa with 1 and with 10,000 provisioned datasources,
// and with 1 and 10,000 DataPlaneServices registered — and the p99 of concurrent queries while
// dpa reloads 10,000 provisioned datasources, against the same without a reload. The runs
// alternate (a b a b …) and each figure is the median of the rounds, so drift of the shared
// machine falls on both sides alike.
func scaleSection(ctx context.Context, tmp string) error {
	fmt.Printf("## Scale: the same call end to end with 1 and %d datasources / DataPlaneServices\n", scaleN)
	one, err := startScaleDPA(filepath.Join(tmp, "scale-1"), 0)
	if err != nil {
		return err
	}
	defer one.stop()
	many, err := startScaleDPA(filepath.Join(tmp, "scale-n"), scaleN)
	if err != nil {
		return err
	}
	defer many.stop()

	const rounds = 3
	type side struct {
		d   *dpa
		uid string
	}
	query := func(d *dpa, uid string) callFunc {
		body := []byte(`{"from":"now-1h","to":"now","queries":[` + string(queryJSON) + `]}`)
		path := "/apis/" + dsGroup + "/v0alpha1/namespaces/default/datasources/" + uid + "/query"
		return func(ctx context.Context) error {
			code, b, err := d.do(ctx, "POST", path, body)
			if err != nil {
				return err
			}
			if code != 200 {
				return fmt.Errorf("HTTP %d: %.200s", code, b)
			}
			return nil
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "comparison\tconc\ta p50\tb p50\tb/a p50\ta ops/s\tb ops/s\t")
	compare := func(name string, a, b side) {
		for _, conc := range concurrencies() {
			var pa, pb []time.Duration
			var oa, ob []float64
			for range rounds {
				ra := measure(ctx, conc, query(a.d, a.uid), nil)
				rb := measure(ctx, conc, query(b.d, b.uid), nil)
				if ra.errs > 0 || rb.errs > 0 {
					fmt.Fprintf(os.Stderr, "bench: scale %s: %d and %d errors (last: %v / %v)\n", name, ra.errs, rb.errs, ra.lastErr, rb.lastErr)
				}
				pa, pb = append(pa, ra.p50), append(pb, rb.p50)
				oa, ob = append(oa, ra.opsPerSec), append(ob, rb.opsPerSec)
			}
			ma, mb := median(pa), median(pb)
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%.3f\t%.0f\t%.0f\t\n", name, conc, us(ma), us(mb), float64(mb)/float64(ma), median(oa), median(ob))
		}
	}
	// The last of the 10,000 datasources: the farthest from any "first entry" shortcut.
	compare(fmt.Sprintf("datasources: 1 (a) vs %d (b)", scaleN+1), side{one, dsUID}, side{many, fmt.Sprintf("ds-%05d", scaleN-1)})

	// A third dpa with one datasource and 10,000 more DataPlaneServices.
	svc, err := startScaleDPA(filepath.Join(tmp, "scale-s"), 0)
	if err != nil {
		return err
	}
	defer svc.stop()
	t0 := time.Now()
	if err := createServices(ctx, svc, scaleN); err != nil {
		return err
	}
	last := fmt.Sprintf("/apis/g%05d.scale.grafana.app/v1/namespaces/default/datasources/%s/health", scaleN-1, dsUID)
	if _, err := svc.waitLive(ctx, last, 5*time.Minute); err != nil {
		return err
	}
	created := time.Since(t0)
	compare(fmt.Sprintf("DataPlaneServices: 1 (a) vs %d (b)", scaleN+1), side{one, dsUID}, side{svc, dsUID})
	_ = tw.Flush()
	fmt.Printf("(%d DataPlaneServices created through the API and live in %s)\n\n", scaleN, created.Round(time.Millisecond))

	// Provisioning reloads of 10,000 datasources while clients query: the file rewritten (one
	// datasource's url changed) and SIGHUP every second — a real reload, every datasource
	// parsed again —, and SIGHUP alone every 200 ms (nothing changed: nothing to parse).
	fmt.Printf("## Scale: concurrent queries while %d provisioned datasources are reloaded\n", scaleN)
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "reload\tconc\tp50 quiet\tp50 reloading\tp99 quiet\tp99 reloading\tp99 ratio\treloads\t")
	manyFile := filepath.Join(tmp, "scale-n", "prov", "datasources", "many.yaml")
	for _, mode := range []struct {
		name    string
		every   time.Duration
		rewrite bool
	}{{"file changed, 1/s", time.Second, true}, {"SIGHUP only, 5/s", 200 * time.Millisecond, false}} {
		for _, conc := range concurrencies() {
			var q50, r50, q99, r99 []time.Duration
			var reloads atomic.Int64
			for range rounds {
				quiet := measure(ctx, conc, query(many, dsUID), nil)
				stop := make(chan struct{})
				var wg sync.WaitGroup
				wg.Go(func() {
					t := time.NewTicker(mode.every)
					defer t.Stop()
					for {
						select {
						case <-stop:
							return
						case <-t.C:
							if mode.rewrite {
								if err := writeDatasources(manyFile, scaleN, int(reloads.Load())); err != nil {
									fmt.Fprintln(os.Stderr, "bench:", err)
								}
							}
							_ = many.cmd.Process.Signal(syscall.SIGHUP)
							reloads.Add(1)
						}
					}
				})
				reloading := measure(ctx, conc, query(many, dsUID), nil)
				close(stop)
				wg.Wait()
				q50, r50 = append(q50, quiet.p50), append(r50, reloading.p50)
				q99, r99 = append(q99, quiet.p99), append(r99, reloading.p99)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%.3f\t%d\t\n", mode.name, conc, us(median(q50)), us(median(r50)),
				us(median(q99)), us(median(r99)), float64(median(r99))/float64(median(q99)), reloads.Load())
		}
	}
	_ = tw.Flush()
	fmt.Println()
	return nil
}

// startScaleDPA starts a dpa whose provisioning has the benchmark's datasource and n more of
// the example plugin (ds-00000 …) in org 1.
func startScaleDPA(tmp string, n int) (*dpa, error) {
	dir := filepath.Join(tmp, "prov", "datasources")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if n > 0 {
		if err := writeDatasources(filepath.Join(dir, "many.yaml"), n, 0); err != nil {
			return nil, err
		}
	}
	return startDPA(tmp)
}

// writeDatasources writes n datasources of the example plugin (ds-00000 …) into file; gen
// goes into the first one's url, so that each gen is a changed file.
func writeDatasources(file string, n, gen int) error {
	var b strings.Builder
	b.WriteString("apiVersion: 1\ndatasources:\n")
	for i := range n {
		port := 9
		if i == 0 {
			port = 10000 + gen%50000
		}
		fmt.Fprintf(&b, "  - {name: DS %05d, type: example-datasource, uid: ds-%05d, orgId: 1, url: \"http://127.0.0.1:%d\"}\n", i, i, port)
	}
	return os.WriteFile(file, []byte(b.String()), 0o644)
}

// createServices creates n DataPlaneServices of the example plugin (groups g00000.scale…),
// eight at a time.
func createServices(ctx context.Context, d *dpa, n int) error {
	return fanout.Each(n, 8, func(i int) error {
		return d.apply(ctx, fmt.Sprintf("scale-%05d", i), fmt.Sprintf("g%05d.scale.grafana.app", i), "v1")
	})
}

func median[T cmp.Ordered](s []T) T {
	c := slices.Clone(s)
	slices.Sort(c)
	return c[len(c)/2]
}
