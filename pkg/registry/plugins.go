package registry

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
)

// pluginTable is `kubectl get plugins`: one row per plugin, its process facts summed up over
// the replicas that have it (status.replicas); -o wide adds each replica and the last error.
var pluginTable = tableConvertor{columns: pluginColumns, cells: pluginCells}

var pluginColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "the plugin id"},
	{Name: "Type", Type: "string", Description: "spec.type"},
	{Name: "Version", Type: "string", Description: "spec.version"},
	{Name: "Phase", Type: "string", Description: "the replicas' phases (one when they agree)"},
	{Name: "Running", Type: "string", Description: "replicas whose plugin process runs / replicas that have the plugin (- without a backend)"},
	{Name: "Restarts", Type: "integer", Description: "restarts summed over the replicas"},
	{Name: "Age", Type: "string", Description: "time since creation"},
	{Name: "Replicas", Type: "string", Priority: 1, Description: "status.replicas[].replica"},
	{Name: "Last Error", Type: "string", Priority: 1, Description: "the last start failure or exit reason, with its replica when there are several"},
}

func pluginCells(item runtime.Object, now time.Time) ([]any, error) {
	p, ok := item.(*v0alpha1.Plugin)
	if !ok {
		return nil, fmt.Errorf("unexpected object type %T", item)
	}
	var phases, names, lastErrors []string
	var restarts int64
	running := 0
	for _, r := range p.Status.Replicas {
		if ph := string(r.Phase); !slices.Contains(phases, ph) {
			phases = append(phases, ph)
		}
		names = append(names, r.Replica)
		restarts += r.Restarts
		if r.Running {
			running++
		}
		if r.LastError != nil && *r.LastError != "" {
			e := *r.LastError
			if len(p.Status.Replicas) > 1 {
				e = r.Replica + ": " + e
			}
			lastErrors = append(lastErrors, e)
		}
	}
	phase := strings.Join(phases, ",")
	if phase == "" {
		phase = "Unknown"
	}
	runningCell := strconv.Itoa(running) + "/" + strconv.Itoa(len(p.Status.Replicas))
	if !p.Spec.Backend {
		runningCell = "-"
	}
	return []any{
		p.Name, p.Spec.Type, p.Spec.Version, phase, runningCell, restarts,
		duration.HumanDuration(now.Sub(p.CreationTimestamp.Time)),
		strings.Join(names, ","), strings.Join(lastErrors, "; "),
	}, nil
}
