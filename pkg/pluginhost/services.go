package pluginhost

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/grpc"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
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
// the gRPC reflection service go-plugin installs. The plugin SDK registers a service only
// when the plugin implements its handler, so this is what the plugin can actually answer.
func listServices(ctx context.Context, conn *grpc.ClientConn) ([]string, error) {
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
		return nil, fmt.Errorf("reflection answered %T", resp.GetMessageResponse())
	}
	var out []string
	for _, s := range list.GetService() {
		if strings.HasPrefix(s.GetName(), "pluginv2.") {
			out = append(out, s.GetName())
		}
	}
	sort.Strings(out)
	return out, nil
}
