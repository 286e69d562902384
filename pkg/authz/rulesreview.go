package authz

import (
	"context"
	"strings"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
)

// listedResources are what `kubectl auth can-i --list` (a SelfSubjectRulesReview) is
// answered for: dpa's own resources and the self reviews. Data-plane routes are not among
// them: their rule depends on the namespace's org and the datasource (see RulesFor).
var listedResources = []struct{ group, resource string }{
	{v0alpha1.GroupVersion.Group, "dataplaneservices"}, {v0alpha1.GroupVersion.Group, "dataplaneservices/status"},
	{v0alpha1.GroupVersion.Group, PluginsResource}, {v0alpha1.GroupVersion.Group, PluginsResource + "/status"},
	{"authentication.k8s.io", "selfsubjectreviews"},
	{"authorization.k8s.io", "selfsubjectaccessreviews"}, {"authorization.k8s.io", "selfsubjectrulesreviews"},
}

var listedVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}

// listedPaths are the non-resource paths of the rules review.
var listedPaths = []string{"/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*", "/version", "/healthz", "/livez", "/readyz", "/metrics", "/debug/*"}

var _ authorizer.RuleResolver = (*Authorizer)(nil)

// RulesFor implements authorizer.RuleResolver (`kubectl auth can-i --list`): the verbs u may
// use on dpa's own resources and paths, found by asking Authorize about each — the rules
// live in Authorize alone. The answer is incomplete by design: data-plane routes are decided
// per namespace and datasource (Grafana's roles and datasource permissions), so they are
// asked about one at a time (`kubectl auth can-i create datasources/<uid> --subresource=query
// -n <namespace> …`); what --delegate-url or the cluster's RBAC (--authorization-kubeconfig)
// would allow cannot be listed either.
func (a *Authorizer) RulesFor(ctx context.Context, u user.Info, namespace string) ([]authorizer.ResourceRuleInfo, []authorizer.NonResourceRuleInfo, bool, error) {
	var resources []authorizer.ResourceRuleInfo
	for _, r := range listedResources {
		resource, sub, _ := strings.Cut(r.resource, "/")
		var verbs []string
		for _, verb := range listedVerbs {
			attrs := authorizer.AttributesRecord{User: u, Verb: verb, Namespace: namespace, APIGroup: r.group,
				Resource: resource, Subresource: sub, ResourceRequest: true}
			if d, _, _ := a.rules(ctx, attrs); d == authorizer.DecisionAllow {
				verbs = append(verbs, verb)
			}
		}
		if len(verbs) > 0 {
			resources = append(resources, &authorizer.DefaultResourceRuleInfo{Verbs: verbs, APIGroups: []string{r.group}, Resources: []string{r.resource}})
		}
	}
	var paths []authorizer.NonResourceRuleInfo
	for _, p := range listedPaths {
		attrs := authorizer.AttributesRecord{User: u, Verb: "get", Path: strings.TrimSuffix(p, "*") + "x"}
		if !strings.HasSuffix(p, "*") {
			attrs.Path = p
		}
		if d, _, _ := a.rules(ctx, attrs); d == authorizer.DecisionAllow {
			paths = append(paths, &authorizer.DefaultNonResourceRuleInfo{Verbs: []string{"get"}, NonResourceURLs: []string{p}})
		}
	}
	return resources, paths, true, nil
}
