package registry

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
)

// TestPluginTable: kubectl's columns sum the replicas' facts up.
func TestPluginTable(t *testing.T) {
	str := func(s string) *string { return &s }
	rep := func(name string, phase v0alpha1.PluginReplicaStatusPhase, running bool, restarts int64, lastErr *string) v0alpha1.PluginReplicaStatus {
		return v0alpha1.PluginReplicaStatus{Replica: name, Phase: phase, Running: running, Restarts: restarts, LastError: lastErr}
	}
	const run, back = v0alpha1.PluginReplicaStatusPhaseRunning, v0alpha1.PluginReplicaStatusPhaseBackoff
	for name, tc := range map[string]struct {
		backend  bool
		replicas []v0alpha1.PluginReplicaStatus
		want     string // cells after the name, the age left out
	}{
		"one replica":          {true, []v0alpha1.PluginReplicaStatus{rep("a", run, true, 0, nil)}, "[datasource 1.0.0 Running 1/1 0 a ]"},
		"replicas agree":       {true, []v0alpha1.PluginReplicaStatus{rep("a", run, true, 1, str("exit 1")), rep("b", run, true, 2, nil)}, "[datasource 1.0.0 Running 2/2 3 a,b a: exit 1]"},
		"replicas disagree":    {true, []v0alpha1.PluginReplicaStatus{rep("a", run, true, 0, nil), rep("b", back, false, 4, str("boom"))}, "[datasource 1.0.0 Running,Backoff 1/2 4 a,b b: boom]"},
		"no replica (yet)":     {true, nil, "[datasource 1.0.0 Unknown 0/0 0  ]"},
		"frontend-only plugin": {false, []v0alpha1.PluginReplicaStatus{rep("a", v0alpha1.PluginReplicaStatusPhaseIdle, false, 0, nil)}, "[datasource 1.0.0 Idle - 0 a ]"},
	} {
		p := &v0alpha1.Plugin{
			ObjectMeta: metav1.ObjectMeta{Name: "ds", CreationTimestamp: metav1.NewTime(time.Now().Add(-time.Hour))},
			Spec:       v0alpha1.PluginSpec{Id: "ds", Type: "datasource", Version: "1.0.0", Backend: tc.backend},
			Status:     v0alpha1.PluginStatus{Replicas: tc.replicas},
		}
		tab, err := pluginTable.ConvertToTable(context.Background(), p, nil)
		if err != nil {
			t.Fatal(err)
		}
		cells := tab.Rows[0].Cells
		if len(cells) != len(pluginColumns) || cells[0] != "ds" || cells[6] != "60m" {
			t.Fatalf("%s: cells %v", name, cells)
		}
		if got := fmt.Sprint(append(cells[1:6:6], cells[7:]...)); got != tc.want {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
	list := &v0alpha1.PluginList{Items: []v0alpha1.Plugin{{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, {ObjectMeta: metav1.ObjectMeta{Name: "b"}}}}
	if tab, err := pluginTable.ConvertToTable(context.Background(), list, nil); err != nil || len(tab.Rows) != 2 {
		t.Fatalf("list: %v %v", tab, err)
	}
}
