package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grafana/grafana-app-sdk/operator"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

// recordingWriter stores statuses like the API server would: the written status lands on a
// copy with a bumped resource version.
type recordingWriter struct {
	writes []string
	fail   error
	rv     int
}

func (w *recordingWriter) WriteStatus(_ context.Context, obj *v0alpha1.DataPlaneService, st v0alpha1.DataPlaneServiceStatus) (*v0alpha1.DataPlaneService, error) {
	if w.fail != nil {
		return nil, w.fail
	}
	w.writes = append(w.writes, obj.Name)
	out := obj.DeepCopy()
	out.Status = st
	// Like storage: the write gets a resource version newer than the object it replaced.
	prev, _ := strconv.Atoi(obj.ResourceVersion)
	w.rv = max(w.rv, prev) + 1
	out.ResourceVersion = strconv.Itoa(w.rv)
	return out, nil
}

// recordingSink applies the changes it is given, as the data plane does: what it holds is
// what would be served.
type recordingSink struct {
	regs map[routes.GroupVersion]routes.Registration
}

func (s *recordingSink) UpdateRegistrations(set []routes.Registration, removed []routes.GroupVersion) {
	if s.regs == nil {
		s.regs = map[routes.GroupVersion]routes.Registration{}
	}
	for _, gv := range removed {
		delete(s.regs, gv)
	}
	for _, r := range set {
		s.regs[r.GroupVersion()] = r
	}
}

// served is every registration the sink holds, by group/version.
func (s *recordingSink) served() []routes.Registration {
	out := slices.Collect(maps.Values(s.regs))
	slices.SortFunc(out, func(a, b routes.Registration) int { return compareKeys(a.GroupVersion(), b.GroupVersion()) })
	return out
}

// routed is the registration the sink holds for group/version: what the data plane serves.
func (s *recordingSink) routed(group, version string) (routes.Registration, bool) {
	r, ok := s.regs[routes.GroupVersion{Group: group, Version: version}]
	return r, ok
}

func object(name string, created time.Time, group, version string) *v0alpha1.DataPlaneService {
	return &v0alpha1.DataPlaneService{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, UID: types.UID("uid-" + name), Generation: 1, ResourceVersion: "1",
			CreationTimestamp: metav1.NewTime(created),
		},
		Spec: v0alpha1.DataPlaneServiceSpec{
			PluginID: "p-" + name, PluginType: "datasource", Group: group, Version: version,
			Services: []v0alpha1.DataPlaneServiceService{{Type: "query"}},
		},
	}
}

func condition(o *v0alpha1.DataPlaneService, ty string) *v0alpha1.DataPlaneServiceCondition {
	for i := range o.Status.Conditions {
		if o.Status.Conditions[i].Type == ty {
			return &o.Status.Conditions[i]
		}
	}
	return nil
}

func reconcile(t *testing.T, r *Reconciler, action operator.ReconcileAction, o *v0alpha1.DataPlaneService) {
	t.Helper()
	if _, err := r.Reconcile(context.Background(), operator.ReconcileRequest{Action: action, Object: o}); err != nil {
		t.Fatalf("reconcile %s: %v", o.Name, err)
	}
}

func TestReconcilerTableAndStatus(t *testing.T) {
	w := &recordingWriter{}
	sink := &recordingSink{}
	r := NewReconciler(w, nil, sink)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r.Now = func() time.Time { return now }

	a := object("a", now, "a.example.app", "v1")
	reconcile(t, r, operator.ReconcileActionCreated, a)
	if len(sink.served()) != 1 || sink.served()[0].Name != "a" || sink.served()[0].PluginID != "p-a" || len(sink.served()[0].Services) != 1 {
		t.Fatalf("route table = %+v", sink.served())
	}
	reg, ok := sink.routed("a.example.app", "v1")
	if !ok || reg.Name != "a" {
		t.Fatalf("routed = %+v, %v", reg, ok)
	}
	if _, ok := sink.routed("a.example.app", "v2"); ok {
		t.Fatal("an unclaimed version is routed")
	}
	cur := r.objects["a"]
	c := condition(cur, ConditionRegistered)
	if c == nil || c.Status != "True" || c.Reason != ReasonRegistered || c.LastTransitionTime != "2026-01-02T03:04:05Z" {
		t.Fatalf("Registered condition = %+v", c)
	}
	if cur.Status.ObservedGeneration == nil || *cur.Status.ObservedGeneration != 1 {
		t.Fatalf("observedGeneration = %v", cur.Status.ObservedGeneration)
	}

	// Status is written only when it changes: the informer echoing our write is a no-op.
	writes := len(w.writes)
	reconcile(t, r, operator.ReconcileActionUpdated, cur.DeepCopy())
	if len(w.writes) != writes {
		t.Fatalf("unchanged status was written again: %v", w.writes)
	}

	// A spec change bumps generation: observedGeneration follows, transition time is kept.
	now = now.Add(time.Hour)
	upd := cur.DeepCopy()
	upd.Generation = 2
	upd.ResourceVersion = "5000"
	upd.Spec.Version = "v2"
	reconcile(t, r, operator.ReconcileActionUpdated, upd)
	cur = r.objects["a"]
	if *cur.Status.ObservedGeneration != 2 || condition(cur, ConditionRegistered).LastTransitionTime != "2026-01-02T03:04:05Z" {
		t.Fatalf("after spec change: %+v", cur.Status)
	}
	if _, ok := sink.routed("a.example.app", "v1"); ok {
		t.Fatal("old group/version still routed after the version changed")
	}
	if _, ok := sink.routed("a.example.app", "v2"); !ok {
		t.Fatal("new group/version not routed")
	}

	reconcile(t, r, operator.ReconcileActionDeleted, cur)
	if len(sink.served()) != 0 {
		t.Fatalf("route table after delete = %+v", sink.served())
	}
}

func TestReconcilerConflictOldestWins(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	older := object("zeta", base, "g.example.app", "v1")
	newer := object("alpha", base.Add(time.Second), "g.example.app", "v1")
	tie := object("beta", base.Add(time.Second), "g.example.app", "v1")

	// Every arrival order gives the same winner, as on every replica.
	orders := [][]*v0alpha1.DataPlaneService{{older, newer, tie}, {newer, tie, older}, {tie, older, newer}}
	for _, order := range orders {
		w := &recordingWriter{}
		sink := &recordingSink{}
		r := NewReconciler(w, nil, sink)
		for _, o := range order {
			reconcile(t, r, operator.ReconcileActionCreated, o.DeepCopy())
		}
		if len(sink.served()) != 1 || sink.served()[0].Name != "zeta" {
			t.Fatalf("order %s,%s,%s: winner = %+v", order[0].Name, order[1].Name, order[2].Name, sink.served())
		}
		if names := r.ClaimedBy("g.example.app", "v1"); len(names) != 3 || names[0] != "zeta" || names[1] != "alpha" || names[2] != "beta" {
			t.Fatalf("ClaimedBy = %v", names)
		}
		for _, loser := range []string{"alpha", "beta"} {
			c := condition(r.objects[loser], ConditionRegistered)
			if c == nil || c.Status != "False" || c.Reason != ReasonGroupVersionConflict {
				t.Fatalf("%s Registered = %+v", loser, c)
			}
		}
		// The winner leaves: the next oldest (alpha, by name on the tie) takes over and its
		// status flips to True without an event of its own.
		reconcile(t, r, operator.ReconcileActionDeleted, r.objects["zeta"])
		if len(sink.served()) != 1 || sink.served()[0].Name != "alpha" {
			t.Fatalf("after delete winner = %+v", sink.served())
		}
		if c := condition(r.objects["alpha"], ConditionRegistered); c.Status != "True" {
			t.Fatalf("alpha after takeover = %+v", c)
		}
		if c := condition(r.objects["beta"], ConditionRegistered); c.Status != "False" || c.Message == "" {
			t.Fatalf("beta after takeover = %+v", c)
		}
	}
}

func TestReconcilerStatusWriteErrors(t *testing.T) {
	w := &recordingWriter{fail: apierrors.NewConflict(schema.GroupResource{Resource: "dataplaneservices"}, "a", errors.New("stale"))}
	r := NewReconciler(w, nil)
	// A conflict is not an error: the newer object's own event re-runs reconcile.
	if _, err := r.Reconcile(context.Background(), operator.ReconcileRequest{Action: operator.ReconcileActionCreated, Object: object("a", time.Now(), "g.app", "v1")}); err != nil {
		t.Fatalf("conflict surfaced as error: %v", err)
	}
	// Anything else is returned so the SDK retries.
	w.fail = errors.New("connection refused")
	if _, err := r.Reconcile(context.Background(), operator.ReconcileRequest{Action: operator.ReconcileActionUpdated, Object: object("a", time.Now(), "g.app", "v1")}); err == nil {
		t.Fatal("a failed status write was swallowed")
	}
}

type fixedAvailability struct{}

func (fixedAvailability) Available(reg routes.Registration) (v0alpha1.DataPlaneServiceConditionStatus, string, string) {
	return "False", "PluginNotFound", "plugin " + reg.PluginID + " is not installed"
}

func TestReconcilerAvailability(t *testing.T) {
	w := &recordingWriter{}
	r := NewReconciler(w, nil)
	r.Availability = fixedAvailability{}
	base := time.Now()
	reconcile(t, r, operator.ReconcileActionCreated, object("a", base, "g.app", "v1"))
	reconcile(t, r, operator.ReconcileActionCreated, object("b", base.Add(time.Second), "g.app", "v1"))
	if c := condition(r.objects["a"], ConditionAvailable); c == nil || c.Reason != "PluginNotFound" || c.Message != "plugin p-a is not installed" {
		t.Fatalf("a Available = %+v", c)
	}
	if c := condition(r.objects["b"], ConditionAvailable); c == nil || c.Status != "False" || c.Reason != "NotRegistered" {
		t.Fatalf("b Available = %+v", c)
	}
}

// claimingSink asks the reconciler who claims a group/version while it is being published,
// as a discovery rebuild or validation running at that moment would.
type claimingSink struct {
	r      *Reconciler
	claims []string
}

func (s *claimingSink) UpdateRegistrations([]routes.Registration, []routes.GroupVersion) {
	s.claims = s.r.ClaimedBy("a.grafana.app", "v1")
}

// TestSinksRunOutsideTheLock: sinks run without the reconciler's lock, so ClaimedBy (used by
// validation) never waits for a sink (with the lock held this deadlocked).
func TestSinksRunOutsideTheLock(t *testing.T) {
	r := NewReconciler(nil, nil)
	sink := &claimingSink{r: r}
	r.Sinks = []routes.Sink{sink}
	done := make(chan error, 1)
	go func() {
		_, err := r.Reconcile(context.Background(), operator.ReconcileRequest{
			Action: operator.ReconcileActionCreated, Object: object("x", time.Now(), "a.grafana.app", "v1")})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Reconcile blocked: the sink's ClaimedBy waited for the reconciler's lock")
	}
	if len(sink.claims) != 1 || sink.claims[0] != "x" {
		t.Errorf("claims seen by the sink = %v", sink.claims)
	}
}

// gateSink blocks in UpdateRegistrations until released, and counts its calls.
type gateSink struct {
	entered chan struct{}
	release chan struct{}
	calls   atomic.Int64
	last    atomic.Pointer[[]routes.Registration]
}

func (s *gateSink) UpdateRegistrations(set []routes.Registration, _ []routes.GroupVersion) {
	s.calls.Add(1)
	s.entered <- struct{}{}
	<-s.release
	s.last.Store(&set)
}

// TestReconcilerCoalescesPublishes: events that arrive while the route table is being
// published are published together, once, and Holds is true only once an object's routes
// are in the published table.
func TestReconcilerCoalescesPublishes(t *testing.T) {
	sink := &gateSink{entered: make(chan struct{}, 100), release: make(chan struct{})}
	r := NewReconciler(&lockedWriter{}, nil, sink)
	base := time.Now()
	reconcileAsync := func(name string, i int) chan error {
		done := make(chan error, 1)
		go func() {
			_, err := r.Reconcile(context.Background(), operator.ReconcileRequest{Action: operator.ReconcileActionCreated,
				Object: object(name, base.Add(time.Duration(i)*time.Second), name+".grafana.app", "v1")})
			done <- err
		}()
		return done
	}
	first := reconcileAsync("first", 0)
	<-sink.entered // the first publish is under way, held by the sink
	if r.Holds("first") {
		t.Fatal("Holds before the object's routes were published")
	}
	var rest []chan error
	for i := 1; i <= 20; i++ {
		rest = append(rest, reconcileAsync(fmt.Sprintf("o%02d", i), i))
	}
	// Wait until all 20 have changed the reconciler's objects (they then wait to publish).
	for deadline := time.Now().Add(5 * time.Second); ; {
		r.mu.RLock()
		n := len(r.objects)
		r.mu.RUnlock()
		if n == 21 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d objects seen", n)
		}
		time.Sleep(time.Millisecond)
	}
	if r.Holds("o01") {
		t.Fatal("Holds for an object not published yet")
	}
	sink.release <- struct{}{} // the first publish completes
	<-sink.entered             // one more publish, for all 20
	sink.release <- struct{}{}
	go func() { // let any further publish through, so that too many fail below, not hang
		for range sink.entered {
			sink.release <- struct{}{}
		}
	}()
	for _, c := range append(rest, first) {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	if n := sink.calls.Load(); n != 2 {
		t.Errorf("%d publishes for 21 events arriving during a publish, want 2", n)
	}
	// The second publish carries the 20 changes made while the first ran, and only them.
	if regs := *sink.last.Load(); len(regs) != 20 || slices.ContainsFunc(regs, func(r routes.Registration) bool { return r.Name == "first" }) {
		t.Errorf("the second publish carried %d registrations, want the 20 others", len(regs))
	}
	for i := 1; i <= 20; i++ {
		if name := fmt.Sprintf("o%02d", i); !r.Holds(name) {
			t.Errorf("Holds(%s) false after its publish", name)
		}
	}
}

type switchAvailability struct{ up atomic.Bool }

func (a *switchAvailability) Available(routes.Registration) (v0alpha1.DataPlaneServiceConditionStatus, string, string) {
	if a.up.Load() {
		return "True", "PluginRunning", "plugin is running"
	}
	return "False", "PluginNotRunning", "plugin is not running"
}

// TestReconcilerRefresh: a plugin state change rewrites the Available condition of every
// object without rebuilding the route table (registrations do not depend on plugin state).
func TestReconcilerRefresh(t *testing.T) {
	var publishes atomic.Int64
	w := &recordingWriter{}
	r := NewReconciler(w, nil, countingSink{&publishes})
	avail := &switchAvailability{}
	r.Availability = avail
	base := time.Now()
	reconcile(t, r, operator.ReconcileActionCreated, object("a", base, "a.app", "v1"))
	reconcile(t, r, operator.ReconcileActionCreated, object("b", base, "b.app", "v1"))
	if c := condition(r.objects["a"], ConditionAvailable); c == nil || c.Status != "False" {
		t.Fatalf("a Available before = %+v", c)
	}
	before := publishes.Load()
	avail.up.Store(true)
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if c := condition(r.objects[name], ConditionAvailable); c == nil || c.Status != "True" || c.Reason != "PluginRunning" {
			t.Errorf("%s Available after Refresh = %+v", name, c)
		}
	}
	if n := publishes.Load() - before; n != 0 {
		t.Errorf("Refresh rebuilt the route table %d times", n)
	}
}
