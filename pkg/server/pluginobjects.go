package server

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/grafana/grafana-app-sdk/k8s"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/rest"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/pluginhost"
	"github.com/dataplane-aggregator/dpa/pkg/pluginsync"
)

// pluginObjectsResync is the period of the full comparison of the Plugin objects with the
// plugin host; every change the host reports is written as it happens.
const pluginObjectsResync = time.Minute

// pluginObjectsLeaveTimeout bounds the removal of this replica's entries at shutdown.
const pluginObjectsLeaveTimeout = 5 * time.Second

// addPluginObjects keeps the Plugin objects in line with this replica's plugin host
// (pkg/pluginsync) from the moment the server serves, through the loopback connection with
// dpa's internal identity, the only one allowed to write them. At shutdown, in a pre-shutdown
// hook (the server still serves then), this replica's entries are removed and objects no
// replica has any more are deleted. Without a plugin host the writer only removes the
// entries this replica name left behind.
func (s *Server) addPluginObjects(srv *genericapiserver.GenericAPIServer, internal internalIdentity, host *pluginhost.Host) error {
	log := s.cfg.Logger.With("component", "plugin-objects", "replica", s.cfg.ReplicaName)
	cfg := rest.CopyConfig(srv.LoopbackClientConfig)
	cfg.APIPath = "/apis"
	cfg.BearerToken, cfg.BearerTokenFile = internal.token, ""
	client, err := v0alpha1.NewPluginClientFromGenerator(k8s.NewClientRegistry(*cfg, k8s.DefaultClientConfig()))
	if err != nil {
		return err
	}
	w := &pluginsync.Writer{Replica: s.cfg.ReplicaName, Client: client, Logger: log, Resync: pluginObjectsResync}
	if host != nil { // not a nil *Host in the interface
		w.Source = host
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var started atomic.Bool
	srv.AddPostStartHookOrDie("dpa-plugin-objects", func(genericapiserver.PostStartHookContext) error {
		started.Store(true)
		go func() {
			defer close(done)
			w.Run(ctx)
		}()
		return nil
	})
	srv.AddPreShutdownHookOrDie("dpa-plugin-objects-leave", func() error {
		cancel()
		if !started.Load() {
			return nil
		}
		<-done
		leaveCtx, stop := context.WithTimeout(context.Background(), pluginObjectsLeaveTimeout)
		defer stop()
		if err := w.Leave(leaveCtx); err != nil {
			log.Warn("removing this replica's entries from the Plugin objects failed", "error", err)
		} else {
			log.Info("this replica's entries removed from the Plugin objects")
		}
		return nil
	})
	return nil
}
