package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
)

// Reflection methods: v1, and v1alpha, the only one plugins built with older grpc-go (before
// 1.57, e.g. plugin SDK v0.164) register. The two protocols' messages are identical on the
// wire (v1 is v1alpha renamed), so one client speaks both.
const (
	reflectionV1      = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
	reflectionV1Alpha = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
)

// listServices asks a plugin's gRPC server which Grafana plugin services it serves, through
// the gRPC reflection service go-plugin installs.
func listServices(ctx context.Context, conn *grpc.ClientConn) ([]string, error) {
	names, err := reflectServices(ctx, conn, reflectionV1)
	if status.Code(err) == codes.Unimplemented {
		names, err = reflectServices(ctx, conn, reflectionV1Alpha)
		if err != nil {
			err = fmt.Errorf("grpc.reflection.v1 is not served and v1alpha failed: %w", err)
		}
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, "pluginv2.") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// reflectServices lists the services through the reflection stream at method.
func reflectServices(ctx context.Context, conn *grpc.ClientConn, method string) ([]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, method)
	if err != nil {
		return nil, err
	}
	if err := cs.SendMsg(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"},
	}); err != nil {
		return nil, err
	}
	if err := cs.CloseSend(); err != nil {
		return nil, err
	}
	var resp reflectionpb.ServerReflectionResponse
	if err := cs.RecvMsg(&resp); err != nil {
		return nil, err
	}
	list := resp.GetListServicesResponse()
	if list == nil {
		return nil, errors.New("reflection did not answer with a service list")
	}
	out := make([]string, 0, len(list.GetService()))
	for _, s := range list.GetService() {
		out = append(out, s.GetName())
	}
	return out, nil
}
