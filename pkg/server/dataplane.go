package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"
	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/dataplane-aggregator/dpa/pkg/authz"
	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
	"github.com/dataplane-aggregator/dpa/pkg/dataplane"
	"github.com/dataplane-aggregator/dpa/pkg/pluginhost"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

// dataPlane is what the data-plane phase yields for the API server phase.
type dataPlane struct {
	h *dataplane.Handler
	// next is set to the local handler once the API server builds its chain.
	next      *nextHandler
	discovery *discoverySink
	// authz authorizes every request: the API server's filter and the data plane's routes.
	authz *authz.Authorizer
	// host is the plugin host (nil without --plugins-dir and --plugin-address).
	host *pluginhost.Host
}

// startDataPlane is the data-plane phase. Plugins start first (provisioned datasources are
// admitted by their plugins), then provisioning, then the data plane, which becomes the
// reconciler's sink; discovery follows its route table. internalUID is dpa's own identity,
// the only one the authorizer lets write Plugin objects.
func (s *Server) startDataPlane(ctx context.Context, tp trace.TracerProvider, internalUID string, done *cleanups) (*dataPlane, error) {
	log := s.cfg.Logger
	host, err := s.startPlugins(ctx, tp)
	if err != nil {
		return nil, err
	}
	if host != nil {
		done.add(func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = host.Stop(stopCtx)
			log.Info("plugins stopped")
		})
	}
	settings, err := s.provisioningStore(ctx, host)
	if err != nil {
		return nil, err
	}
	policy, err := authz.LoadPolicy(s.cfg.Provisioning.Dir)
	if err != nil {
		return nil, err
	}
	out := &dataPlane{next: &nextHandler{}, discovery: newDiscoverySink(), host: host}
	// Built in order, without a cycle: the rules (and their policy) first, the data plane
	// that authorizes its routes with them, then the API server's authorizer — the same
	// rules and policy — whose access reviews ask the data plane which groups it serves.
	// Requests need no such question: they carry the data plane's match (chain.go).
	azOpts := s.cfg.Authorization
	azOpts.InternalUID = internalUID
	if azOpts.Delegate, err = remoteAuthorizer(s.cfg.RemoteAuthorization); err != nil {
		return nil, err
	}
	rules := authz.New(azOpts)
	rules.SetPolicy(policy)
	go authz.Watch(ctx, s.cfg.Provisioning.Dir, 5*time.Second, rules, log.With("component", "access-control"))
	s.reloadOnSIGHUP(ctx, host, settings, rules)
	opts := s.cfg.DataPlane
	opts.Plugins = pluginProvider(host)
	opts.Settings = settings
	opts.Next = out.next
	opts.Logger = log.With("component", "dataplane")
	opts.Tracer = tp
	opts.Metrics = legacyregistry.Registerer()
	opts.RoutesChanged = out.discovery.changed
	opts.Authorizer = rules
	out.h = dataplane.New(opts)
	out.authz = rules.WithDataPlane(out.h)
	done.add(out.h.Close)
	out.discovery.dp = out.h
	go out.discovery.run(ctx)
	s.reconciler.Sinks = []routes.Sink{out.h}
	s.reconciler.Availability = newAvailability(host)
	if host != nil {
		s.followPlugins(ctx, host)
	}
	return out, nil
}

// pluginProvider is the data plane's view of the plugin host: the host itself, or, when
// dpa runs without plugins, a provider that has none.
func pluginProvider(host *pluginhost.Host) dataplane.PluginProvider {
	if host == nil {
		return dataplane.PluginProviderFunc(func(_ context.Context, id string) (*backendplugin.Client, error) {
			return nil, fmt.Errorf("%w: %s (dpa runs without --plugins-dir or --plugin-address)", backendplugin.ErrNotFound, id)
		})
	}
	return host
}

// nextHandler forwards to the handler the API server builds after the data plane exists.
type nextHandler struct{ h http.Handler }

func (n *nextHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { n.h.ServeHTTP(w, r) }
