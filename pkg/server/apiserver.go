package server

import (
	"context"
	"fmt"
	"net/http"

	"github.com/grafana/grafana-app-sdk/k8s/apiserver"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/dataplane-aggregator/dpa/pkg/registry"
	"github.com/dataplane-aggregator/dpa/pkg/ui"
)

// newAPIServer is the API server phase: the App SDK installer and its options, dpa's
// serving, authentication and authorization, the handler chain with the data plane first, and
// the REST storage of DataPlaneService wrapped by pkg/registry. The server is not yet running.
func (s *Server) newAPIServer(ctx context.Context, id *identity, dp *dataPlane, store *storage, done *cleanups) (*genericapiserver.GenericAPIServer, apiserver.AppInstaller, error) {
	installer, err := registry.NewInstaller(s.reconciler)
	if err != nil {
		return nil, nil, err
	}
	o := apiserver.NewOptions([]apiserver.AppInstaller{installer})
	ro := o.RecommendedOptions
	// Standalone: no kube-apiserver to delegate authn/authz/admission/core APIs to; dpa's
	// own authenticator and authorizer are installed below.
	ro.Authentication = nil
	ro.Authorization = nil
	ro.CoreAPI = nil
	ro.Admission = nil
	// The standard groups as the options gave them (options.go).
	ro.Features = s.cfg.Features
	ro.Audit = s.cfg.Audit
	ro.SecureServing = s.cfg.Serving
	ro.SecureServing.ServerCert.CertKey.CertFile = id.certs.CertFile
	ro.SecureServing.ServerCert.CertKey.KeyFile = id.certs.KeyFile
	ro.SecureServing.ServerCert.CertDirectory = ""
	ro.Etcd.StorageConfig.Transport = store.transport
	if err := o.Validate(); err != nil {
		return nil, nil, err
	}
	cfg, err := o.Config()
	if err != nil {
		return nil, nil, fmt.Errorf("configuring API server: %w", err)
	}
	// --max-requests-inflight, --request-timeout, --shutdown-delay-duration (SIGTERM: /readyz
	// fails at once, requests are still served that long, then the listener closes and
	// in-flight requests, the data plane's included, drain), HSTS, CORS, …
	if err := s.cfg.ServerRun.ApplyTo(&cfg.Generic.Config); err != nil {
		return nil, nil, err
	}
	cfg.Generic.EffectiveVersion = effectiveVersion()
	if c := cfg.Generic.OpenAPIConfig; c != nil {
		addSelfReviewDefinitions(&c.GetDefinitions, c.Definitions)
	}
	if c := cfg.Generic.OpenAPIV3Config; c != nil {
		addSelfReviewDefinitions(&c.GetDefinitions, c.Definitions)
	}
	fallback, upstream, err := newFallback(cfg.Generic.Serializer, s.cfg.Delegation)
	if err != nil {
		return nil, nil, err
	}
	if upstream != nil {
		go upstream.Run(ctx)
		done.add(upstream.Close)
	}
	etcd, err := store.etcdClient()
	if err != nil {
		return nil, nil, fmt.Errorf("storage client for sessions: %w", err)
	}
	sessions := ui.NewSessions(ui.NewEtcdSessionStore(etcd, "/dpa/sessions/"), s.cfg.UI.SessionIdle, s.cfg.UI.SessionMax)
	// Sessions follow their tokens (re-checked now and at every reload of --token-auth-file,
	// which is polled here and reloaded on SIGHUP); failed tokens, on the API and at the UI's
	// sign-in alike, make their address wait.
	id.tokens.followedBy(ctx, sessions)
	go id.tokens.watch(ctx)
	failures := ui.NewFailureLimiter(s.cfg.Authentication.FailureLimit, s.cfg.Authentication.FailureWindow, nil)
	cfg.Generic.Authentication.Authenticator = requestAuthenticator(id.tokens, id.remote, id.clientCerts, dp.authz.AnonymousAllowed, failures, cookieAuthenticator(sessions))
	if id.clientCerts.cas != nil {
		cfg.Generic.SecureServing.ClientCA = id.clientCerts.cas
	}
	cfg.Generic.Authorization.Authorizer = dp.authz
	uiH := uiHandler(id.tokens, s.cfg.UI.Dir, sessions, failures)
	cfg.Generic.BuildHandlerChainFunc = func(apiHandler http.Handler, c *genericapiserver.Config) http.Handler {
		if upstream != nil {
			apiHandler = upstream.WithDiscoveryUnion(apiHandler, s.cfg.Logger.With("component", "delegate"))
		}
		dp.next.h = localHandler(apiHandler, fallback, cfg.Generic.Serializer)
		generic := genericapiserver.DefaultBuildHandlerChain(dp.h, c)
		api := withTokenThrottle(withDataPlaneFastPath(dataPlaneChain(dp.h, c), generic), failures, c.Serializer,
			c.LoopbackClientConfig.BearerToken, id.internal.token)
		return withBodyReadDeadline(withUI(api, uiH), s.cfg.BodyReadTimeout)
	}
	// Data-plane calls carry their own per-type deadlines (streams have none), so the generic
	// request timeout must not cut them off.
	defaultLongRunning := cfg.Generic.LongRunningFunc
	cfg.Generic.LongRunningFunc = func(r *http.Request, ri *apirequest.RequestInfo) bool {
		return isDataPlaneRequest(r) || defaultLongRunning(r, ri)
	}

	loopback := *cfg.Generic.LoopbackClientConfig
	loopback.APIPath = "/apis"
	if err := installer.InitializeApp(loopback); err != nil {
		return nil, nil, err
	}
	srv, err := cfg.Generic.Complete().New("dpa", genericapiserver.NewEmptyDelegateWithCustomHandler(fallback))
	if err != nil {
		return nil, nil, fmt.Errorf("creating API server: %w", err)
	}
	if err := registry.Install(installer, srv, cfg.Generic.RESTOptionsGetter, s.reconciler); err != nil {
		return nil, nil, err
	}
	if err := installSelfReviews(srv, dp.authz); err != nil {
		return nil, nil, err
	}
	dp.discovery.attach(srv)
	return srv, installer, nil
}
