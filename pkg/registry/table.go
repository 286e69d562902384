package registry

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/app"
)

// tableConvertor gives kubectl get its columns. The App SDK's store only has the default
// NAME/CREATED AT columns; additionalPrinterColumns in the CRD do not reach the server.
type tableConvertor struct {
	columns []metav1.TableColumnDefinition
	// cells of one object's row (in the order of columns).
	cells func(item runtime.Object, now time.Time) ([]any, error)
}

var _ rest.TableConvertor = tableConvertor{}

// dataPlaneServiceTable is the table of DataPlaneServices.
var dataPlaneServiceTable = tableConvertor{columns: tableColumns, cells: dataPlaneServiceCells}

var tableColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "metadata.name"},
	{Name: "Plugin", Type: "string", Description: "spec.pluginID"},
	{Name: "Type", Type: "string", Description: "spec.pluginType"},
	{Name: "Group", Type: "string", Description: "spec.group"},
	{Name: "Version", Type: "string", Description: "spec.version"},
	{Name: "Available", Type: "string", Description: "status of the Available condition, with its reason when not True"},
	{Name: "Age", Type: "string", Description: "time since creation"},
}

func (c tableConvertor) ConvertToTable(_ context.Context, obj runtime.Object, _ runtime.Object) (*metav1.Table, error) {
	t := &metav1.Table{ColumnDefinitions: c.columns}
	if m, err := meta.ListAccessor(obj); err == nil {
		t.ResourceVersion = m.GetResourceVersion()
		t.Continue = m.GetContinue()
		t.RemainingItemCount = m.GetRemainingItemCount()
	} else if m, err := meta.CommonAccessor(obj); err == nil {
		t.ResourceVersion = m.GetResourceVersion()
	}
	var items []runtime.Object
	if meta.IsListType(obj) {
		var err error
		if items, err = meta.ExtractList(obj); err != nil {
			return nil, err
		}
	} else {
		items = []runtime.Object{obj}
	}
	now := time.Now()
	for _, item := range items {
		cells, err := c.cells(item, now)
		if err != nil {
			return nil, err
		}
		t.Rows = append(t.Rows, metav1.TableRow{Cells: cells, Object: runtime.RawExtension{Object: item}})
	}
	return t, nil
}

func dataPlaneServiceCells(item runtime.Object, now time.Time) ([]any, error) {
	d, ok := item.(*v0alpha1.DataPlaneService)
	if !ok {
		return nil, fmt.Errorf("unexpected object type %T", item)
	}
	return []any{
		d.Name, d.Spec.PluginID, d.Spec.PluginType, d.Spec.Group, d.Spec.Version,
		availableColumn(d), duration.HumanDuration(now.Sub(d.CreationTimestamp.Time)),
	}, nil
}

// availableColumn shows the Available condition ("True", or "False (Reason)"). Until one is
// written, a failed Registered condition is shown instead, else "Unknown".
func availableColumn(d *v0alpha1.DataPlaneService) string {
	var registered *v0alpha1.DataPlaneServiceCondition
	for i := range d.Status.Conditions {
		c := &d.Status.Conditions[i]
		switch c.Type {
		case app.ConditionAvailable:
			return conditionCell(c)
		case app.ConditionRegistered:
			registered = c
		}
	}
	if registered != nil && registered.Status != v0alpha1.DataPlaneServiceConditionStatusTrue {
		return conditionCell(registered)
	}
	return "Unknown"
}

func conditionCell(c *v0alpha1.DataPlaneServiceCondition) string {
	if c.Status == v0alpha1.DataPlaneServiceConditionStatusTrue || c.Reason == "" {
		return string(c.Status)
	}
	return fmt.Sprintf("%s (%s)", c.Status, c.Reason)
}
