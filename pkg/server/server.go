// Package server is the dpa process: it wires the product together — storage (kine or
// etcd), PKI and tokens, plugins and provisioning, the data plane, the API server with the App
// SDK installer (its REST storage wrapped by pkg/registry), authentication, the handler chain
// — and owns the start-up and shutdown order.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	sdkapp "github.com/grafana/grafana-app-sdk/app"
	"github.com/grafana/grafana-app-sdk/k8s/apiserver"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/healthz"
	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/dataplane-aggregator/dpa/pkg/apis/manifestdata"
	"github.com/dataplane-aggregator/dpa/pkg/app"
	"github.com/dataplane-aggregator/dpa/pkg/dataplane"
	"github.com/dataplane-aggregator/dpa/pkg/registry"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
	"github.com/dataplane-aggregator/dpa/pkg/ui"
)

// Options configure `dpa serve`. Every field maps to a flag documented in README.md.
type Options struct {
	DataDir     string
	BindAddress string
	SecurePort  int
	// TLSSANs are extra DNS names or IPs for the serving certificate.
	TLSSANs       []string
	TokenAuthFile string
	// DelegateURL, when set, receives every request neither the data plane nor the local
	// resource API serves (e.g. a Grafana or kube-apiserver behind dpa).
	DelegateURL string
	Storage     StorageOptions
	Logger      *slog.Logger

	// PluginsDir holds backend plugins in Grafana's layout (<dir>/<plugin>/plugin.json).
	PluginsDir string
	// PluginAddresses maps plugin ids to already running plugins (host:port or unix socket).
	PluginAddresses map[string]string
	// LazyPlugins starts plugin processes on their first request instead of at start-up.
	LazyPlugins bool
	// ProvisioningDir holds Grafana provisioning files (datasources/, plugins/).
	ProvisioningDir string
	// StackID > 0 serves org 1's provisioned datasources and apps in namespace stacks-<id>
	// instead of "default", like a Grafana with a stack id.
	StackID int64
	// MaxBodyBytes limits data-plane request bodies (0: 16 MiB).
	MaxBodyBytes int64
	// Timeouts per data-plane service type (zero values: defaults).
	Timeouts dataplane.Timeouts
	// OTLPEndpoint exports traces over OTLP/gRPC when set.
	OTLPEndpoint string
	// UIDir serves the standalone UI from disk instead of the bundle embedded in the binary.
	UIDir string
	// PluginLogLevel is the lowest level of plugin log lines forwarded into dpa's log.
	PluginLogLevel slog.Level
	// PluginsRescanInterval is how often PluginsDir is read again for installed, upgraded
	// and removed plugins (0: only on SIGHUP).
	PluginsRescanInterval time.Duration
	// PluginProbeInterval and PluginProbeTimeout set the liveness probe of running plugins
	// (zero: pluginhost defaults, 30s and 5s).
	PluginProbeInterval time.Duration
	PluginProbeTimeout  time.Duration
	// AppURL is GF_APP_URL in the plugins' GrafanaConfig ("": https://<bind address>:<port>/).
	AppURL string
	// GrafanaConfig overrides or adds PluginContext.GrafanaConfig keys (see dataplane.GrafanaConfig).
	GrafanaConfig map[string]string
}

// Server is a configured, not yet running dpa.
type Server struct {
	opts       Options
	reconciler *app.Reconciler
	kubeconfig string
}

// New validates the options (Validate), fills in defaults (Complete) and returns a server.
// Nothing is started until Run.
func New(opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.Complete()
	return &Server{
		opts:       opts,
		reconciler: app.NewReconciler(nil, opts.Logger.With("component", "reconciler")),
		kubeconfig: filepath.Join(opts.DataDir, "kubeconfig"),
	}, nil
}

// Validate checks the options as given on the command line and reports every problem at once,
// each naming its flag. It changes nothing.
func (o *Options) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.DataDir == "" {
		add("--data-dir is required")
	}
	if o.SecurePort < 0 || o.SecurePort > 65535 {
		add("--secure-port %d out of range", o.SecurePort)
	}
	if net.ParseIP(o.BindAddress) == nil {
		add("--bind-address %q is not an IP address", o.BindAddress)
	}
	if o.StackID < 0 {
		add("--stack-id %d must not be negative", o.StackID)
	}
	if o.DelegateURL != "" {
		if u, err := url.Parse(o.DelegateURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("--delegate-url %q must be an http(s) URL", o.DelegateURL)
		}
	}
	if o.AppURL != "" {
		if u, err := url.Parse(o.AppURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("--app-url %q must be an http(s) URL", o.AppURL)
		}
	}
	for k := range o.GrafanaConfig {
		if k == "" || strings.ContainsAny(k, " =") {
			add("--grafana-config: %q is not a config key", k)
		}
	}
	for flag, d := range map[string]time.Duration{
		"--plugins-rescan-interval": o.PluginsRescanInterval,
		"--plugin-probe-interval":   o.PluginProbeInterval,
		"--plugin-probe-timeout":    o.PluginProbeTimeout,
	} {
		if d < 0 {
			add("%s %s must not be negative", flag, d)
		}
	}
	if o.MaxBodyBytes < 0 {
		add("--max-body-bytes %d must not be negative", o.MaxBodyBytes)
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// Complete fills in what the options leave to defaults.
func (o *Options) Complete() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Storage.DataDir = o.DataDir
}

func (s *Server) Run(ctx context.Context) error {
	log := s.opts.Logger
	start := time.Now()
	if err := os.MkdirAll(s.opts.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data dir: %w", err)
	}
	unlock, err := lockDataDir(s.opts.DataDir)
	if err != nil {
		return err
	}
	defer unlock()

	ips, dnsNames := servingNames(s.opts.BindAddress, s.opts.TLSSANs)
	certs, err := ensurePKI(filepath.Join(s.opts.DataDir, "pki"), ips, dnsNames)
	if err != nil {
		return err
	}
	adminToken, err := ensureAdminToken(s.opts.DataDir)
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	tokens, err := tokenAuthenticator(adminToken, s.opts.TokenAuthFile)
	if err != nil {
		return err
	}

	tp, shutdownTracing, err := newTracerProvider(ctx, s.opts.OTLPEndpoint)
	if err != nil {
		return err
	}
	defer func() { _ = shutdownTracing(context.Background()) }()

	// Plugins start first: provisioned datasources are admitted by their plugins.
	host, err := s.startPlugins(ctx, tp)
	if err != nil {
		return err
	}
	if host != nil {
		defer func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = host.Stop(stopCtx)
			log.Info("plugins stopped")
		}()
	}
	settings, err := s.provisioningStore(ctx, host)
	if err != nil {
		return err
	}
	s.reloadOnSIGHUP(ctx, host, settings)
	next := &nextHandler{}
	discovery := &discoverySink{}
	dp := dataplane.New(dataplane.Options{
		Plugins:       pluginProvider(host),
		Settings:      settings,
		Next:          next,
		MaxBodyBytes:  s.opts.MaxBodyBytes,
		Timeouts:      s.opts.Timeouts,
		Logger:        log.With("component", "dataplane"),
		Tracer:        tp,
		Metrics:       legacyregistry.Registerer(),
		GrafanaConfig: dataplane.GrafanaConfig(s.appURL(), s.opts.GrafanaConfig),
		RoutesChanged: discovery.refresh,
	})
	defer dp.Close()
	discovery.dp = dp
	s.reconciler.Sinks = []routes.Sink{dp}
	s.reconciler.Availability = availability{host: host}
	if host != nil {
		s.followPlugins(ctx, host)
	}

	store, err := startStorage(ctx, s.opts.Storage)
	if err != nil {
		return err
	}
	defer func() {
		store.stop()
		log.Info("storage stopped")
	}()
	log.Info("storage started", "backend", store.desc)

	provider := app.NewProvider(s.reconciler)
	installer, err := apiserver.NewDefaultAppInstaller(provider, sdkapp.Config{ManifestData: *manifestdata.LocalManifest().ManifestData}, manifestdata.NewGoTypeAssociator())
	if err != nil {
		return err
	}
	o := apiserver.NewOptions([]apiserver.AppInstaller{installer})
	ro := o.RecommendedOptions
	// Standalone: no kube-apiserver to delegate authn/authz/admission/core APIs to.
	ro.Authentication = nil
	ro.Authorization = nil
	ro.CoreAPI = nil
	ro.Admission = nil
	ro.Features.EnablePriorityAndFairness = false
	ro.SecureServing.BindAddress = net.ParseIP(s.opts.BindAddress)
	ro.SecureServing.BindPort = s.opts.SecurePort
	ro.SecureServing.ServerCert.CertKey.CertFile = certs.CertFile
	ro.SecureServing.ServerCert.CertKey.KeyFile = certs.KeyFile
	ro.SecureServing.ServerCert.CertDirectory = ""
	ro.Etcd.StorageConfig.Transport = store.transport
	if err := o.Validate(); err != nil {
		return err
	}
	cfg, err := o.Config()
	if err != nil {
		return fmt.Errorf("configuring API server: %w", err)
	}
	cfg.Generic.EffectiveVersion = effectiveVersion()
	// Whatever neither the data plane nor the resource API serves goes to the upstream when
	// one is configured, else gets a 404 Status.
	fallback := notFound(cfg.Generic.Serializer)
	if s.opts.DelegateURL != "" {
		u, _ := url.Parse(s.opts.DelegateURL)
		// The authentication filter has already removed the caller's Authorization header;
		// the UI's session cookie (dpa's token) goes too. The upstream's own cookies stay.
		fallback = &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
			ui.RemoveSessionCookie(pr.Out.Header)
		}}
	}
	delegate := genericapiserver.NewEmptyDelegateWithCustomHandler(fallback)
	cfg.Generic.Authentication.Authenticator = requestAuthenticator(tokens, cookieAuthenticator(tokens))
	cfg.Generic.Authorization.Authorizer = allowAuthenticated
	// The data plane sits first behind authentication and authorization; whatever it does
	// not own goes on to the local resource API (and the delegate).
	cfg.Generic.BuildHandlerChainFunc = func(apiHandler http.Handler, c *genericapiserver.Config) http.Handler {
		next.h = withUnownedGroups(withStrictFieldValidation(apiHandler), fallback)
		return withUI(genericapiserver.DefaultBuildHandlerChain(dp, c), uiHandler(tokens, s.opts.UIDir))
	}
	// Data-plane calls carry their own per-type deadlines (streams have none), so the generic
	// request timeout must not cut them off.
	defaultLongRunning := cfg.Generic.LongRunningFunc
	cfg.Generic.LongRunningFunc = func(r *http.Request, ri *apirequest.RequestInfo) bool {
		if ri != nil && ri.APIGroup != "" && dp.Registered(ri.APIGroup, ri.APIVersion) {
			return true
		}
		return defaultLongRunning(r, ri)
	}

	loopback := *cfg.Generic.LoopbackClientConfig
	loopback.APIPath = "/apis"
	if err := installer.InitializeApp(loopback); err != nil {
		return err
	}
	server, err := cfg.Generic.Complete().New("dpa", delegate)
	if err != nil {
		return fmt.Errorf("creating API server: %w", err)
	}
	target := registry.NewInstallTarget(apiserver.NewKubernetesGenericAPIServer(server), s.reconciler)
	if err := installer.InstallAPIs(target, cfg.Generic.RESTOptionsGetter); err != nil {
		return fmt.Errorf("installing APIs: %w", err)
	}
	if !target.Patched() {
		return errors.New("DataPlaneService storage was not found while installing the API group")
	}
	discovery.attach(server)

	// The App SDK's own hook runs the app in the hook itself and never returns, which keeps
	// /readyz failing forever. Start the runner in the background instead.
	appCtx, stopApp := context.WithCancel(context.Background())
	defer stopApp()
	appDone := make(chan struct{})
	var appRunning atomic.Bool
	server.AddPostStartHookOrDie("dpa-app", func(genericapiserver.PostStartHookContext) error {
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
	if err := server.AddReadyzChecks(healthz.NamedCheck("dpa-app", func(*http.Request) error {
		if !appRunning.Load() {
			return errors.New("app runner is not running")
		}
		return nil
	})); err != nil {
		return err
	}
	server.AddPostStartHookOrDie("dpa-ready-log", func(genericapiserver.PostStartHookContext) error {
		log.Info("serving", "address", net.JoinHostPort(s.opts.BindAddress, strconv.Itoa(s.opts.SecurePort)),
			"kubeconfig", s.kubeconfig, "startup", time.Since(start).Round(time.Millisecond).String())
		return nil
	})

	serverURL := "https://" + net.JoinHostPort(kubeconfigHost(s.opts.BindAddress), strconv.Itoa(s.opts.SecurePort))
	if err := writeKubeconfig(s.kubeconfig, serverURL, certs.CAData, adminToken); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}

	// Shutdown order: the listener closes and in-flight requests drain, then storage stops
	// (deferred above). The app's informers are themselves long-running watch clients of this
	// server, so they are stopped in the pre-shutdown hook; otherwise the drain would wait on
	// them forever.
	server.AddPreShutdownHookOrDie("dpa-app-stop", func() error {
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
	runErr := server.PrepareRun().RunWithContext(ctx)
	log.Info("API server stopped")
	return runErr
}

// servingNames lists the names the serving certificate must hold.
func servingNames(bind string, extra []string) ([]net.IP, []string) {
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	dns := []string{"localhost"}
	if ip := net.ParseIP(bind); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
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
func kubeconfigHost(bind string) string {
	ip := net.ParseIP(bind)
	if ip == nil || ip.IsUnspecified() {
		return "127.0.0.1"
	}
	return ip.String()
}
