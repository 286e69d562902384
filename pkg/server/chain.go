package server

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	genericapifilters "k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/filters/impersonation"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericfeatures "k8s.io/apiserver/pkg/features"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericfilters "k8s.io/apiserver/pkg/server/filters"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/delegate"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
	"github.com/dataplane-aggregator/dpa/pkg/ui"
)

// The handler chain, outermost first:
//
//	withUI                      /ui and /ui/… (the UI checks its own session)
//	withDataPlaneFastPath       the data plane's match (routes.Match: group/version, route,
//	                            type, namespace → org, datasource), made once from one route
//	                            table and carried in the context; a matched request →
//	  dataPlaneChain            authentication, authorization (lets the match pass),
//	                            impersonation, audit, … (the generic chain's deciding filters,
//	                            same objects) → the data plane, which serves the carried match;
//	                            anything else ↓
//	the generic filter chain    authentication, authorization, audit, request info, …
//	the data plane              no match carried: GET /apis/<group> of its groups, else ↓
//	localHandler                dpa's own group → the resource API (strict field validation);
//	                            any other group → the fallback; with --delegate-url, /apis
//	                            and /openapi/v3 are the union of dpa's and the upstream's
//	the fallback (newFallback)  --delegate-url (pkg/delegate), else a 404 Status (also the
//	                            API server's delegate for paths it does not serve)

// localHandler serves what the data plane passes on: dpa's own group goes to the resource
// API, any other group to fallback.
func localHandler(apiHandler, fallback http.Handler, serializer runtime.NegotiatedSerializer) http.Handler {
	return withUnownedGroups(withValidResourceVersion(withStrictFieldValidation(apiHandler), serializer), fallback)
}

// withValidResourceVersion answers 400 for a resourceVersion that is not a storage revision
// (a decimal number) on dpa's own group. The library refuses it on a list (400) but lets a
// watch reach storage, which fails with a 500; Kubernetes' watch cache, which refuses it,
// is not in the path of every request here.
func withValidResourceVersion(next http.Handler, serializer runtime.NegotiatedSerializer) http.Handler {
	prefix := "/apis/" + v0alpha1.GroupVersion.Group + "/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rv := r.URL.Query().Get("resourceVersion"); rv != "" && strings.HasPrefix(r.URL.Path, prefix) {
			if _, err := strconv.ParseUint(rv, 10, 64); err != nil {
				err := apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q: a resourceVersion is a number the server gave out, e.g. from a list's metadata.resourceVersion", rv))
				responsewriters.ErrorNegotiated(err, serializer, v0alpha1.GroupVersion, w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// newFallback serves whatever neither the data plane nor the resource API serves: the
// upstream of --delegate-url (pkg/delegate: as its front proxy with a client certificate,
// the UI's session cookie removed), else a 404 Status. The delegate is nil without an
// upstream.
func newFallback(serializer runtime.NegotiatedSerializer, o DelegationOptions) (http.Handler, *delegate.Delegate, error) {
	if o.URL == "" {
		return notFound(serializer), nil, nil
	}
	d, err := delegate.New(delegate.Options{
		URL: o.URL, ClientCertFile: o.ClientCertFile, ClientKeyFile: o.ClientKeyFile, CAFile: o.CAFile,
		StripHeaders: o.StripHeaders, Serializer: serializer,
		Rewrite: func(out *http.Request) { ui.RemoveSessionCookie(out.Header) },
	})
	if err != nil {
		return nil, nil, err
	}
	return d, d, nil
}

// withStrictFieldValidation makes writes to the resource API reject unknown or duplicate
// fields (400) unless the client asked for another fieldValidation level. Kubernetes'
// default for clients that do not ask is "Warn", which silently drops what it did not know.
func withStrictFieldValidation(next http.Handler) http.Handler {
	prefix := "/apis/" + v0alpha1.GroupVersion.Group + "/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			if strings.HasPrefix(r.URL.Path, prefix) && !r.URL.Query().Has("fieldValidation") {
				q := r.URL.Query()
				q.Set("fieldValidation", "Strict")
				r.URL.RawQuery = q.Encode()
			}
		}
		next.ServeHTTP(w, r)
	})
}

// withUnownedGroups sends /apis/<group>/… of groups dpa does not serve to fallback (the
// upstream or a 404 Status). The API server's go-restful container owns the whole /apis
// prefix and would otherwise answer a plain-text 404 itself. The data plane has already
// taken its registered groups by the time a request gets here.
func withUnownedGroups(local, fallback http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/apis/"); ok {
			if group, _, _ := strings.Cut(rest, "/"); group != "" && !slices.Contains(routes.LocalGroups, group) {
				fallback.ServeHTTP(w, r)
				return
			}
		}
		local.ServeHTTP(w, r)
	})
}

// notFound answers a Kubernetes 404 Status for paths nothing serves.
func notFound(serializer runtime.NegotiatedSerializer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gv := schema.GroupVersion{}
		if ri, ok := apirequest.RequestInfoFrom(r.Context()); ok {
			gv = schema.GroupVersion{Group: ri.APIGroup, Version: ri.APIVersion}
		}
		err := apierrors.NewNotFound(schema.GroupResource{}, "")
		err.ErrStatus.Message = fmt.Sprintf("the server could not find the requested resource (%s %s)", r.Method, r.URL.Path)
		err.ErrStatus.Details = nil
		responsewriters.ErrorNegotiated(err, serializer, gv, w, r)
	})
}

// dataPlaneHandler is the data plane as the fast path needs it: the decision which requests
// it takes (Match, made once per request) and the handler that serves them.
type dataPlaneHandler interface {
	http.Handler
	Match(r *http.Request) (*routes.Match, bool)
}

// fastPath is the data plane's filter chain and the decision that admits a request to it.
type fastPath struct {
	match func(r *http.Request) (*routes.Match, bool)
	chain http.Handler
}

// dataPlaneChain is the filter chain of requests for registered data-plane routes: the
// generic chain's filters that decide or record something about the request, built from
// the same Config — the same authenticator (tokens, certificates, front proxy, UI sessions),
// authorizer, impersonation, audit backend and policy, CORS, cache and HSTS headers,
// tracing. Left out are those that do nothing for these requests (they are long-running to
// the API server: no max-in-flight slot, request timeout or wait group — the data plane has
// its own in-flight limits and per-type deadlines, and Go's server drains them at shutdown),
// and those that only measure or log the generic chain itself (per-filter latency tracking,
// request latency trackers, klog's HTTP logging; dpa logs and counts every data-plane
// request itself). TestFastChainFollowsTheGenericChain holds the two chains against each
// other, filter by filter, with the reason for each one left out. With a no-op tracer provider (the API server's; dpa's own spans come
// from pkg/dataplane) the tracing filter is withTraceContext, which does what otelhttp does
// then, minus its per-request overhead. Same order as genericapiserver.DefaultBuildHandlerChain.
func dataPlaneChain(dp dataPlaneHandler, c *genericapiserver.Config) fastPath {
	var h http.Handler = dp
	h = genericapifilters.WithAuthorization(h, c.Authorization.Authorizer, c.Serializer)
	if c.FeatureGate.Enabled(genericfeatures.ConstrainedImpersonation) {
		h = impersonation.WithConstrainedImpersonation(h, c.Authorization.Authorizer, c.Serializer)
	} else {
		h = impersonation.WithImpersonation(h, c.Authorization.Authorizer, c.Serializer)
	}
	h = genericapifilters.WithAudit(h, c.AuditBackend, c.AuditPolicyRuleEvaluator, c.LongRunningFunc)
	failed := genericapifilters.Unauthorized(c.Serializer)
	failed = genericapifilters.WithFailedAuthenticationAudit(failed, c.AuditBackend, c.AuditPolicyRuleEvaluator)
	if c.FeatureGate.Enabled(genericfeatures.APIServerTracing) {
		if spanless(c.TracerProvider) {
			h = withTraceContext(h)
		} else {
			h = genericapifilters.WithTracing(h, c.TracerProvider)
		}
	}
	h = genericapifilters.WithAuthentication(h, c.Authentication.Authenticator, failed, c.Authentication.APIAudiences, c.Authentication.RequestHeaderConfig)
	h = genericfilters.WithCORS(h, c.CorsAllowedOriginList, nil, nil, nil, "true")
	if c.SecureServing != nil && !c.SecureServing.DisableHTTP2 && c.GoawayChance > 0 {
		// --goaway-chance: HTTP/2 clients of the data plane spread over replicas too.
		h = genericfilters.WithProbabilisticGoaway(h, c.GoawayChance)
	}
	h = genericapifilters.WithCacheControl(h)
	h = genericfilters.WithHSTS(h, c.HSTSDirectives)
	h = genericapifilters.WithRequestInfo(h, c.RequestInfoResolver)
	h = genericapifilters.WithRequestReceivedTimestamp(h)
	h = genericfilters.WithPanicRecovery(h, c.RequestInfoResolver)
	h = genericapifilters.WithAuditInit(h)
	return fastPath{match: dp.Match, chain: h}
}

// withDataPlaneFastPath makes the data plane's decision about every request once
// (fast.match: one load of its route table) and, for a request under /apis/<group>/<version>
// of a registered group/version, carries the match in the context (routes.WithMatch, as
// kube-apiserver's WithRequestInfo) through fast's chain: the authorizer, the long-running
// check and the data plane read it instead of asking again. Everything else goes through
// generic without a match.
func withDataPlaneFastPath(fast fastPath, generic http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m, ok := fast.match(r); ok {
			fast.chain.ServeHTTP(w, r.WithContext(routes.WithMatch(r.Context(), m)))
			return
		}
		generic.ServeHTTP(w, r)
	})
}

// isDataPlaneRequest is the API server's long-running check for the data plane: a request
// carrying its match is long-running (the data plane applies its own per-type deadlines;
// streams have none), so the generic request timeout must not cut it off.
func isDataPlaneRequest(r *http.Request) bool {
	_, ok := routes.MatchFrom(r.Context())
	return ok
}
