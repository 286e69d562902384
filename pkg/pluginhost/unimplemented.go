package pluginhost

import (
	"context"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Plugins built on the SDK's instance managers (datasource.Manage, app.Manage) register every
// plugin gRPC service whatever the plugin implements, and answer Unimplemented for the calls
// its instances do not handle. Reflection therefore cannot tell; the answers can. The
// interceptors below record the service of every call answered Unimplemented for the running
// process (a restart forgets them), and listeners hear of it so Available can follow.

func (e *entry) unaryUnimplemented(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	e.noteUnimplemented(method, err)
	return err
}

func (e *entry) streamUnimplemented(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		e.noteUnimplemented(method, err)
		return nil, err
	}
	return &unimplementedStream{ClientStream: cs, e: e, method: method}, nil
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
		e.host.notify(e.info.ID)
	}
}
