// Package server is the dpa process: it wires the product together — storage (kine or
// etcd), PKI and tokens, plugins and provisioning, the data plane, the API server with the App
// SDK installer (its REST storage wrapped by pkg/registry), authentication, the handler chain
// — and owns the start-up and shutdown order.
//
// The phases follow sample-apiserver: Options (options.go, one option group per concern in
// options_*.go, each with AddFlags, Validate and ApplyTo) → Config (config.go) → Complete →
// New → Run, and Run itself is a sequence of phases, each in the file of its concern:
//
//  1. identity (auth.go, pki.go): the locked data dir, the serving certificate, the admin
//     token and the token authenticator;
//  2. tracing (tracing.go);
//  3. the data plane (plugins.go, dataplane.go): plugins, provisioning, the data plane and the
//     reconciler's sinks;
//  4. storage (storage.go): kine or etcd;
//  5. the API server (apiserver.go): the generic config, the handler chain (chain.go), the App
//     SDK installer with the REST storage of pkg/registry, discovery (apisdiscovery.go);
//  6. the app runner hooks (apprunner.go), the Plugin object writer's hooks
//     (pluginobjects.go), the kubeconfig, and serving.
//
// Shutdown runs the phases' cleanups in reverse order.
package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/dataplane-aggregator/dpa/pkg/app"
)

// Server is a configured, not yet running dpa (CompletedConfig.New).
type Server struct {
	cfg        CompletedConfig
	reconciler *app.Reconciler
	kubeconfig string
	// tokens is dpa's own bearer tokens (identity phase), reloaded on SIGHUP.
	tokens *tokenTable
	// routesLoaded runs once the route table holds every stored object (gcPolicy).
	routesLoaded func()
}

// cleanups are the shutdown steps of the phases started so far, run in reverse order.
type cleanups []func()

func (c *cleanups) add(f func()) { *c = append(*c, f) }

func (c *cleanups) run() {
	for i := len(*c) - 1; i >= 0; i-- {
		(*c)[i]()
	}
}

// Run starts the phases in order and serves until ctx ends; then it shuts down in reverse.
func (s *Server) Run(ctx context.Context) error {
	log := s.cfg.Logger
	start := time.Now()
	// Everything dpa writes — SQLite files, sockets, keys, tokens, kubeconfig — is private to
	// its user, whatever the mode of a data dir that already exists.
	syscall.Umask(0o077)
	s.routesLoaded = gcPolicy()
	var done cleanups
	defer done.run()

	id, err := s.identity(&done)
	if err != nil {
		return err
	}
	for _, reload := range id.clientCerts.run {
		go reload(ctx)
	}
	tp, shutdownTracing, err := newTracerProvider(ctx, s.cfg.OTLPEndpoint)
	if err != nil {
		return err
	}
	done.add(func() { _ = shutdownTracing(context.Background()) })

	dp, err := s.startDataPlane(ctx, tp, id.internal.uid, &done)
	if err != nil {
		return err
	}

	store, err := startStorage(ctx, s.cfg.Storage)
	if err != nil {
		return err
	}
	done.add(func() {
		store.stop()
		log.Info("storage stopped")
	})
	log.Info("storage started", "backend", store.desc)

	srv, installer, err := s.newAPIServer(ctx, id, dp, store, &done)
	if err != nil {
		return err
	}
	if err := s.addAppRunner(srv, installer, &done); err != nil {
		return err
	}
	if err := s.addPluginObjects(srv, id.internal, dp.host); err != nil {
		return err
	}
	srv.AddPostStartHookOrDie("dpa-ready-log", readyLog(log, s.cfg.Serving.BindAddress, s.cfg.Serving.BindPort, s.kubeconfig, start))

	serverURL := "https://" + net.JoinHostPort(kubeconfigHost(s.cfg.Serving.BindAddress), strconv.Itoa(s.cfg.Serving.BindPort))
	if err := writeKubeconfig(s.kubeconfig, serverURL, id.certs.CAData, id.adminToken); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	runErr := srv.PrepareRun().RunWithContext(ctx)
	log.Info("API server stopped")
	return runErr
}

// servingNames lists the names the serving certificate must hold.
func servingNames(ip net.IP, extra []string) ([]net.IP, []string) {
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	dns := []string{"localhost"}
	if ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
		ips = append(ips, ip)
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		dns = append(dns, h)
	}
	for _, san := range extra {
		if ip := net.ParseIP(san); ip != nil {
			ips = append(ips, ip)
		} else if san != "" {
			dns = append(dns, san)
		}
	}
	return ips, dns
}

// kubeconfigHost is the address clients on this machine use to reach the bind address.
func kubeconfigHost(ip net.IP) string {
	if ip == nil || ip.IsUnspecified() {
		return "127.0.0.1"
	}
	return ip.String()
}
