package pluginhost

import (
	"context"
	"fmt"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// probe checks a running instance every ProbeInterval until it exits: a gRPC health check of
// go-plugin's "plugin" service, which every plugin process serves, bounded by ProbeTimeout.
// A process that exits is noticed by the watcher; one that hangs (stopped, deadlocked,
// starved) keeps its socket open and is only found out here. The outcome is recorded on the
// instance and listeners hear of every change, so Available follows.
func (e *entry) probe(inst *instance) {
	opts := e.host.opts
	t := time.NewTicker(opts.ProbeInterval)
	defer t.Stop()
	client := healthpb.NewHealthClient(inst.rpc.Conn)
	for {
		select {
		case <-inst.exited:
			return
		case <-inst.quit:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), opts.ProbeTimeout)
		start := time.Now()
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: goplugin.GRPCServiceName})
		cancel()
		var problem string
		switch {
		case status.Code(err) == codes.Unimplemented:
			// A standalone plugin server without the health service: nothing to learn.
		case err != nil:
			problem = fmt.Sprintf("no answer to the health probe within %s: %v", opts.ProbeTimeout, status.Convert(err).Message())
		case resp.GetStatus() != healthpb.HealthCheckResponse_SERVING:
			problem = "the health probe answered " + resp.GetStatus().String()
		}
		e.setProbe(inst, problem, time.Since(start))
	}
}

// setProbe records the latest probe outcome of inst ("" is healthy) and notifies listeners
// when it changed.
func (e *entry) setProbe(inst *instance, problem string, took time.Duration) {
	e.mu.Lock()
	changed := e.cur == inst && inst.probeProblem != problem
	if changed {
		if inst.probeProblem == "" {
			inst.probeSince = time.Now()
		}
		inst.probeProblem = problem
	}
	e.mu.Unlock()
	if !changed {
		return
	}
	if problem != "" {
		e.log.Warn("plugin is not responding", "problem", problem)
	} else {
		e.log.Info("plugin is responding again", "probe_duration", took.String())
	}
	e.host.notify(e.id)
}
