package pluginsync

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/grafana/grafana-app-sdk/resource"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/pluginhost"
)

func ptr[T any](v T) *T { return &v }

var since = time.Date(2025, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))

func TestDesired(t *testing.T) {
	ds := pluginhost.PluginInfo{ID: "ds", Type: "datasource", Name: "DS", Version: "1.2.3", Backend: true, Dir: "/p/ds", Executable: "gpx_ds"}
	for name, tc := range map[string]struct {
		info      pluginhost.PluginInfo
		st        pluginhost.PluginState
		wantSpec  v0alpha1.PluginSpec
		wantEntry v0alpha1.PluginReplicaStatus
	}{
		"running": {
			info: ds,
			st: pluginhost.PluginState{Known: true, Phase: pluginhost.PhaseRunning, Running: true, Restarts: 2, LastError: "exit status 2",
				PID: 42, Since: since, Services: []string{"pluginv2.Data", "pluginv2.Resource"}, Unimplemented: []string{"pluginv2.Resource"}},
			wantSpec: v0alpha1.PluginSpec{Id: "ds", Type: "datasource", Name: "DS", Version: "1.2.3", Backend: true},
			wantEntry: v0alpha1.PluginReplicaStatus{Replica: "r1", Version: "1.2.3", Phase: v0alpha1.PluginReplicaStatusPhaseRunning, Running: true,
				Restarts: 2, LastError: ptr("exit status 2"), Pid: ptr(int64(42)), Since: ptr("2025-01-02T02:04:05Z"),
				Services: []string{"pluginv2.Data", "pluginv2.Resource"}, Unimplemented: []string{"pluginv2.Resource"}},
		},
		"backoff, no process": {
			info:     ds,
			st:       pluginhost.PluginState{Known: true, Phase: pluginhost.PhaseBackoff, Restarts: 1, LastError: "boom", Since: since, Services: []string{}},
			wantSpec: v0alpha1.PluginSpec{Id: "ds", Type: "datasource", Name: "DS", Version: "1.2.3", Backend: true},
			wantEntry: v0alpha1.PluginReplicaStatus{Replica: "r1", Version: "1.2.3", Phase: v0alpha1.PluginReplicaStatusPhaseBackoff, Restarts: 1,
				LastError: ptr("boom"), Since: ptr("2025-01-02T02:04:05Z")},
		},
		"frontend only": {
			info:      pluginhost.PluginInfo{ID: "panel", Type: "panel", Name: "P", Version: "0.1.0"},
			st:        pluginhost.PluginState{Known: true, Phase: pluginhost.PhaseIdle},
			wantSpec:  v0alpha1.PluginSpec{Id: "panel", Type: "panel", Name: "P", Version: "0.1.0"},
			wantEntry: v0alpha1.PluginReplicaStatus{Replica: "r1", Version: "0.1.0", Phase: v0alpha1.PluginReplicaStatusPhaseIdle},
		},
		"standalone, not responding": {
			info:     pluginhost.PluginInfo{ID: "sa", Backend: true, Address: "127.0.0.1:1"},
			st:       pluginhost.PluginState{Known: true, Phase: pluginhost.PhaseRunning, Running: true, NotResponding: "deadline exceeded"},
			wantSpec: v0alpha1.PluginSpec{Id: "sa", Backend: true},
			wantEntry: v0alpha1.PluginReplicaStatus{Replica: "r1", Phase: v0alpha1.PluginReplicaStatusPhaseNotResponding, Running: true,
				NotResponding: ptr("deadline exceeded"), Address: ptr("127.0.0.1:1")},
		},
		// A hung process is shown as such, since its probe first failed, not as Running.
		"process not responding": {
			info: ds,
			st: pluginhost.PluginState{Known: true, Phase: pluginhost.PhaseRunning, Running: true, PID: 42, Since: since,
				NotResponding: "no answer to the health probe within 5s", NotRespondingSince: since.Add(time.Hour)},
			wantSpec: v0alpha1.PluginSpec{Id: "ds", Type: "datasource", Name: "DS", Version: "1.2.3", Backend: true},
			wantEntry: v0alpha1.PluginReplicaStatus{Replica: "r1", Version: "1.2.3", Phase: v0alpha1.PluginReplicaStatusPhaseNotResponding, Running: true,
				NotResponding: ptr("no answer to the health probe within 5s"), Pid: ptr(int64(42)), Since: ptr("2025-01-02T03:04:05Z")},
		},
	} {
		spec, e := Desired("r1", tc.info, tc.st)
		if spec != tc.wantSpec {
			t.Errorf("%s: spec = %+v, want %+v", name, spec, tc.wantSpec)
		}
		if !entryEqual(e, tc.wantEntry) {
			t.Errorf("%s: entry = %s, want %s", name, show(e), show(tc.wantEntry))
		}
	}
}

// TestPhasesAreInTheKind: every phase of the plugin host is a value of the kind's phase enum.
func TestPhasesAreInTheKind(t *testing.T) {
	kind := []v0alpha1.PluginReplicaStatusPhase{v0alpha1.PluginReplicaStatusPhaseIdle, v0alpha1.PluginReplicaStatusPhaseStarting,
		v0alpha1.PluginReplicaStatusPhaseRunning, v0alpha1.PluginReplicaStatusPhaseBackoff, v0alpha1.PluginReplicaStatusPhaseStopped}
	for _, p := range []pluginhost.Phase{pluginhost.PhaseIdle, pluginhost.PhaseStarting, pluginhost.PhaseRunning, pluginhost.PhaseBackoff, pluginhost.PhaseStopped} {
		if _, e := Desired("r", pluginhost.PluginInfo{ID: "x"}, pluginhost.PluginState{Known: true, Phase: p}); !slices.Contains(kind, e.Phase) {
			t.Errorf("phase %q is not in the Plugin kind's enum", p)
		}
	}
}

func entry(replica string, restarts int64) v0alpha1.PluginReplicaStatus {
	return v0alpha1.PluginReplicaStatus{Replica: replica, Phase: v0alpha1.PluginReplicaStatusPhaseRunning, Running: true, Restarts: restarts}
}

func TestWithEntry(t *testing.T) {
	st := func(es ...v0alpha1.PluginReplicaStatus) v0alpha1.PluginStatus {
		return v0alpha1.PluginStatus{Replicas: es}
	}
	for name, tc := range map[string]struct {
		in          v0alpha1.PluginStatus
		e           *v0alpha1.PluginReplicaStatus
		want        v0alpha1.PluginStatus
		wantChanged bool
	}{
		"first entry":              {in: st(), e: ptr(entry("b", 0)), want: st(entry("b", 0)), wantChanged: true},
		"added, sorted":            {in: st(entry("a", 1), entry("c", 1)), e: ptr(entry("b", 0)), want: st(entry("a", 1), entry("b", 0), entry("c", 1)), wantChanged: true},
		"replaced, others kept":    {in: st(entry("a", 1), entry("b", 0)), e: ptr(entry("b", 3)), want: st(entry("a", 1), entry("b", 3)), wantChanged: true},
		"unchanged":                {in: st(entry("a", 1), entry("b", 0)), e: ptr(entry("b", 0)), want: st(entry("a", 1), entry("b", 0))},
		"removed":                  {in: st(entry("a", 1), entry("b", 0)), want: st(entry("a", 1)), wantChanged: true},
		"removed the last":         {in: st(entry("b", 0)), want: st(), wantChanged: true},
		"nothing to remove":        {in: st(entry("a", 1)), want: st(entry("a", 1))},
		"own duplicate dropped":    {in: st(entry("b", 0), entry("b", 5)), e: ptr(entry("b", 0)), want: st(entry("b", 0)), wantChanged: true},
		"unsorted input re-sorted": {in: st(entry("c", 1), entry("a", 1)), e: ptr(entry("b", 0)), want: st(entry("a", 1), entry("b", 0), entry("c", 1)), wantChanged: true},
	} {
		got, changed := WithEntry(tc.in, "b", tc.e)
		if changed != tc.wantChanged || !statusEqual(got, tc.want) {
			t.Errorf("%s: got %s changed=%v, want %s changed=%v", name, show(got.Replicas...), changed, show(tc.want.Replicas...), tc.wantChanged)
		}
	}
}

func statusEqual(a, b v0alpha1.PluginStatus) bool {
	return slices.EqualFunc(a.Replicas, b.Replicas, entryEqual)
}

func show(es ...v0alpha1.PluginReplicaStatus) string {
	s := "["
	for _, e := range es {
		s += fmt.Sprintf("{%s v%s %s running=%v restarts=%d err=%v pid=%v since=%v addr=%v nr=%v svc=%v unimpl=%v} ", e.Replica, e.Version, e.Phase, e.Running,
			e.Restarts, deref(e.LastError), deref(e.Pid), deref(e.Since), deref(e.Address), deref(e.NotResponding), e.Services, e.Unimplemented)
	}
	return s + "]"
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// fakeAPI is an in-memory Plugin API with the API server's optimistic concurrency: writes
// with a stale resourceVersion and deletes with stale preconditions are conflicts.
type fakeAPI struct {
	mu     sync.Mutex
	objs   map[string]*v0alpha1.Plugin
	rv     int
	writes int
	// beforeWrite runs before each write is applied (outside the lock): another replica's
	// write landing in between a read and a write.
	beforeWrite func()
}

func newFakeAPI() *fakeAPI { return &fakeAPI{objs: map[string]*v0alpha1.Plugin{}} }

var gr = schema.GroupResource{Group: v0alpha1.APIGroup, Resource: "plugins"}

func (f *fakeAPI) hook() {
	if h := f.beforeWrite; h != nil {
		f.beforeWrite = nil
		h()
	}
}

func (f *fakeAPI) nextRV() string { f.rv++; return strconv.Itoa(f.rv) }

func (f *fakeAPI) Get(_ context.Context, id resource.Identifier) (*v0alpha1.Plugin, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objs[id.Name]
	if !ok {
		return nil, apierrors.NewNotFound(gr, id.Name)
	}
	return o.DeepCopy(), nil
}

func (f *fakeAPI) List(_ context.Context, _ string, _ resource.ListOptions) (*v0alpha1.PluginList, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := &v0alpha1.PluginList{}
	for _, k := range slices.Sorted(maps.Keys(f.objs)) {
		l.Items = append(l.Items, *f.objs[k].DeepCopy())
	}
	return l, nil
}

func (f *fakeAPI) Create(_ context.Context, obj *v0alpha1.Plugin, _ resource.CreateOptions) (*v0alpha1.Plugin, error) {
	f.hook()
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.objs[obj.Name]; ok {
		return nil, apierrors.NewAlreadyExists(gr, obj.Name)
	}
	o := obj.DeepCopy()
	o.ResourceVersion = f.nextRV()
	o.UID = types.UID("uid-" + o.ResourceVersion)
	f.objs[o.Name] = o
	f.writes++
	return o.DeepCopy(), nil
}

func (f *fakeAPI) update(name, rv string, mutate func(*v0alpha1.Plugin)) (*v0alpha1.Plugin, error) {
	f.hook()
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objs[name]
	if !ok {
		return nil, apierrors.NewNotFound(gr, name)
	}
	if rv != "" && rv != o.ResourceVersion {
		return nil, apierrors.NewConflict(gr, name, fmt.Errorf("stale resourceVersion %s", rv))
	}
	mutate(o)
	o.ResourceVersion = f.nextRV()
	f.writes++
	return o.DeepCopy(), nil
}

func (f *fakeAPI) Update(_ context.Context, obj *v0alpha1.Plugin, opts resource.UpdateOptions) (*v0alpha1.Plugin, error) {
	return f.update(obj.Name, opts.ResourceVersion, func(o *v0alpha1.Plugin) { o.Spec = obj.Spec })
}

func (f *fakeAPI) UpdateStatus(_ context.Context, id resource.Identifier, st v0alpha1.PluginStatus, opts resource.UpdateOptions) (*v0alpha1.Plugin, error) {
	return f.update(id.Name, opts.ResourceVersion, func(o *v0alpha1.Plugin) { o.Status = *st.DeepCopy() })
}

func (f *fakeAPI) Delete(_ context.Context, id resource.Identifier, opts resource.DeleteOptions) error {
	f.hook()
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objs[id.Name]
	if !ok {
		return apierrors.NewNotFound(gr, id.Name)
	}
	if p := opts.Preconditions; (p.ResourceVersion != "" && p.ResourceVersion != o.ResourceVersion) || (p.UID != "" && p.UID != string(o.UID)) {
		return apierrors.NewConflict(gr, id.Name, fmt.Errorf("precondition failed"))
	}
	delete(f.objs, id.Name)
	f.writes++
	return nil
}

// replicas of an object, as "replica:restarts" strings.
func (f *fakeAPI) replicas(name string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objs[name]
	if !ok {
		return nil
	}
	var out []string
	for _, r := range o.Status.Replicas {
		out = append(out, fmt.Sprintf("%s:%d", r.Replica, r.Restarts))
	}
	if out == nil {
		out = []string{}
	}
	return out
}

func (f *fakeAPI) spec(name string) v0alpha1.PluginSpec {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o, ok := f.objs[name]; ok {
		return o.Spec
	}
	return v0alpha1.PluginSpec{}
}

// fakeHost is a plugin host with settable plugins.
type fakeHost struct {
	mu        sync.Mutex
	plugins   map[string]pluginhost.PluginInfo
	states    map[string]pluginhost.PluginState
	listeners []func(string)
}

func newFakeHost(ids ...string) *fakeHost {
	h := &fakeHost{plugins: map[string]pluginhost.PluginInfo{}, states: map[string]pluginhost.PluginState{}}
	for _, id := range ids {
		h.set(id, "1.0.0", 0)
	}
	return h
}

func (h *fakeHost) set(id, version string, restarts int) {
	h.mu.Lock()
	h.plugins[id] = pluginhost.PluginInfo{ID: id, Type: "datasource", Name: id, Version: version, Backend: true}
	h.states[id] = pluginhost.PluginState{Known: true, Phase: pluginhost.PhaseRunning, Running: true, Restarts: restarts}
	fns := slices.Clone(h.listeners)
	h.mu.Unlock()
	for _, fn := range fns {
		fn(id)
	}
}

func (h *fakeHost) remove(id string) {
	h.mu.Lock()
	delete(h.plugins, id)
	delete(h.states, id)
	h.mu.Unlock()
}

func (h *fakeHost) Plugins() []pluginhost.PluginInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []pluginhost.PluginInfo
	for _, k := range slices.Sorted(maps.Keys(h.plugins)) {
		out = append(out, h.plugins[k])
	}
	return out
}

func (h *fakeHost) Info(id string) (pluginhost.PluginInfo, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.plugins[id]
	return p, ok
}

func (h *fakeHost) State(id string) pluginhost.PluginState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.states[id]
}

func (h *fakeHost) OnChange(fn func(string)) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.listeners = append(h.listeners, fn)
	return func() {}
}

// TestReplicas: two replicas on one storage each own their entry; removals, shutdown and a
// conflicting write in between never lose another replica's entry.
func TestReplicas(t *testing.T) {
	ctx := context.Background()
	api := newFakeAPI()
	hostA, hostB := newFakeHost("ds", "app"), newFakeHost("ds")
	a := &Writer{Replica: "a", Source: hostA, Client: api}
	b := &Writer{Replica: "b", Source: hostB, Client: api}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	want := func(name string, replicas ...string) {
		t.Helper()
		got := api.replicas(name)
		if replicas == nil && got == nil {
			return
		}
		if !slices.Equal(got, replicas) {
			t.Fatalf("%s: replicas %v, want %v", name, got, replicas)
		}
	}

	must(a.SyncAll(ctx))
	must(b.SyncAll(ctx))
	want("ds", "a:0", "b:0")
	want("app", "a:0")
	if s := api.spec("ds"); s != (v0alpha1.PluginSpec{Id: "ds", Type: "datasource", Name: "ds", Version: "1.0.0", Backend: true}) {
		t.Fatalf("spec %+v", s)
	}

	// Nothing changed: a resync writes nothing.
	before := api.writes
	must(a.SyncAll(ctx))
	must(b.SyncAll(ctx))
	if api.writes != before {
		t.Fatalf("an idle resync wrote %d times", api.writes-before)
	}

	// B's status write races with A's: B re-reads and both entries survive.
	hostA.set("ds", "1.0.0", 1)
	hostB.set("ds", "1.0.0", 2)
	api.beforeWrite = func() { must(a.Sync(ctx, "ds")) }
	must(b.Sync(ctx, "ds"))
	want("ds", "a:1", "b:2")

	// A plugin removed on A: A's entry goes, the object stays for B.
	hostA.remove("ds")
	must(a.Sync(ctx, "ds"))
	want("ds", "b:2")
	// ... and on B: the object goes.
	hostB.remove("ds")
	must(b.SyncAll(ctx))
	want("ds")
	if _, err := api.Get(ctx, resource.Identifier{Name: "ds"}); !apierrors.IsNotFound(err) {
		t.Fatalf("ds not deleted: %v", err)
	}

	// A delete racing with another replica adding itself: the precondition fails, the
	// re-read sees the new entry and keeps the object.
	hostB.set("app", "1.0.0", 0)
	hostA.remove("app")
	api.beforeWrite = func() { must(b.Sync(ctx, "app")) }
	must(a.Sync(ctx, "app"))
	want("app", "b:0")

	// Clean shutdown of B: its entries go, and with them the object nobody else has.
	must(b.Leave(ctx))
	want("app")
	if n := len(api.objs); n != 0 {
		t.Fatalf("%d objects left", n)
	}
}

// TestSpecFollowsChangesWithoutPingPong: the spec follows a replica whose plugin.json changes;
// a replica still on the old version does not write it back on resync.
func TestSpecFollowsChangesWithoutPingPong(t *testing.T) {
	ctx := context.Background()
	api := newFakeAPI()
	hostA, hostB := newFakeHost("ds"), newFakeHost("ds")
	a := &Writer{Replica: "a", Source: hostA, Client: api}
	b := &Writer{Replica: "b", Source: hostB, Client: api}
	for _, w := range []*Writer{a, b} {
		if err := w.SyncAll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	hostA.set("ds", "2.0.0", 0) // upgraded on A
	if err := a.Sync(ctx, "ds"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		for _, w := range []*Writer{b, a} {
			if err := w.SyncAll(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if v := api.spec("ds").Version; v != "2.0.0" {
			t.Fatalf("round %d: spec.version %q, want 2.0.0", i, v)
		}
	}
	o, _ := api.Get(ctx, resource.Identifier{Name: "ds"})
	var versions []string
	for _, r := range o.Status.Replicas {
		versions = append(versions, r.Replica+"="+r.Version)
	}
	if !slices.Equal(versions, []string{"a=2.0.0", "b=1.0.0"}) {
		t.Fatalf("entries' versions %v", versions)
	}
	// A replica (re)starting enforces what it has.
	b2 := &Writer{Replica: "b", Source: hostB, Client: api}
	if err := b2.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	if v := api.spec("ds").Version; v != "1.0.0" {
		t.Fatalf("after B's start: spec.version %q, want 1.0.0", v)
	}
}

// TestOrphansAndLeftovers: at start a replica removes its entries of plugins it no longer
// has and deletes objects without entries; other replicas' entries stay.
func TestOrphansAndLeftovers(t *testing.T) {
	ctx := context.Background()
	api := newFakeAPI()
	for _, o := range []*v0alpha1.Plugin{
		{Spec: v0alpha1.PluginSpec{Id: "gone"}, Status: v0alpha1.PluginStatus{Replicas: []v0alpha1.PluginReplicaStatus{entry("a", 0)}}},
		{Spec: v0alpha1.PluginSpec{Id: "shared"}, Status: v0alpha1.PluginStatus{Replicas: []v0alpha1.PluginReplicaStatus{entry("a", 0), entry("z", 0)}}},
		{Spec: v0alpha1.PluginSpec{Id: "empty"}},
		{Spec: v0alpha1.PluginSpec{Id: "other"}, Status: v0alpha1.PluginStatus{Replicas: []v0alpha1.PluginReplicaStatus{entry("z", 0)}}},
	} {
		o.Name = o.Spec.Id
		if _, err := api.Create(ctx, o, resource.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// A replica without plugins (no --plugins-dir) cleans up too.
	if err := (&Writer{Replica: "a", Client: api}).SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(api.objs)); !slices.Equal(got, []string{"other", "shared"}) {
		t.Fatalf("objects %v", got)
	}
	if got := api.replicas("shared"); !slices.Equal(got, []string{"z:0"}) {
		t.Fatalf("shared: %v", got)
	}
}

// TestRunFollowsChanges: Run syncs at start and writes each change the host reports.
func TestRunFollowsChanges(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	api := newFakeAPI()
	host := newFakeHost("ds")
	w := &Writer{Replica: "a", Source: host, Client: api}
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitFor("the initial sync", func() bool { return slices.Equal(api.replicas("ds"), []string{"a:0"}) })
	host.set("ds", "1.0.0", 4)
	waitFor("the restart count", func() bool { return slices.Equal(api.replicas("ds"), []string{"a:4"}) })
	host.set("app", "1.0.0", 0)
	waitFor("the new plugin", func() bool { return slices.Equal(api.replicas("app"), []string{"a:0"}) })
	cancel()
	<-done
}
