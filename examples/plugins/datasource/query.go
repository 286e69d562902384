package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
)

// queryModel is the JSON of one query.
type queryModel struct {
	// Scenario is "random_walk" (default), "table" or "error".
	Scenario string `json:"scenario"`
	// Points is the number of rows to return (default 10, at most 100000).
	Points int `json:"points"`
	// Status is the HTTP status of the "error" scenario (default 400).
	Status int `json:"status"`
	// Message is the error message of the "error" scenario.
	Message string `json:"message"`
	// Delay makes the query wait this long (a Go duration, at most maxDelay) before it
	// answers, e.g. "35s": a slow datasource, for deadlines and the UI's waiting. The wait
	// ends early when the call is cancelled (dpa's --timeout, the client went away).
	Delay string `json:"delay"`
}

const (
	maxPoints = 100_000
	maxDelay  = 2 * time.Minute
)

// QueryData answers every query independently; a failing query does not fail
// the others. A cancelled call (while a query waits its delay) ends with the context's error.
func (inst *instance) QueryData(ctx context.Context, req *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
	resp := backend.NewQueryDataResponse()
	for _, q := range req.Queries {
		r, err := inst.query(ctx, q)
		if err != nil {
			return nil, err
		}
		resp.Responses[q.RefID] = r
	}
	return resp, nil
}

func (inst *instance) query(ctx context.Context, q backend.DataQuery) (backend.DataResponse, error) {
	var m queryModel
	if len(q.JSON) > 0 {
		if err := json.Unmarshal(q.JSON, &m); err != nil {
			return backend.ErrDataResponse(backend.StatusBadRequest, "invalid query JSON: "+err.Error()), nil
		}
	}
	if m.Delay != "" {
		d, err := time.ParseDuration(m.Delay)
		if err != nil || d < 0 || d > maxDelay {
			return backend.ErrDataResponse(backend.StatusBadRequest, fmt.Sprintf("delay must be a duration in [0,%s]", maxDelay)), nil
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return backend.DataResponse{}, ctx.Err()
		}
	}
	return inst.answer(q, m), nil
}

// answer is the query's scenario.
func (inst *instance) answer(q backend.DataQuery, m queryModel) backend.DataResponse {
	if m.Scenario == "" {
		m.Scenario = "random_walk"
	}
	if m.Points <= 0 {
		m.Points = 10
	}
	if m.Points > maxPoints {
		return backend.ErrDataResponse(backend.StatusBadRequest, fmt.Sprintf("points must be at most %d", maxPoints))
	}

	switch m.Scenario {
	case "random_walk":
		queriesServed.WithLabelValues(m.Scenario).Inc()
		return backend.DataResponse{Frames: data.Frames{randomWalk(q, m.Points)}}
	case "table":
		queriesServed.WithLabelValues(m.Scenario).Inc()
		return backend.DataResponse{Frames: data.Frames{table(q, m.Points)}}
	case "empty": // a window without points: one frame, zero rows
		queriesServed.WithLabelValues(m.Scenario).Inc()
		return backend.DataResponse{Frames: data.Frames{data.NewFrame("empty",
			data.NewField("time", nil, []time.Time{}), data.NewField("value", nil, []float64{}))}}
	case "nofields": // nothing known about the query: one frame without fields
		queriesServed.WithLabelValues(m.Scenario).Inc()
		return backend.DataResponse{Frames: data.Frames{data.NewFrame("nofields")}}
	case "error":
		queriesServed.WithLabelValues(m.Scenario).Inc()
		status := m.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		msg := m.Message
		if msg == "" {
			msg = fmt.Sprintf("scenario error requested with status %d", status)
		}
		return backend.DataResponse{
			Error:       errors.New(msg),
			Status:      backend.Status(status),
			ErrorSource: backend.ErrorSourceDownstream,
		}
	default:
		return backend.ErrDataResponse(backend.StatusBadRequest, fmt.Sprintf("unknown scenario %q", m.Scenario))
	}
}

// timestamps spreads n points evenly over the query's time range.
func timestamps(tr backend.TimeRange, n int) []time.Time {
	from, to := tr.From, tr.To
	if from.IsZero() || to.IsZero() || !to.After(from) {
		to = time.Unix(1_700_000_000, 0).UTC()
		from = to.Add(-time.Hour)
	}
	out := make([]time.Time, n)
	step := to.Sub(from) / time.Duration(n)
	for i := range out {
		out[i] = from.Add(step * time.Duration(i)).UTC()
	}
	return out
}

// rng is deterministic per refID, so the same query returns the same data.
func rng(refID string) *rand.Rand {
	h := fnv.New64a()
	_, _ = h.Write([]byte(refID))
	return rand.New(rand.NewPCG(h.Sum64(), 42))
}

func randomWalk(q backend.DataQuery, n int) *data.Frame {
	ts := timestamps(q.TimeRange, n)
	r := rng(q.RefID)
	values := make([]float64, n)
	v := 0.0
	for i := range values {
		v += r.Float64() - 0.5
		values[i] = v
	}
	frame := data.NewFrame("random_walk",
		data.NewField("time", nil, ts),
		data.NewField("value", data.Labels{"series": "walk"}, values),
	)
	frame.RefID = q.RefID
	frame.Meta = &data.FrameMeta{Type: data.FrameTypeTimeSeriesMulti, TypeVersion: data.FrameTypeVersion{0, 1}}
	return frame
}

// table returns one field of each common type: time, float64, int64,
// string, bool and a nullable float64 (every third row is null).
func table(q backend.DataQuery, n int) *data.Frame {
	ts := timestamps(q.TimeRange, n)
	r := rng(q.RefID)
	floats := make([]float64, n)
	ints := make([]int64, n)
	strs := make([]string, n)
	bools := make([]bool, n)
	nullable := make([]*float64, n)
	for i := range n {
		floats[i] = r.Float64() * 100
		ints[i] = int64(i)
		strs[i] = fmt.Sprintf("row-%d", i)
		bools[i] = i%2 == 0
		if i%3 != 2 {
			f := float64(i) / 2
			nullable[i] = &f
		}
	}
	frame := data.NewFrame("table",
		data.NewField("time", nil, ts),
		data.NewField("float", nil, floats),
		data.NewField("int", nil, ints),
		data.NewField("string", nil, strs),
		data.NewField("bool", nil, bools),
		data.NewField("nullable", nil, nullable),
	)
	frame.RefID = q.RefID
	frame.Meta = &data.FrameMeta{Type: data.FrameTypeTable}
	return frame
}
