package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grafana/grafana-app-sdk/operator"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/dataplane"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

// BenchmarkReconcileList: what a start-up costs the reconciler — every stored object's
// event, delivered by the App SDK's 10 informer workers, into a real route table (the data
// plane's handler as the sink), with statuses written by an in-memory writer. One op is the
// whole list; publishes/op is how many times the route table was rebuilt.
func BenchmarkReconcileList(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("objects=%d", n), func(b *testing.B) {
			base := time.Now()
			objs := make([]*operator.ReconcileRequest, n)
			for i := range objs {
				objs[i] = &operator.ReconcileRequest{Action: operator.ReconcileActionCreated,
					Object: object(fmt.Sprintf("o%05d", i), base.Add(time.Duration(i)*time.Second), fmt.Sprintf("g%d.grafana.app", i), "v1")}
			}
			var publishes atomic.Int64
			for b.Loop() {
				h := dataplane.New(dataplane.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				r := NewReconciler(&lockedWriter{}, slog.New(slog.NewTextHandler(io.Discard, nil)), h, countingSink{&publishes})
				var next atomic.Int64
				var wg sync.WaitGroup
				for range 10 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
							if _, err := r.Reconcile(context.Background(), *objs[i]); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				if !r.Holds(fmt.Sprintf("o%05d", n-1)) || !h.Registered(fmt.Sprintf("g%d.grafana.app", n-1), "v1") {
					b.Fatal("the last object is not in the route table")
				}
			}
			b.ReportMetric(float64(publishes.Load())/float64(b.N), "publishes/op")
		})
	}
}

type countingSink struct{ n *atomic.Int64 }

func (s countingSink) UpdateRegistrations([]routes.Registration, []routes.GroupVersion) { s.n.Add(1) }

// lockedWriter is recordingWriter for concurrent reconciles.
type lockedWriter struct {
	mu sync.Mutex
	w  recordingWriter
}

func (l *lockedWriter) WriteStatus(ctx context.Context, obj *v0alpha1.DataPlaneService, st v0alpha1.DataPlaneServiceStatus) (*v0alpha1.DataPlaneService, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.WriteStatus(ctx, obj, st)
}
