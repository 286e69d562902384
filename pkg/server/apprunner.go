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

	"github.com/grafana/grafana-app-sdk/k8s/apiserver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/healthz"
	"k8s.io/client-go/metadata"

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
	log := s.cfg.Logger
	appCtx, stopApp := context.WithCancel(context.Background())
	done.add(stopApp)
	appDone := make(chan struct{})
	var appRunning atomic.Bool
	routes := s.routesLoadedGate(srv)
	srv.AddPostStartHookOrDie("dpa-app", func(genericapiserver.PostStartHookContext) error {
		a, err := installer.App()
		if err != nil {
			return err
		}
		go routes.waitOpen(appCtx, s.routesLoaded)
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
	}), healthz.NamedCheck("dpa-routes", func(*http.Request) error { return routes.check() })); err != nil {
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
func readyLog(log *slog.Logger, bind net.IP, port int, kubeconfig string, start time.Time) genericapiserver.PostStartHookFunc {
	return func(genericapiserver.PostStartHookContext) error {
		log.Info("serving", "address", net.JoinHostPort(bind.String(), strconv.Itoa(port)),
			"kubeconfig", kubeconfig, "startup", time.Since(start).Round(time.Millisecond).String())
		return nil
	}
}

// routesLoadedGate is the dpa-routes readiness check: ready once the reconciler holds every
// DataPlaneService that was in storage when the check first ran, i.e. the route table has
// what the informer's first list brought. Before, a replica that just (re)started would
// answer 404 for routes it had not loaded yet while a load balancer already sent it traffic.
func (s *Server) routesLoadedGate(srv *genericapiserver.GenericAPIServer) *loadGate {
	return &loadGate{
		list:        func() (map[string]struct{}, error) { return s.storedServiceNames(srv) },
		holds:       s.reconciler.Holds,
		relistAfter: routesRelistAfter,
		spawn:       func(f func()) { go f() },
	}
}

// waitOpen checks the gate every 50 ms, whether or not anything probes /readyz, and calls
// loaded once it opens (or returns when ctx ends).
func (g *loadGate) waitOpen(ctx context.Context, loaded func()) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for g.check() != nil {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	loaded()
}

// routesRelistAfter: while the route table is still loading, the stored objects are listed
// again this often, so that one deleted in the meantime is not waited for forever.
const routesRelistAfter = 5 * time.Second

// loadGate is the dpa-routes check. The stored objects are listed in the background (a
// probe never waits for it, and frequent probes never list everything again); each probe
// then only looks up the names still missing. While some are missing, the objects are listed
// again every relistAfter, dropping names deleted meanwhile. Once open it stays open: after
// that the table follows events.
type loadGate struct {
	list        func() (map[string]struct{}, error)
	holds       func(name string) bool
	relistAfter time.Duration
	spawn       func(func())

	open     atomic.Bool
	mu       sync.Mutex
	listing  bool
	listedAt time.Time
	pending  map[string]struct{} // nil until listed
	listErr  error
}

func (g *loadGate) check() error {
	if g.open.Load() {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pending == nil {
		g.startListLocked()
		if g.listErr != nil {
			return fmt.Errorf("listing DataPlaneServices: %w", g.listErr)
		}
		return errors.New("listing the stored DataPlaneServices")
	}
	for name := range g.pending {
		if g.holds(name) {
			delete(g.pending, name)
		}
	}
	if len(g.pending) > 0 {
		if time.Since(g.listedAt) > g.relistAfter {
			g.startListLocked()
		}
		return fmt.Errorf("route table not loaded yet: %d DataPlaneServices to go", len(g.pending))
	}
	g.open.Store(true)
	return nil
}

func (g *loadGate) startListLocked() {
	if g.listing {
		return
	}
	g.listing = true
	g.spawn(func() {
		names, err := g.list()
		g.mu.Lock()
		defer g.mu.Unlock()
		g.listing = false
		if err != nil {
			g.listErr = err
			return
		}
		g.listedAt = time.Now()
		if g.pending == nil {
			g.pending = names
			return
		}
		for name := range g.pending {
			if _, ok := names[name]; !ok {
				delete(g.pending, name)
			}
		}
	})
}

// storedServiceNames lists the names of the stored DataPlaneServices through the loopback
// connection.
func (s *Server) storedServiceNames(srv *genericapiserver.GenericAPIServer) (map[string]struct{}, error) {
	// Names only: the server sends each object's metadata, not the whole object (it is
	// decoded here besides the informer's own list, on every start).
	client, err := metadata.NewForConfig(srv.LoopbackClientConfig)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := client.Resource(v0alpha1.DataPlaneServiceKind().GroupVersionResource()).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	names := make(map[string]struct{}, len(l.Items))
	for i := range l.Items {
		names[l.Items[i].Name] = struct{}{}
	}
	return names, nil
}
