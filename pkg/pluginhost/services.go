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
	reflectionalphapb "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
)

// Grafana plugin gRPC services, as a plugin's server registers them.
const (
	ServiceData               = "pluginv2.Data"
	ServiceResource           = "pluginv2.Resource"
	ServiceDiagnostics        = "pluginv2.Diagnostics"
	ServiceStream             = "pluginv2.Stream"
	ServiceAdmissionControl   = "pluginv2.AdmissionControl"
	ServiceResourceConversion = "pluginv2.ResourceConversion"
)

// listServices asks a plugin's gRPC server which Grafana plugin services it serves, through
// the gRPC reflection service go-plugin installs: grpc.reflection.v1, or v1alpha, the only
// one plugins built with older grpc-go (before 1.57, e.g. plugin SDK v0.164) register.
func listServices(ctx context.Context, conn *grpc.ClientConn) ([]string, error) {
	names, err := listServicesV1(ctx, conn)
	if status.Code(err) == codes.Unimplemented {
		names, err = listServicesV1Alpha(ctx, conn)
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

func listServicesV1(ctx context.Context, conn *grpc.ClientConn) ([]string, error) {
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = stream.CloseSend() }()
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"},
	}); err != nil {
		return nil, err
	}
	resp, err := stream.Recv()
	if err != nil {
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

// listServicesV1Alpha is listServicesV1 over the v1alpha protocol (same messages, older
// package; grpc-go keeps it deprecated but served by old servers only).
func listServicesV1Alpha(ctx context.Context, conn *grpc.ClientConn) ([]string, error) {
	stream, err := reflectionalphapb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx) //nolint:staticcheck // for plugins on old grpc-go
	if err != nil {
		return nil, err
	}
	defer func() { _ = stream.CloseSend() }()
	if err := stream.Send(&reflectionalphapb.ServerReflectionRequest{ //nolint:staticcheck
		MessageRequest: &reflectionalphapb.ServerReflectionRequest_ListServices{ListServices: "*"}, //nolint:staticcheck
	}); err != nil {
		return nil, err
	}
	resp, err := stream.Recv()
	if err != nil {
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
