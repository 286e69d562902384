package pluginhost

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The host's gRPC client interceptors watch every call to a plugin process for two things:
//
//   - Unimplemented answers. Plugins built on the SDK's instance managers (datasource.Manage,
//     app.Manage) register every plugin gRPC service whatever they implement and answer
//     Unimplemented for the calls their instances do not handle, so reflection cannot tell;
//     the answers can. The service of such a call is recorded for the running process (a
//     restart forgets it) and listeners hear of it, so Available can follow.
//   - Calls in flight, so that an upgrade lets the old process finish them before it stops.

// callTracker counts one process's plugin protocol calls (pluginv2.*) in flight, but not
// RunStream (a live stream never "finishes"; its subscribers are cut and subscribe again)
// nor go-plugin's own streams (broker, stdio), which live as long as the connection.
type callTracker struct{ n atomic.Int64 }

// idle waits until no call is in flight or timeout passes; it reports whether it is idle.
func (c *callTracker) idle(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for c.n.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// tracked reports whether a call counts as in flight for an upgrade's drain.
func tracked(method string) bool {
	return strings.HasPrefix(method, "/pluginv2.") && method != "/pluginv2.Stream/RunStream"
}

func (e *entry) interceptors(calls *callTracker) []grpc.DialOption {
	unary := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if tracked(method) {
			calls.n.Add(1)
			defer calls.n.Add(-1)
		}
		err := invoker(ctx, method, req, reply, cc, opts...)
		e.noteUnimplemented(method, err)
		return err
	}
	stream := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		if tracked(method) {
			// Done when the call's context ends, which the caller's does once it has read
			// the answer (or given up on it).
			calls.n.Add(1)
			context.AfterFunc(ctx, func() { calls.n.Add(-1) })
		}
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			e.noteUnimplemented(method, err)
			return nil, err
		}
		return &unimplementedStream{ClientStream: cs, e: e, method: method}, nil
	}
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(unary), grpc.WithChainStreamInterceptor(stream)}
}

// unimplementedStream notes an Unimplemented answer that arrives with the first message of a
// server stream (RunStream).
type unimplementedStream struct {
	grpc.ClientStream
	e      *entry
	method string
}

func (s *unimplementedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	s.e.noteUnimplemented(s.method, err)
	return err
}

// noteUnimplemented records method's service ("/pluginv2.Stream/RunStream" → pluginv2.Stream)
// when err is an Unimplemented status.
func (e *entry) noteUnimplemented(method string, err error) {
	if err == nil || status.Code(err) != codes.Unimplemented {
		return
	}
	service, _, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	if !ok {
		return
	}
	e.mu.Lock()
	inst := e.cur
	added := inst != nil && !slices.Contains(inst.unimplemented, service)
	if added {
		inst.unimplemented = append(slices.Clone(inst.unimplemented), service)
		slices.Sort(inst.unimplemented)
	}
	e.mu.Unlock()
	if added {
		e.log.Warn("plugin does not implement a service it registers", "service", service, "method", method)
		e.host.notify(e.id)
	}
}
