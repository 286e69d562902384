package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"
	"github.com/grafana/grafana-plugin-sdk-go/data"
)

// Channel paths: "ticks" (one packet per second) and "ticks/<duration>",
// e.g. "ticks/100ms". "labels" and "labels/<key>" need subscription data
// {"label":"…"} (as a stream for a query does): the initial data echoes the
// subscription data and every frame carries the label; without a label it
// streams nothing. Subscribers of one channel share its stream, so, as with
// Grafana Live, a client that wants its own stream puts a key in the path.
// "fail" and "fail/<n>" send n frames (default 3, at most 1000) 50ms apart, as "ticks" does,
// and then fail: RunStream returns an error. "missing" is reported as not found and
// "forbidden" as permission denied.

const (
	defaultTickInterval = time.Second
	minTickInterval     = 10 * time.Millisecond

	defaultFailAfter = 3
	maxFailAfter     = 1000
	failInterval     = 50 * time.Millisecond
)

// failAfter parses the frame count of "fail/<n>"; ok is false for other channels.
func failAfter(path string) (n int, ok bool) {
	head, rest, hasRest := strings.Cut(path, "/")
	if head != "fail" {
		return 0, false
	}
	n = defaultFailAfter
	if hasRest {
		if v, err := strconv.Atoi(rest); err == nil && v >= 0 {
			n = min(v, maxFailAfter)
		}
	}
	return n, true
}

// tickInterval parses the interval from "ticks/<duration>" or from the
// request data {"interval":"100ms"}.
func tickInterval(path string, raw json.RawMessage) time.Duration {
	interval := defaultTickInterval
	if _, rest, ok := strings.Cut(path, "/"); ok {
		if d, err := time.ParseDuration(rest); err == nil {
			interval = d
		}
	}
	if len(raw) > 0 {
		var opts struct {
			Interval string `json:"interval"`
		}
		if json.Unmarshal(raw, &opts) == nil && opts.Interval != "" {
			if d, err := time.ParseDuration(opts.Interval); err == nil {
				interval = d
			}
		}
	}
	return max(interval, minTickInterval)
}

// SubscribeStream allows the "ticks", "labels" and "fail" channels.
func (inst *instance) SubscribeStream(_ context.Context, req *backend.SubscribeStreamRequest) (*backend.SubscribeStreamResponse, error) {
	if n, ok := failAfter(req.Path); ok {
		initial, err := backend.NewInitialData(json.RawMessage(`{"failAfter":` + strconv.Itoa(n) + `}`))
		if err != nil {
			return nil, err
		}
		return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusOK, InitialData: initial}, nil
	}
	switch {
	case req.Path == "forbidden":
		return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusPermissionDenied}, nil
	case req.Path == "labels" || strings.HasPrefix(req.Path, "labels/"):
		initial, err := backend.NewInitialData(json.RawMessage(`{"subscribedWith":` + string(orNull(req.Data)) + `}`))
		if err != nil {
			return nil, err
		}
		return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusOK, InitialData: initial}, nil
	case strings.HasPrefix(req.Path, "ticks"):
		initial, err := backend.NewInitialData(json.RawMessage(`{"interval":"` + tickInterval(req.Path, req.Data).String() + `"}`))
		if err != nil {
			return nil, err
		}
		return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusOK, InitialData: initial}, nil
	default: // includes "missing"
		return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusNotFound}, nil
	}
}

// RunStream sends one data frame packet per interval until ctx is done.
func (inst *instance) RunStream(ctx context.Context, req *backend.RunStreamRequest, sender *backend.StreamSender) error {
	var label string
	if req.Path == "labels" || strings.HasPrefix(req.Path, "labels/") {
		var opts struct {
			Label string `json:"label"`
		}
		if json.Unmarshal(req.Data, &opts) != nil || opts.Label == "" {
			return nil // nothing to stream without parameters
		}
		label = opts.Label
	}
	interval := tickInterval(req.Path, req.Data)
	failAt, fail := failAfter(req.Path)
	if fail {
		if failAt == 0 {
			return errors.New("the fail channel failed after 0 frames")
		}
		interval = failInterval
	}
	logger := log.DefaultLogger.FromContext(ctx)
	logger.Info("RunStream started", "path", req.Path, "interval", interval.String(), "datasource", inst.uid)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var n int64
	for {
		select {
		case <-ctx.Done():
			logger.Info("RunStream context cancelled", "path", req.Path, "packets", n, "reason", context.Cause(ctx).Error())
			return nil
		case t := <-ticker.C:
			n++
			frame := data.NewFrame("ticks",
				data.NewField("time", nil, []time.Time{t.UTC()}),
				data.NewField("tick", nil, []int64{n}),
			)
			if label != "" {
				frame.Fields = append(frame.Fields, data.NewField("label", nil, []string{label}))
			}
			if err := sender.SendFrame(frame, data.IncludeAll); err != nil {
				logger.Warn("RunStream send failed", "path", req.Path, "error", err)
				return err
			}
			if fail && n >= int64(failAt) {
				return fmt.Errorf("the fail channel failed after %d frames", n)
			}
		}
	}
}

// PublishStream accepts publications on "ticks" only.
func (inst *instance) PublishStream(_ context.Context, req *backend.PublishStreamRequest) (*backend.PublishStreamResponse, error) {
	if req.Path == "ticks" {
		return &backend.PublishStreamResponse{Status: backend.PublishStreamStatusOK, Data: req.Data}, nil
	}
	return &backend.PublishStreamResponse{Status: backend.PublishStreamStatusPermissionDenied}, nil
}

func orNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return json.RawMessage("null")
	}
	return b
}
