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
	Available(reg Registration) (status v0alpha1.DataPlaneServiceConditionStatus, reason, message string)
}

// Reconciler keeps the in-memory table of DataPlaneServices, decides which object owns each
// group/version (the oldest wins, deterministically on every replica), publishes the active
// registrations to the route sinks and writes honest status conditions.
type Reconciler struct {
	Status       StatusWriter
	Sinks        []RouteSink
	Availability Availability
	Logger       *slog.Logger
	// Now is the clock used for lastTransitionTime (tests replace it).
	Now func() time.Time

	mu      sync.Mutex
	objects map[string]*v0alpha1.DataPlaneService
	ready   bool
}

var _ operator.Reconciler = (*Reconciler)(nil)

// NewReconciler returns an empty reconciler.
func NewReconciler(status StatusWriter, logger *slog.Logger, sinks ...RouteSink) *Reconciler {
	if logger == nil {
		logger = slog.Default()
	}
	return &Reconciler{Status: status, Sinks: sinks, Logger: logger, Now: time.Now, objects: map[string]*v0alpha1.DataPlaneService{}}
}

// Reconcile implements operator.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req operator.ReconcileRequest) (operator.ReconcileResult, error) {
	obj, ok := req.Object.(*v0alpha1.DataPlaneService)
	if !ok {
		return operator.ReconcileResult{}, fmt.Errorf("unexpected object type %T", req.Object)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.Action == operator.ReconcileActionDeleted {
		delete(r.objects, obj.Name)
	} else {
		if cur, ok := r.objects[obj.Name]; ok && cur.UID == obj.UID && newerRV(cur.ResourceVersion, obj.ResourceVersion) {
			// An event older than what we already hold (e.g. our own status write): keep ours.
			obj = cur
		}
		r.objects[obj.Name] = obj.DeepCopy()
	}
	r.ready = true
	return operator.ReconcileResult{}, r.syncLocked(ctx)
}

// Refresh re-evaluates every object, e.g. after a plugin's state changed.
func (r *Reconciler) Refresh(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.syncLocked(ctx)
}

// ClaimedBy implements ClaimLookup over the reconciler's cache.
func (r *Reconciler) ClaimedBy(group, version string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var claimants []*v0alpha1.DataPlaneService
	for _, o := range r.objects {
		if o.Spec.Group == group && o.Spec.Version == version {
			claimants = append(claimants, o)
		}
	}
	sortByAge(claimants)
	names := make([]string, len(claimants))
	for i, o := range claimants {
		names[i] = o.Name
	}
	return names
}

// Lookup answers which DataPlaneService owns group/version, with which services.
func (r *Reconciler) Lookup(group, version string) (Registration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	regs, _ := r.computeLocked()
	for _, reg := range regs {
		if reg.Group == group && reg.Version == version {
			return reg, true
		}
	}
	return Registration{}, false
}

// computeLocked returns the winning registrations (sorted by group/version) and, per object
// name, the name of the object it lost its group/version to ("" for winners).
func (r *Reconciler) computeLocked() ([]Registration, map[string]string) {
	byGV := map[[2]string][]*v0alpha1.DataPlaneService{}
	for _, o := range r.objects {
		if o.DeletionTimestamp != nil {
			continue
		}
		k := [2]string{o.Spec.Group, o.Spec.Version}
		byGV[k] = append(byGV[k], o)
	}
	regs := make([]Registration, 0, len(byGV))
	lostTo := make(map[string]string, len(r.objects))
	for _, claimants := range byGV {
		sortByAge(claimants)
		w := claimants[0]
		lostTo[w.Name] = ""
		for _, l := range claimants[1:] {
			lostTo[l.Name] = w.Name
		}
		regs = append(regs, Registration{
			Name:       w.Name,
			UID:        string(w.UID),
			Generation: w.Generation,
			PluginID:   w.Spec.PluginID,
			PluginType: w.Spec.PluginType,
			Group:      w.Spec.Group,
			Version:    w.Spec.Version,
			Services:   append([]v0alpha1.DataPlaneServiceService(nil), w.Spec.Services...),
		})
	}
	sort.Slice(regs, func(i, j int) bool {
		if regs[i].Group != regs[j].Group {
			return regs[i].Group < regs[j].Group
		}
		return regs[i].Version < regs[j].Version
	})
	return regs, lostTo
}

func (r *Reconciler) syncLocked(ctx context.Context) error {
	regs, lostTo := r.computeLocked()
	for _, s := range r.Sinks {
		s.SetRegistrations(regs)
	}
	if r.Status == nil {
		return nil
	}
	regByName := make(map[string]Registration, len(regs))
	for _, reg := range regs {
		regByName[reg.Name] = reg
	}
	names := make([]string, 0, len(r.objects))
	for n := range r.objects {
		names = append(names, n)
	}
	sort.Strings(names)
	var firstErr error
	for _, name := range names {
		obj := r.objects[name]
		if obj.DeletionTimestamp != nil {
			continue
		}
		desired := r.desiredStatus(obj, lostTo[name], regByName)
		if equality.Semantic.DeepEqual(desired, obj.Status) {
			continue
		}
		updated, err := r.Status.WriteStatus(ctx, obj, desired)
		switch {
		case err == nil:
			r.objects[name] = updated.DeepCopy()
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

func (r *Reconciler) desiredStatus(obj *v0alpha1.DataPlaneService, lostTo string, regs map[string]Registration) v0alpha1.DataPlaneServiceStatus {
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
