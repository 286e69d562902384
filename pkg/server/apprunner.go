package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grafana/grafana-app-sdk/k8s"
	"github.com/grafana/grafana-app-sdk/k8s/apiserver"
	"github.com/grafana/grafana-app-sdk/resource"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/healthz"
	"k8s.io/client-go/rest"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
)

// addAppRunner runs the App SDK app (the reconciler's informers) once the server has started,
// and makes /readyz wait for it.
//
// The App SDK's own hook runs the app in the hook itself and never returns, which keeps
// /readyz failing forever, so the runner starts in the background instead. The app's
// informers are themselves long-running watch clients of this server, so they are stopped in
// the pre-shutdown hook; otherwise the drain would wait on them forever. Shutdown order: the
// app stops, the listener closes and in-flight requests drain, then the phases' cleanups run.
func (s *Server) addAppRunner(srv *genericapiserver.GenericAPIServer, installer apiserver.AppInstaller, done *cleanups) error {
	log := s.opts.Logger
	appCtx, stopApp := context.WithCancel(context.Background())
	done.add(stopApp)
	appDone := make(chan struct{})
	var appRunning atomic.Bool
	srv.AddPostStartHookOrDie("dpa-app", func(genericapiserver.PostStartHookContext) error {
		a, err := installer.App()
		if err != nil {
			return err
		}
		go func() {
			defer close(appDone)
			appRunning.Store(true)
			if err := a.Runner().Run(appCtx); err != nil && appCtx.Err() == nil {
				log.Error("app runner stopped", "error", err)
			}
			appRunning.Store(false)
		}()
		return nil
	})
	if err := srv.AddReadyzChecks(healthz.NamedCheck("dpa-app", func(*http.Request) error {
		if !appRunning.Load() {
			return errors.New("app runner is not running")
		}
		return nil
	}), s.routesLoadedCheck(srv)); err != nil {
		return err
	}
	srv.AddPreShutdownHookOrDie("dpa-app-stop", func() error {
		stopApp()
		if appRunning.Load() {
			select {
			case <-appDone:
			case <-time.After(10 * time.Second):
				log.Warn("app runner did not stop within 10s")
			}
		}
		log.Info("app stopped")
		return nil
	})
	return nil
}

// readyLog logs the "serving" line once the server has started.
func readyLog(log *slog.Logger, bind string, port int, kubeconfig string, start time.Time) genericapiserver.PostStartHookFunc {
	return func(genericapiserver.PostStartHookContext) error {
		log.Info("serving", "address", net.JoinHostPort(bind, strconv.Itoa(port)),
			"kubeconfig", kubeconfig, "startup", time.Since(start).Round(time.Millisecond).String())
		return nil
	}
}

// routesLoadedCheck is ready once the reconciler holds every DataPlaneService that was in
// storage when the check first ran, i.e. the route table has what the informer's first list
// brought. Before, a replica that just (re)started would answer 404 for routes it had not
// loaded yet while a load balancer already sent it traffic. The objects are listed once, in
// the background (a probe never waits for it, and frequent probes never list again); each
// probe then only looks up the names still missing. Once ready it stays ready: after that
// the table follows events.
func (s *Server) routesLoadedCheck(srv *genericapiserver.GenericAPIServer) healthz.HealthChecker {
	var (
		loaded  atomic.Bool
		mu      sync.Mutex
		listing bool
		pending map[string]struct{} // nil until listed
		listErr error
	)
	list := func() {
		names, err := s.storedServiceNames(srv)
		mu.Lock()
		defer mu.Unlock()
		listing = false
		if err != nil {
			listErr = err
			return
		}
		pending = names
	}
	return healthz.NamedCheck("dpa-routes", func(*http.Request) error {
		if loaded.Load() {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if pending == nil {
			if !listing {
				listing = true
				go list()
			}
			if listErr != nil {
				return fmt.Errorf("listing DataPlaneServices: %w", listErr)
			}
			return errors.New("listing the stored DataPlaneServices")
		}
		for name := range pending {
			if s.reconciler.Holds(name) {
				delete(pending, name)
			}
		}
		if len(pending) > 0 {
			return fmt.Errorf("route table not loaded yet: %d DataPlaneServices to go", len(pending))
		}
		loaded.Store(true)
		return nil
	})
}

// storedServiceNames lists the names of the stored DataPlaneServices through the loopback
// connection.
func (s *Server) storedServiceNames(srv *genericapiserver.GenericAPIServer) (map[string]struct{}, error) {
	cfg := rest.CopyConfig(srv.LoopbackClientConfig)
	cfg.APIPath = "/apis"
	client, err := v0alpha1.NewDataPlaneServiceClientFromGenerator(k8s.NewClientRegistry(*cfg, k8s.DefaultClientConfig()))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := client.ListAll(ctx, "", resource.ListOptions{})
	if err != nil {
		return nil, err
	}
	names := make(map[string]struct{}, len(l.Items))
	for i := range l.Items {
		names[l.Items[i].Name] = struct{}{}
	}
	return names, nil
}
