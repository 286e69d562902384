package server

import (
	"context"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/trace"
	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/dataplane-aggregator/dpa/pkg/authz"
	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
	"github.com/dataplane-aggregator/dpa/pkg/pluginhost"
	"github.com/dataplane-aggregator/dpa/pkg/provisioning"
	"github.com/dataplane-aggregator/dpa/pkg/version"
)

// startPlugins starts the plugin host in the background (nil when no plugins are configured).
func (s *Server) startPlugins(ctx context.Context, tp trace.TracerProvider) (*pluginhost.Host, error) {
	if s.cfg.Plugins.PluginsDir == "" && len(s.cfg.Plugins.Addresses) == 0 {
		return nil, nil
	}
	socketDir := filepath.Join(s.cfg.DataDir, "plugins")
	if abs, err := filepath.Abs(socketDir); err == nil {
		socketDir = abs
	}
	if len(socketDir) > pluginhost.MaxSocketDirLen {
		socketDir = "" // the host makes a private temp dir
	} else if err := os.MkdirAll(socketDir, 0o700); err != nil {
		return nil, err
	}
	o := s.cfg.Plugins
	o.SocketDir = socketDir
	o.GrafanaVersion = backendplugin.GrafanaVersion
	o.Env = pluginEnv(s.cfg.OTLPEndpoint)
	o.Logger = s.cfg.Logger
	o.TracerProvider = tp
	host, err := pluginhost.New(o)
	if err != nil {
		return nil, err
	}
	for _, p := range host.Problems() {
		s.cfg.Logger.Warn("plugin skipped", "path", p.Path, "error", p.Error)
	}
	// Served with the API server's own metrics at /metrics (authenticated).
	legacyregistry.Registerer().MustRegister(host.Collectors()...)
	if err := host.Start(ctx); err != nil {
		return nil, err
	}
	return host, nil
}

// followPlugins re-evaluates Available conditions when a plugin starts, crashes or recovers.
// Changes are coalesced; the refresh runs off the plugin host's callback.
func (s *Server) followPlugins(ctx context.Context, host *pluginhost.Host) {
	kick := make(chan struct{}, 1)
	cancel := host.OnChange(func(string) {
		select {
		case kick <- struct{}{}:
		default:
		}
	})
	go func() {
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case <-kick:
				if err := s.reconciler.Refresh(ctx); err != nil {
					s.cfg.Logger.Warn("refreshing status after a plugin change", "error", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
}

// provisioningStore loads --provisioning and reloads it on SIGHUP and on file changes. A bad
// reload keeps the last good configuration.
func (s *Server) provisioningStore(ctx context.Context, host *pluginhost.Host) (*provisioning.Store, error) {
	if s.cfg.Provisioning.Dir == "" {
		return provisioning.NewStaticStore(provisioning.Empty()), nil
	}
	log := s.cfg.Logger.With("component", "provisioning")
	store, err := provisioning.NewStore(s.cfg.Provisioning.Dir, provisioning.WithLogger(log),
		provisioning.WithStackID(s.cfg.Provisioning.StackID), provisioning.WithAdmission(admitDatasource(host)))
	if err != nil {
		return nil, err
	}
	go store.Watch(ctx, 5*time.Second)
	return store, nil
}

// reloadOnSIGHUP reads --token-auth-file again, then the plugins directory, then the
// provisioning files (whose admission may need a plugin that was just installed) on every
// SIGHUP, besides their own periodic checks.
func (s *Server) reloadOnSIGHUP(ctx context.Context, host *pluginhost.Host, store *provisioning.Store, az *authz.Authorizer) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	log := s.cfg.Logger.With("component", "provisioning")
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			if s.tokens != nil {
				s.tokens.reloadLogged()
			}
			if host != nil {
				host.Rescan()
			}
			if s.cfg.Provisioning.Dir == "" {
				continue
			}
			if err := store.Reload(); err != nil {
				log.Error("provisioning reload failed; keeping the last good configuration", "error", err)
			} else {
				log.Info("provisioning reloaded")
			}
			if p, err := authz.LoadPolicy(s.cfg.Provisioning.Dir); err != nil {
				log.Error("access-control reload failed; keeping the last good permissions", "error", err)
			} else {
				az.SetPolicy(p)
				log.Info("access control reloaded")
			}
		}
	}()
}

// pluginEnv is the extra environment of plugin processes. With a plaintext OTLP endpoint,
// plugins get the same tracing settings Grafana gives them, so their spans join dpa's traces
// (the plugin SDK only speaks plaintext OTLP/gRPC to host:port).
func pluginEnv(otlpEndpoint string) map[string]string {
	env := map[string]string{"GF_PLUGIN_DPA_VERSION": version.Version}
	if u, err := url.Parse(otlpEndpoint); err == nil && u.Scheme == "http" && u.Host != "" {
		env["GF_INSTANCE_OTLP_ADDRESS"] = u.Host
		env["GF_INSTANCE_OTLP_PROPAGATION"] = "w3c"
		env["GF_INSTANCE_OTLP_SAMPLER_TYPE"] = "const"
		env["GF_INSTANCE_OTLP_SAMPLER_PARAM"] = "1"
	}
	return env
}
