package app

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/grafana/grafana-app-sdk/operator"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

// Condition types and reasons written to DataPlaneService status.
const (
	ConditionRegistered = "Registered"
	ConditionAvailable  = "Available"

	ReasonRegistered           = "Registered"
	ReasonGroupVersionConflict = "GroupVersionConflict"
)

// StatusWriter persists a DataPlaneService status (the status subresource). It returns the
// updated object. A conflict error means the object changed meanwhile; the reconciler then
// waits for the informer's next event instead of retrying blindly.
type StatusWriter interface {
	WriteStatus(ctx context.Context, obj *v0alpha1.DataPlaneService, status v0alpha1.DataPlaneServiceStatus) (*v0alpha1.DataPlaneService, error)
}

// Availability reports whether the plugin behind a registration can serve it. The data plane
// issue plugs the plugin host in here; when nil, no Available condition is written.
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

	// mu guards objects, byGV and gen. It is never held during a status write or while the
	// sinks run, so validation (ClaimedBy) waits for neither.
	mu      sync.RWMutex
	objects map[string]*v0alpha1.DataPlaneService
	byGV    map[gvKey]map[string]struct{}
	gen     uint64 // counts the registration sets computed

	// pubMu serialises publishing; published is the gen last handed to the sinks, so an
	// older set computed concurrently is never published after a newer one.
	pubMu     sync.Mutex
	published uint64
}

// snapshot is a registration set computed under mu, to be published after it.
type snapshot struct {
	regs []routes.Registration
	gen  uint64
}

// publish hands a registration set to the sinks unless a newer one was published already.
func (r *Reconciler) publish(s snapshot) {
	r.pubMu.Lock()
	defer r.pubMu.Unlock()
	if s.gen <= r.published {
		return
	}
	r.published = s.gen
	for _, sink := range r.Sinks {
		sink.SetRegistrations(s.regs)
	}
}

type gvKey struct{ group, version string }

func keyOf(o *v0alpha1.DataPlaneService) gvKey { return gvKey{o.Spec.Group, o.Spec.Version} }

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
	if req.Action == operator.ReconcileActionDeleted {
		delete(r.objects, obj.Name)
	} else {
		obj = obj.DeepCopy()
		r.objects[obj.Name] = obj
		r.indexLocked(obj)
	}
	snap, writes := r.syncLocked(affected)
	r.mu.Unlock()
	r.publish(snap)
	return operator.ReconcileResult{}, r.write(ctx, writes)
}

// Holds reports whether the reconciler has seen the object (so its routes are in the table).
func (r *Reconciler) Holds(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.objects[name]
	return ok
}

// Refresh re-evaluates every object, e.g. after a plugin's state changed.
func (r *Reconciler) Refresh(ctx context.Context) error {
	r.mu.Lock()
	snap, writes := r.syncLocked(nil)
	r.mu.Unlock()
	r.publish(snap)
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
	claimants := r.claimantsLocked(gvKey{group, version})
	names := make([]string, len(claimants))
	for i, o := range claimants {
		names[i] = o.Name
	}
	return names
}

// Lookup answers which DataPlaneService owns group/version, with which services.
func (r *Reconciler) Lookup(group, version string) (routes.Registration, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if c := r.claimantsLocked(gvKey{group, version}); len(c) > 0 {
		return registrationOf(c[0]), true
	}
	return routes.Registration{}, false
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

// computeLocked returns the winning registrations (sorted by group/version) and, per object
// name, the name of the object it lost its group/version to ("" for winners).
func (r *Reconciler) computeLocked() ([]routes.Registration, map[string]string) {
	regs := make([]routes.Registration, 0, len(r.byGV))
	lostTo := make(map[string]string, len(r.objects))
	for k := range r.byGV {
		claimants := r.claimantsLocked(k)
		if len(claimants) == 0 {
			continue
		}
		w := claimants[0]
		lostTo[w.Name] = ""
		for _, l := range claimants[1:] {
			lostTo[l.Name] = w.Name
		}
		regs = append(regs, registrationOf(w))
	}
	sort.Slice(regs, func(i, j int) bool {
		if regs[i].Group != regs[j].Group {
			return regs[i].Group < regs[j].Group
		}
		return regs[i].Version < regs[j].Version
	})
	return regs, lostTo
}

// syncLocked computes the registration set to publish and the status writes needed for the
// objects of the affected group/versions (all objects when affected is nil).
func (r *Reconciler) syncLocked(affected map[gvKey]bool) (snapshot, []statusWrite) {
	regs, lostTo := r.computeLocked()
	r.gen++
	snap := snapshot{regs: regs, gen: r.gen}
	if r.Status == nil {
		return snap, nil
	}
	regByName := make(map[string]routes.Registration, len(regs))
	for _, reg := range regs {
		regByName[reg.Name] = reg
	}
	var writes []statusWrite
	for name, obj := range r.objects {
		if obj.DeletionTimestamp != nil || (affected != nil && !affected[keyOf(obj)]) {
			continue
		}
		desired := r.desiredStatus(obj, lostTo[name], regByName)
		if !equality.Semantic.DeepEqual(desired, obj.Status) {
			writes = append(writes, statusWrite{obj: obj, status: desired})
		}
	}
	sort.Slice(writes, func(i, j int) bool { return writes[i].obj.Name < writes[j].obj.Name })
	return snap, writes
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
			avail.Reason = "NotRegistered"
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
