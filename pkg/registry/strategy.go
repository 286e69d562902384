package registry

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/app"
)

// objectStrategy is what the App SDK's store strategy provides; we wrap it.
type objectStrategy interface {
	rest.RESTCreateStrategy
	rest.RESTUpdateStrategy
}

// validatingStrategy adds to the App SDK strategy what it leaves out: schema validation with
// field paths (so invalid objects get 422 Invalid rather than the admission path's 403) and
// metadata.generation (1 on create, +1 on each spec change).
type validatingStrategy struct {
	objectStrategy
	claims app.ClaimLookup
}

func (s validatingStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	s.objectStrategy.PrepareForCreate(ctx, obj)
	if d, ok := obj.(*v0alpha1.DataPlaneService); ok {
		d.Generation = 1
		// Status is written by the reconciler through the status subresource only.
		d.Status = v0alpha1.DataPlaneServiceStatus{}
	}
}

func (s validatingStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	s.objectStrategy.PrepareForUpdate(ctx, obj, old)
	n, ok1 := obj.(*v0alpha1.DataPlaneService)
	o, ok2 := old.(*v0alpha1.DataPlaneService)
	if !ok1 || !ok2 {
		return
	}
	n.Generation = o.Generation
	if !equality.Semantic.DeepEqual(n.Spec, o.Spec) {
		n.Generation = o.Generation + 1
	}
}

func (s validatingStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	d, ok := obj.(*v0alpha1.DataPlaneService)
	if !ok {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("unexpected object type %T", obj))}
	}
	return app.Validate(d, s.claims)
}

func (s validatingStrategy) ValidateUpdate(ctx context.Context, obj, _ runtime.Object) field.ErrorList {
	return s.Validate(ctx, obj)
}

// statusStrategy keeps metadata.generation out of reach of status writers.
type statusStrategy struct {
	rest.RESTUpdateStrategy
}

func (s statusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	s.RESTUpdateStrategy.PrepareForUpdate(ctx, obj, old)
	n, ok1 := obj.(*v0alpha1.DataPlaneService)
	o, ok2 := old.(*v0alpha1.DataPlaneService)
	if ok1 && ok2 {
		n.Generation = o.Generation
	}
}

func (s statusStrategy) ValidateUpdate(_ context.Context, obj, _ runtime.Object) field.ErrorList {
	d, ok := obj.(*v0alpha1.DataPlaneService)
	if !ok {
		return nil
	}
	var errs field.ErrorList
	p := field.NewPath("status", "conditions")
	seen := map[string]bool{}
	for i, c := range d.Status.Conditions {
		switch c.Status {
		case v0alpha1.DataPlaneServiceConditionStatusTrue, v0alpha1.DataPlaneServiceConditionStatusFalse, v0alpha1.DataPlaneServiceConditionStatusUnknown:
		default:
			errs = append(errs, field.NotSupported(p.Index(i).Child("status"), c.Status, []string{"True", "False", "Unknown"}))
		}
		if c.Type == "" {
			errs = append(errs, field.Required(p.Index(i).Child("type"), ""))
		} else if seen[c.Type] {
			errs = append(errs, field.Duplicate(p.Index(i).Child("type"), c.Type))
		}
		seen[c.Type] = true
	}
	return errs
}
