// Package app is the Grafana App SDK app behind the DataPlaneService resource: validation
// rules, the reconciler that turns stored objects into the live route table, and status.
package app

import (
	"context"
	"fmt"

	sdkapp "github.com/grafana/grafana-app-sdk/app"
	"github.com/grafana/grafana-app-sdk/k8s"
	"github.com/grafana/grafana-app-sdk/resource"
	"github.com/grafana/grafana-app-sdk/simple"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/apis/manifestdata"
)

// NewProvider returns the App SDK provider for the aggregation app. The reconciler is created
// by the caller (it is shared with the validation strategy and the data plane); the provider
// gives it a status writer over the API server's loopback client when the app starts.
func NewProvider(rec *Reconciler) sdkapp.Provider {
	return simple.NewAppProvider(manifestdata.LocalManifest(), nil, func(cfg sdkapp.Config) (sdkapp.App, error) {
		clients := k8s.NewClientRegistry(cfg.KubeConfig, k8s.DefaultClientConfig())
		client, err := v0alpha1.NewDataPlaneServiceClientFromGenerator(clients)
		if err != nil {
			return nil, fmt.Errorf("creating DataPlaneService client: %w", err)
		}
		if rec.Status == nil {
			rec.Status = clientStatusWriter{client: client}
		}
		return simple.NewApp(simple.AppConfig{
			Name:            cfg.ManifestData.AppName,
			KubeConfig:      cfg.KubeConfig,
			ClientGenerator: clients,
			ManagedKinds: []simple.AppManagedKind{{
				Kind:       v0alpha1.DataPlaneServiceKind(),
				Reconciler: rec,
				// Plain: no finalizer, so deletes never wait for a running app.
				ReconcileOptions: simple.BasicReconcileOptions{UsePlain: true},
			}},
		})
	})
}

type clientStatusWriter struct {
	client *v0alpha1.DataPlaneServiceClient
}

func (w clientStatusWriter) WriteStatus(ctx context.Context, obj *v0alpha1.DataPlaneService, status v0alpha1.DataPlaneServiceStatus) (*v0alpha1.DataPlaneService, error) {
	return w.client.UpdateStatus(ctx, resource.Identifier{Name: obj.Name}, status, resource.UpdateOptions{ResourceVersion: obj.ResourceVersion})
}
