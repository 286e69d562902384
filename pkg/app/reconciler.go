package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grafana/grafana-app-sdk/operator"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

// StatusWriter persists a DataPlaneService status (the status subresource). It returns the
// updated object. A conflict error means the object changed meanwhile; the reconciler then
// waits for the informer's next event instead of retrying blindly.
type StatusWriter interface {
	WriteStatus(ctx context.Context, obj *v0alpha1.DataPlaneService, status v0alpha1.DataPlaneServiceStatus) (*v0alpha1.DataPlaneService, error)
}

// Availability reports whether the plugin behind a registration can serve it (pkg/server
// answers from the plugin host); when nil, no Available condition is written.
type Availability interface {
	Available(reg routes.Registration) (status v0alpha1.DataPlaneServiceConditionStatus, reason, message string)
}

// Reconciler keeps the in-memory table of DataPlaneServices, decides which object owns each
// group/version (the oldest wins, deterministically on every replica), publishes the active
// registrations to the route sinks and writes honest status conditions.
type Reconciler struct {
	Status       StatusWriter
	Sinks        []routes.Sink
	Availability Availability
	Logger       *slog.Logger
	// Now is the clock used for lastTransitionTime (tests replace it).
	Now func() time.Time

	// mu guards objects, byGV, gen, seen, winners, dirty and published. It is never held
	// during a status write or while the sinks run, so validation (ClaimedBy) waits for
	// neither.
	mu      sync.RWMutex
	objects map[string]*v0alpha1.DataPlaneService
	byGV    map[gvKey]map[string]struct{}
	gen     uint64            // counts the changes to objects
	seen    map[string]uint64 // per object, the gen of its last change
	// winners is the registration of each group/version's winning claimant, kept up to date
	// per event (updateWinnersLocked); dirty holds the group/versions whose winner may have
	// changed since the last publish.
	winners map[gvKey]routes.Registration
	dirty   map[gvKey]struct{}
	// published is the gen of the last changes handed to the sinks.
	published uint64

	// pubMu serialises publishing (publishLatest).
	pubMu sync.Mutex
}

// publishLatest hands the sinks the changes to the winning registrations made since the last
// publish, unless none is left. Reconciles running in several informer workers wait here for
// one another: the first publishes, the next publishes every change made meanwhile at once.
// Each publish costs what changed, not what is stored: a start-up over N objects is O(N).
func (r *Reconciler) publishLatest() {
	r.pubMu.Lock()
	defer r.pubMu.Unlock()
	r.mu.Lock()
	if r.published >= r.gen {
		r.mu.Unlock()
		return
	}
	set, removed := r.changesLocked()
	gen := r.gen
	r.mu.Unlock()
	for _, sink := range r.Sinks {
		sink.UpdateRegistrations(set, removed)
	}
	r.mu.Lock()
	r.published = gen
	r.mu.Unlock()
}

// gvKey is a group/version, as the route table keys it.
type gvKey = routes.GroupVersion

func keyOf(o *v0alpha1.DataPlaneService) gvKey {
	return gvKey{Group: o.Spec.Group, Version: o.Spec.Version}
}

// statusWrite is a status update decided under the lock and performed after it.
type statusWrite struct {
	obj    *v0alpha1.DataPlaneService
	status v0alpha1.DataPlaneServiceStatus
}

var _ operator.Reconciler = (*Reconciler)(nil)

// NewReconciler returns an empty reconciler.
func NewReconciler(status StatusWriter, logger *slog.Logger, sinks ...routes.Sink) *Reconciler {
	if logger == nil {
		logger = slog.Default()
	}
	return &Reconciler{
		Status: status, Sinks: sinks, Logger: logger, Now: time.Now,
		objects: map[string]*v0alpha1.DataPlaneService{},
		byGV:    map[gvKey]map[string]struct{}{},
		seen:    map[string]uint64{},
		winners: map[gvKey]routes.Registration{},
		dirty:   map[gvKey]struct{}{},
	}
}

// Reconcile implements operator.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req operator.ReconcileRequest) (operator.ReconcileResult, error) {
	obj, ok := req.Object.(*v0alpha1.DataPlaneService)
	if !ok {
		return operator.ReconcileResult{}, fmt.Errorf("unexpected object type %T", req.Object)
	}
	r.mu.Lock()
	affected := map[gvKey]bool{keyOf(obj): true}
	if cur, ok := r.objects[obj.Name]; ok {
		affected[keyOf(cur)] = true
		r.unindexLocked(cur)
		if req.Action != operator.ReconcileActionDeleted && cur.UID == obj.UID && newerRV(cur.ResourceVersion, obj.ResourceVersion) {
			// An event older than what we already hold (e.g. our own status write): keep ours.
			obj = cur
		}
	}
	r.gen++
	if req.Action == operator.ReconcileActionDeleted {
		delete(r.objects, obj.Name)
		delete(r.seen, obj.Name)
	} else {
		obj = obj.DeepCopy()
		r.objects[obj.Name] = obj
		r.seen[obj.Name] = r.gen
		r.indexLocked(obj)
	}
	r.updateWinnersLocked(affected)
	writes := r.statusWritesLocked(affected)
	r.mu.Unlock()
	r.publishLatest()
	return operator.ReconcileResult{}, r.write(ctx, writes)
}

// Holds reports whether the object's routes, as the reconciler last saw it, are in the
// published route table.
func (r *Reconciler) Holds(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	g, ok := r.seen[name]
	return ok && g <= r.published
}

// Refresh re-evaluates every object's status, e.g. after a plugin's state changed. The
// registrations do not depend on plugin state, so the route table is not rebuilt; changes
// not published yet are, first, so that no status runs ahead of the table.
func (r *Reconciler) Refresh(ctx context.Context) error {
	r.mu.Lock()
	writes := r.statusWritesLocked(nil)
	r.mu.Unlock()
	r.publishLatest()
	return r.write(ctx, writes)
}

func (r *Reconciler) indexLocked(o *v0alpha1.DataPlaneService) {
	k := keyOf(o)
	if r.byGV[k] == nil {
		r.byGV[k] = map[string]struct{}{}
	}
	r.byGV[k][o.Name] = struct{}{}
}

func (r *Reconciler) unindexLocked(o *v0alpha1.DataPlaneService) {
	k := keyOf(o)
	delete(r.byGV[k], o.Name)
	if len(r.byGV[k]) == 0 {
		delete(r.byGV, k)
	}
}

// claimantsLocked returns the live objects claiming k, oldest first.
func (r *Reconciler) claimantsLocked(k gvKey) []*v0alpha1.DataPlaneService {
	out := make([]*v0alpha1.DataPlaneService, 0, len(r.byGV[k]))
	for name := range r.byGV[k] {
		if o := r.objects[name]; o.DeletionTimestamp == nil {
			out = append(out, o)
		}
	}
	sortByAge(out)
	return out
}

// ClaimedBy implements ClaimLookup over the reconciler's cache.
func (r *Reconciler) ClaimedBy(group, version string) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	claimants := r.claimantsLocked(gvKey{Group: group, Version: version})
	names := make([]string, len(claimants))
	for i, o := range claimants {
		names[i] = o.Name
	}
	return names
}

func registrationOf(w *v0alpha1.DataPlaneService) routes.Registration {
	return routes.Registration{
		Name:       w.Name,
		UID:        string(w.UID),
		Generation: w.Generation,
		PluginID:   w.Spec.PluginID,
		PluginType: w.Spec.PluginType,
		Group:      w.Spec.Group,
		Version:    w.Spec.Version,
		Services:   append([]v0alpha1.DataPlaneServiceService(nil), w.Spec.Services...),
	}
}

// updateWinnersLocked recomputes the winning registration of the affected group/versions and
// marks them for the next publish.
func (r *Reconciler) updateWinnersLocked(affected map[gvKey]bool) {
	for k := range affected {
		if claimants := r.claimantsLocked(k); len(claimants) > 0 {
			r.winners[k] = registrationOf(claimants[0])
		} else {
			delete(r.winners, k)
		}
		r.dirty[k] = struct{}{}
	}
}

// changesLocked returns, and forgets, the changes since the last publish: the winning
// registration of each changed group/version that has one, and the group/versions that lost
// their last claimant. Both are sorted by group/version, so every replica publishes alike.
func (r *Reconciler) changesLocked() (set []routes.Registration, removed []routes.GroupVersion) {
	for k := range r.dirty {
		if w, ok := r.winners[k]; ok {
			set = append(set, w)
		} else {
			removed = append(removed, k)
		}
	}
	clear(r.dirty)
	slices.SortFunc(set, func(a, b routes.Registration) int { return compareKeys(a.GroupVersion(), b.GroupVersion()) })
	slices.SortFunc(removed, compareKeys)
	return set, removed
}

func compareKeys(a, b gvKey) int {
	if c := strings.Compare(a.Group, b.Group); c != 0 {
		return c
	}
	return strings.Compare(a.Version, b.Version)
}

// statusWritesLocked returns the status writes needed for the objects of the affected
// group/versions (all when affected is nil): only their claimants are looked at, so an event
// costs the same with 1 or 10,000 objects.
func (r *Reconciler) statusWritesLocked(affected map[gvKey]bool) []statusWrite {
	if r.Status == nil {
		return nil
	}
	keys := affected
	if keys == nil {
		keys = make(map[gvKey]bool, len(r.byGV))
		for k := range r.byGV {
			keys[k] = true
		}
	}
	var writes []statusWrite
	for k := range keys {
		claimants := r.claimantsLocked(k)
		if len(claimants) == 0 {
			continue
		}
		winner := claimants[0]
		regs := map[string]routes.Registration{winner.Name: registrationOf(winner)}
		for i, obj := range claimants {
			lostTo := ""
			if i > 0 {
				lostTo = winner.Name
			}
			desired := r.desiredStatus(obj, lostTo, regs)
			if !equality.Semantic.DeepEqual(desired, obj.Status) {
				writes = append(writes, statusWrite{obj: obj, status: desired})
			}
		}
	}
	sort.Slice(writes, func(i, j int) bool { return writes[i].obj.Name < writes[j].obj.Name })
	return writes
}

// write performs status writes without holding the lock and records the results.
func (r *Reconciler) write(ctx context.Context, writes []statusWrite) error {
	var firstErr error
	for _, w := range writes {
		name := w.obj.Name
		updated, err := r.Status.WriteStatus(ctx, w.obj, w.status)
		switch {
		case err == nil:
			r.mu.Lock()
			// Keep the result unless a newer event arrived meanwhile.
			if cur, ok := r.objects[name]; ok && cur.UID == updated.UID && !newerRV(cur.ResourceVersion, updated.ResourceVersion) {
				r.objects[name] = updated.DeepCopy()
			}
			r.mu.Unlock()
		case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
			// The object changed or went away; its next informer event re-runs this.
			r.Logger.Debug("status write raced with an update", "name", name, "error", err)
		default:
			r.Logger.Error("status write failed", "name", name, "error", err)
			if firstErr == nil {
				firstErr = fmt.Errorf("writing status of %s: %w", name, err)
			}
		}
	}
	return firstErr
}

func (r *Reconciler) desiredStatus(obj *v0alpha1.DataPlaneService, lostTo string, regs map[string]routes.Registration) v0alpha1.DataPlaneServiceStatus {
	gen := obj.Generation
	st := v0alpha1.DataPlaneServiceStatus{ObservedGeneration: &gen}
	gv := obj.Spec.Group + "/" + obj.Spec.Version
	registered := v0alpha1.DataPlaneServiceCondition{
		Type:    ConditionRegistered,
		Status:  v0alpha1.DataPlaneServiceConditionStatusTrue,
		Reason:  ReasonRegistered,
		Message: fmt.Sprintf("routes are served under /apis/%s", gv),
	}
	if lostTo != "" {
		registered.Status = v0alpha1.DataPlaneServiceConditionStatusFalse
		registered.Reason = ReasonGroupVersionConflict
		registered.Message = fmt.Sprintf("group/version %s is already served by DataPlaneService %q", gv, lostTo)
	}
	st.Conditions = append(st.Conditions, r.stamp(obj, registered))
	if r.Availability != nil {
		avail := v0alpha1.DataPlaneServiceCondition{Type: ConditionAvailable}
		if reg, ok := regs[obj.Name]; ok {
			avail.Status, avail.Reason, avail.Message = r.Availability.Available(reg)
		} else {
			avail.Status = v0alpha1.DataPlaneServiceConditionStatusFalse
			avail.Reason = ReasonNotRegistered
			avail.Message = "routes are not registered: " + registered.Message
		}
		st.Conditions = append(st.Conditions, r.stamp(obj, avail))
	}
	return st
}

// stamp fills lastTransitionTime and observedGeneration, keeping the previous transition time
// when the condition's status did not change.
func (r *Reconciler) stamp(obj *v0alpha1.DataPlaneService, c v0alpha1.DataPlaneServiceCondition) v0alpha1.DataPlaneServiceCondition {
	gen := obj.Generation
	c.ObservedGeneration = &gen
	c.LastTransitionTime = r.Now().UTC().Format(time.RFC3339)
	for _, old := range obj.Status.Conditions {
		if old.Type == c.Type && old.Status == c.Status && old.LastTransitionTime != "" {
			c.LastTransitionTime = old.LastTransitionTime
		}
	}
	return c
}

// sortByAge orders objects oldest first; ties (same second) are broken by name so that every
// replica reaches the same decision.
func sortByAge(objs []*v0alpha1.DataPlaneService) {
	sort.Slice(objs, func(i, j int) bool {
		ti, tj := objs[i].CreationTimestamp.Time, objs[j].CreationTimestamp.Time
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		return objs[i].Name < objs[j].Name
	})
}

// newerRV reports whether resource version a is newer than b. Resource versions are opaque in
// general; kine and etcd both use increasing integers, so compare numerically when possible.
func newerRV(a, b string) bool {
	ai, errA := strconv.ParseUint(a, 10, 64)
	bi, errB := strconv.ParseUint(b, 10, 64)
	return errA == nil && errB == nil && ai > bi
}
