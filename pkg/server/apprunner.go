package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/grafana/grafana-app-sdk/k8s/apiserver"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/healthz"
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
	})); err != nil {
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
