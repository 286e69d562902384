// Package pluginsync mirrors the plugin host into the read-only Plugin resource: one object
// per plugin id, whose spec is what plugin.json says and whose status.replicas holds one
// entry per dpa replica with that replica's process facts (phase, restarts, last error, …).
//
// Replicas share storage but run their own plugin processes, so each writes only its own
// entry (status subresource, optimistic concurrency, retried on conflict). The spec is
// written when the object is created and afterwards only when this replica's plugin.json
// changes (install, upgrade), never to "correct" another replica's view: two replicas with
// different versions installed do not ping-pong, and each entry says which version that
// replica runs. A replica removes its entry when the plugin leaves its plugins directory and
// on clean shutdown (Leave); whoever removes the last entry deletes the object (with the
// object's resourceVersion as precondition, so a replica adding itself meanwhile wins).
package pluginsync

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/grafana/grafana-app-sdk/resource"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/pluginhost"
)

// Source is the plugin host's view of its plugins (*pluginhost.Host implements it).
type Source interface {
	Plugins() []pluginhost.PluginInfo
	Info(id string) (pluginhost.PluginInfo, bool)
	State(id string) pluginhost.PluginState
	OnChange(fn func(id string)) (cancel func())
}

// Client is what the writer needs of the Plugin API (*v0alpha1.PluginClient implements it).
type Client interface {
	Get(ctx context.Context, id resource.Identifier) (*v0alpha1.Plugin, error)
	List(ctx context.Context, namespace string, opts resource.ListOptions) (*v0alpha1.PluginList, error)
	Create(ctx context.Context, obj *v0alpha1.Plugin, opts resource.CreateOptions) (*v0alpha1.Plugin, error)
	Update(ctx context.Context, obj *v0alpha1.Plugin, opts resource.UpdateOptions) (*v0alpha1.Plugin, error)
	UpdateStatus(ctx context.Context, id resource.Identifier, status v0alpha1.PluginStatus, opts resource.UpdateOptions) (*v0alpha1.Plugin, error)
	Delete(ctx context.Context, id resource.Identifier, opts resource.DeleteOptions) error
}

// Writer keeps this replica's view of the plugins in the Plugin objects.
type Writer struct {
	// Replica names this replica's entries (--replica-name).
	Replica string
	// Source is the plugin host; nil when dpa runs without plugins (the writer then only
	// removes entries this replica left behind).
	Source Source
	Client Client
	Logger *slog.Logger
	// Resync is the period of the full comparison that repairs failed writes (0: none).
	Resync time.Duration

	mu sync.Mutex
	// applied is, per plugin, the spec this replica last saw its own plugin.json give and
	// made sure of: the spec is only written again when that changes.
	applied map[string]v0alpha1.PluginSpec
}

// Desired is this replica's spec and status entry for a plugin from the host's facts.
func Desired(replica string, info pluginhost.PluginInfo, st pluginhost.PluginState) (v0alpha1.PluginSpec, v0alpha1.PluginReplicaStatus) {
	spec := v0alpha1.PluginSpec{Id: info.ID, Type: info.Type, Name: info.Name, Version: info.Version, Backend: info.Backend}
	e := v0alpha1.PluginReplicaStatus{
		Replica:       replica,
		Version:       info.Version,
		Phase:         v0alpha1.PluginReplicaStatusPhase(st.Phase),
		Running:       st.Running,
		Restarts:      int64(st.Restarts),
		LastError:     optional(st.LastError),
		NotResponding: optional(st.NotResponding),
		Address:       optional(cmp.Or(st.Address, info.Address)),
		Services:      slices.Clone(st.Services),
		Unimplemented: slices.Clone(st.Unimplemented),
	}
	since := st.Since
	switch {
	case e.Phase == "":
		e.Phase = v0alpha1.PluginReplicaStatusPhaseIdle
	case st.Phase == pluginhost.PhaseRunning && st.NotResponding != "":
		// Running as a process, not as a plugin: the phase says what a caller meets.
		e.Phase = v0alpha1.PluginReplicaStatusPhaseNotResponding
		since = st.NotRespondingSince
	}
	if !since.IsZero() {
		s := since.UTC().Format(time.RFC3339)
		e.Since = &s
	}
	if st.PID > 0 {
		pid := int64(st.PID)
		e.Pid = &pid
	}
	if len(e.Services) == 0 {
		e.Services = nil
	}
	if len(e.Unimplemented) == 0 {
		e.Unimplemented = nil
	}
	return spec, e
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// WithEntry returns status with replica's entry replaced by e (nil: removed), entries sorted
// by replica name, and whether anything changed. Other replicas' entries are kept as they are.
func WithEntry(status v0alpha1.PluginStatus, replica string, e *v0alpha1.PluginReplicaStatus) (v0alpha1.PluginStatus, bool) {
	out := make([]v0alpha1.PluginReplicaStatus, 0, len(status.Replicas)+1)
	changed := false
	found := false
	for _, r := range status.Replicas {
		if r.Replica != replica {
			out = append(out, r)
			continue
		}
		if found { // a duplicate of our own entry: drop it
			changed = true
			continue
		}
		found = true
		if e == nil {
			changed = true
			continue
		}
		if !entryEqual(r, *e) {
			changed = true
		}
		out = append(out, *e)
	}
	if !found && e != nil {
		out = append(out, *e)
		changed = true
	}
	if !slices.IsSortedFunc(out, byReplica) {
		slices.SortStableFunc(out, byReplica)
		changed = true
	}
	if len(out) == 0 {
		out = nil
	}
	return v0alpha1.PluginStatus{Replicas: out}, changed
}

func byReplica(a, b v0alpha1.PluginReplicaStatus) int { return cmp.Compare(a.Replica, b.Replica) }

func entryEqual(a, b v0alpha1.PluginReplicaStatus) bool {
	eq := func(x, y *string) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.Replica == b.Replica && a.Version == b.Version && a.Phase == b.Phase && a.Running == b.Running &&
		a.Restarts == b.Restarts && eq(a.LastError, b.LastError) && eq(a.NotResponding, b.NotResponding) &&
		eq(a.Since, b.Since) && eq(a.Address, b.Address) &&
		(a.Pid == nil) == (b.Pid == nil) && (a.Pid == nil || *a.Pid == *b.Pid) &&
		slices.Equal(a.Services, b.Services) && slices.Equal(a.Unimplemented, b.Unimplemented)
}

func (w *Writer) log() *slog.Logger {
	if w.Logger == nil {
		return slog.Default()
	}
	return w.Logger
}

// Run syncs every plugin, then follows the host's changes (coalesced per plugin) and
// resyncs every Resync until ctx ends. A failed initial sync is retried.
func (w *Writer) Run(ctx context.Context) {
	var (
		mu      sync.Mutex
		pending = map[string]bool{}
		kick    = make(chan struct{}, 1)
	)
	if w.Source != nil {
		cancel := w.Source.OnChange(func(id string) {
			mu.Lock()
			pending[id] = true
			mu.Unlock()
			select {
			case kick <- struct{}{}:
			default:
			}
		})
		defer cancel()
	}
	for delay := 200 * time.Millisecond; ; delay = min(2*delay, 10*time.Second) {
		err := w.SyncAll(ctx)
		if err == nil {
			break
		}
		w.log().Warn("syncing Plugin objects failed; retrying", "error", err, "in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
	var tick <-chan time.Time
	if w.Resync > 0 {
		t := time.NewTicker(w.Resync)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			if err := w.SyncAll(ctx); err != nil && ctx.Err() == nil {
				w.log().Warn("resyncing Plugin objects failed", "error", err)
			}
		case <-kick:
			mu.Lock()
			ids := make([]string, 0, len(pending))
			for id := range pending {
				ids = append(ids, id)
			}
			clear(pending)
			mu.Unlock()
			slices.Sort(ids)
			for _, id := range ids {
				if err := w.Sync(ctx, id); err != nil && ctx.Err() == nil {
					// The next resync repairs it.
					w.log().Warn("writing Plugin object failed", "plugin", id, "error", err)
				}
			}
		}
	}
}

// SyncAll makes every Plugin object agree with this replica's plugins: an entry for each
// plugin it has, none for any other, and objects without entries deleted.
func (w *Writer) SyncAll(ctx context.Context) error { return w.syncAll(ctx, false) }

// Leave removes this replica's entries from every object (deleting those left without
// entries): a clean shutdown, after which this replica runs no plugin. Stop Run first.
func (w *Writer) Leave(ctx context.Context) error { return w.syncAll(ctx, true) }

func (w *Writer) syncAll(ctx context.Context, leaving bool) error {
	list, err := w.Client.List(ctx, "", resource.ListOptions{})
	if err != nil {
		return err
	}
	ids := map[string]bool{}
	if w.Source != nil && !leaving {
		for _, p := range w.Source.Plugins() {
			ids[p.ID] = true
		}
	}
	var errs []error
	for i := range list.Items {
		obj := &list.Items[i]
		if ids[obj.Name] {
			continue
		}
		if err := w.sync(ctx, obj.Name, obj, leaving); err != nil {
			errs = append(errs, err)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		var cached *v0alpha1.Plugin
		if i := slices.IndexFunc(list.Items, func(p v0alpha1.Plugin) bool { return p.Name == id }); i >= 0 {
			cached = &list.Items[i]
		}
		if err := w.sync(ctx, id, cached, false); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// Sync writes this replica's view of one plugin: its entry when the host has the plugin,
// no entry otherwise.
func (w *Writer) Sync(ctx context.Context, id string) error { return w.sync(ctx, id, nil, false) }

// retriable: a conflict (someone wrote meanwhile) or a create that lost the race.
func retriable(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }

// sync brings object id in line, starting from cached (nil: read it) and re-reading on
// conflict; leaving removes this replica's entry whatever the host has.
func (w *Writer) sync(ctx context.Context, id string, cached *v0alpha1.Plugin, leaving bool) error {
	ident := resource.Identifier{Name: id}
	// DefaultBackoff spreads the attempts over about 1.5s: long enough for another replica's
	// write to become visible through storage (kine polls).
	return retry.OnError(retry.DefaultBackoff, retriable, func() error {
		obj := cached
		cached = nil
		if obj == nil {
			got, err := w.Client.Get(ctx, ident)
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return err
			default:
				obj = got
			}
		}
		var info pluginhost.PluginInfo
		var st pluginhost.PluginState
		have := false
		if w.Source != nil && !leaving {
			info, have = w.Source.Info(id)
			if have {
				st = w.Source.State(id)
				have = st.Known
			}
		}
		if !have {
			return w.removeEntry(ctx, obj)
		}
		spec, entry := Desired(w.Replica, info, st)
		if obj == nil {
			got, err := w.Client.Create(ctx, &v0alpha1.Plugin{
				ObjectMeta: metav1.ObjectMeta{Name: id},
				Spec:       spec,
				Status:     v0alpha1.PluginStatus{Replicas: []v0alpha1.PluginReplicaStatus{entry}},
			}, resource.CreateOptions{})
			if err != nil {
				return err
			}
			obj = got // the status below is written only if create did not keep it
		} else if w.specChanged(id, spec) && obj.Spec != spec {
			upd := obj.DeepCopy()
			upd.Spec = spec
			got, err := w.Client.Update(ctx, upd, resource.UpdateOptions{ResourceVersion: obj.ResourceVersion})
			if err != nil {
				return err
			}
			obj = got
		}
		w.setApplied(id, spec)
		status, changed := WithEntry(obj.Status, w.Replica, &entry)
		if !changed {
			return nil
		}
		_, err := w.Client.UpdateStatus(ctx, ident, status, resource.UpdateOptions{ResourceVersion: obj.ResourceVersion})
		return err
	})
}

// removeEntry takes this replica's entry out of obj, and deletes obj when no entry is left.
func (w *Writer) removeEntry(ctx context.Context, obj *v0alpha1.Plugin) error {
	if obj == nil {
		return nil
	}
	w.mu.Lock()
	delete(w.applied, obj.Name)
	w.mu.Unlock()
	status, changed := WithEntry(obj.Status, w.Replica, nil)
	ident := resource.Identifier{Name: obj.Name}
	if len(status.Replicas) == 0 {
		err := w.Client.Delete(ctx, ident, resource.DeleteOptions{Preconditions: resource.DeleteOptionsPreconditions{
			ResourceVersion: obj.ResourceVersion, UID: string(obj.UID)}})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	if !changed {
		return nil
	}
	_, err := w.Client.UpdateStatus(ctx, ident, status, resource.UpdateOptions{ResourceVersion: obj.ResourceVersion})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// specChanged reports whether this replica's plugin.json gives another spec than the one it
// last made sure of (always true the first time).
func (w *Writer) specChanged(id string, spec v0alpha1.PluginSpec) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	prev, ok := w.applied[id]
	return !ok || prev != spec
}

func (w *Writer) setApplied(id string, spec v0alpha1.PluginSpec) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.applied == nil {
		w.applied = map[string]v0alpha1.PluginSpec{}
	}
	w.applied[id] = spec
}
