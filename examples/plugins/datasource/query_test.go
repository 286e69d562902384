package main

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

func delayed(refID, delay string) backend.DataQuery {
	b, _ := json.Marshal(map[string]any{"scenario": "table", "points": 2, "delay": delay})
	return backend.DataQuery{RefID: refID, JSON: b}
}

// TestQueryDelay: a query with a delay answers after it, a cancelled call stops waiting at
// once, and a delay out of bounds is the query's 400.
func TestQueryDelay(t *testing.T) {
	inst := &instance{}
	start := time.Now()
	resp, err := inst.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{delayed("A", "150ms")}})
	if err != nil || resp.Responses["A"].Error != nil || len(resp.Responses["A"].Frames) != 1 {
		t.Fatalf("delayed query: %v %+v", err, resp)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("answered after %s, before its delay", took)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = inst.QueryData(ctx, &backend.QueryDataRequest{Queries: []backend.DataQuery{delayed("A", "1m")}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled query: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a cancelled query waited %s", took)
	}

	for _, bad := range []string{"3m", "-1s", "soon"} {
		resp, err := inst.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{delayed("A", bad)}})
		if err != nil || resp.Responses["A"].Status != backend.StatusBadRequest {
			t.Errorf("delay %q: %v %+v", bad, err, resp.Responses["A"])
		}
	}
}
