package server

import (
	"context"
	"fmt"
	"maps"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/dataplane-aggregator/dpa/pkg/authz"
)

// installSelfReviews serves SelfSubjectReview (authentication.k8s.io/v1: kubectl auth
// whoami) and SelfSubjectAccessReview (authorization.k8s.io/v1: kubectl auth can-i, the UI's
// "what may I do"), answered by pkg/authz's rules (Authorizer.Review).
func installSelfReviews(srv *genericapiserver.GenericAPIServer, az *authz.Authorizer) error {
	scheme := runtime.NewScheme()
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	for _, gv := range []schema.GroupVersion{authenticationv1.SchemeGroupVersion, authorizationv1.SchemeGroupVersion} {
		internal := schema.GroupVersion{Group: gv.Group, Version: runtime.APIVersionInternal}
		metav1.AddToGroupVersion(scheme, gv)
		switch gv.Group {
		case authenticationv1.GroupName:
			scheme.AddKnownTypes(gv, &authenticationv1.SelfSubjectReview{})
			scheme.AddKnownTypes(internal, &authenticationv1.SelfSubjectReview{})
		case authorizationv1.GroupName:
			scheme.AddKnownTypes(gv, &authorizationv1.SelfSubjectAccessReview{}, &authorizationv1.SelfSubjectRulesReview{})
			scheme.AddKnownTypes(internal, &authorizationv1.SelfSubjectAccessReview{}, &authorizationv1.SelfSubjectRulesReview{})
		}
	}
	codecs := serializer.NewCodecFactory(scheme)
	for group, storage := range map[string]map[string]rest.Storage{
		authenticationv1.GroupName: {"selfsubjectreviews": &selfSubjectReviews{}},
		authorizationv1.GroupName:  {"selfsubjectaccessreviews": &selfSubjectAccessReviews{az: az}, "selfsubjectrulesreviews": &selfSubjectRulesReviews{az: az}},
	} {
		info := genericapiserver.NewDefaultAPIGroupInfo(group, scheme, metav1.ParameterCodec, codecs)
		info.VersionedResourcesStorageMap["v1"] = storage
		if err := srv.InstallAPIGroup(&info); err != nil {
			return fmt.Errorf("installing %s: %w", group, err)
		}
	}
	return nil
}

// selfSubjectReviews tells callers who they are.
type selfSubjectReviews struct{}

var (
	_ rest.Creater                  = &selfSubjectReviews{}
	_ rest.SingularNameProvider     = &selfSubjectReviews{}
	_ rest.Scoper                   = &selfSubjectReviews{}
	_ rest.Creater                  = &selfSubjectAccessReviews{}
	_ rest.SingularNameProvider     = &selfSubjectAccessReviews{}
	_ rest.Scoper                   = &selfSubjectAccessReviews{}
	_ rest.GroupVersionKindProvider = &selfSubjectAccessReviews{}
)

func (*selfSubjectReviews) New() runtime.Object     { return &authenticationv1.SelfSubjectReview{} }
func (*selfSubjectReviews) Destroy()                {}
func (*selfSubjectReviews) NamespaceScoped() bool   { return false }
func (*selfSubjectReviews) GetSingularName() string { return "selfsubjectreview" }
func (*selfSubjectReviews) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return authenticationv1.SchemeGroupVersion.WithKind("SelfSubjectReview")
}

func (*selfSubjectReviews) Create(ctx context.Context, _ runtime.Object, _ rest.ValidateObjectFunc, _ *metav1.CreateOptions) (runtime.Object, error) {
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return nil, apierrors.NewBadRequest("no user")
	}
	extra := map[string]authenticationv1.ExtraValue{}
	for k, v := range u.GetExtra() {
		extra[k] = v
	}
	return &authenticationv1.SelfSubjectReview{Status: authenticationv1.SelfSubjectReviewStatus{
		UserInfo: authenticationv1.UserInfo{Username: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups(), Extra: extra},
	}}, nil
}

// selfSubjectAccessReviews answers "may I?" with the rules that authorize the request itself.
type selfSubjectAccessReviews struct{ az *authz.Authorizer }

func (*selfSubjectAccessReviews) New() runtime.Object {
	return &authorizationv1.SelfSubjectAccessReview{}
}
func (*selfSubjectAccessReviews) Destroy()                {}
func (*selfSubjectAccessReviews) NamespaceScoped() bool   { return false }
func (*selfSubjectAccessReviews) GetSingularName() string { return "selfsubjectaccessreview" }
func (*selfSubjectAccessReviews) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return authorizationv1.SchemeGroupVersion.WithKind("SelfSubjectAccessReview")
}

func (s *selfSubjectAccessReviews) Create(ctx context.Context, obj runtime.Object, _ rest.ValidateObjectFunc, _ *metav1.CreateOptions) (runtime.Object, error) {
	review, ok := obj.(*authorizationv1.SelfSubjectAccessReview)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a SelfSubjectAccessReview: %T", obj))
	}
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return nil, apierrors.NewBadRequest("no user")
	}
	ra, nra := review.Spec.ResourceAttributes, review.Spec.NonResourceAttributes
	if (ra == nil) == (nra == nil) {
		return nil, apierrors.NewBadRequest("exactly one of spec.resourceAttributes and spec.nonResourceAttributes must be set")
	}
	attrs := authorizer.AttributesRecord{User: u}
	if ra != nil {
		attrs.ResourceRequest = true
		attrs.Verb, attrs.Namespace, attrs.APIGroup, attrs.APIVersion = ra.Verb, ra.Namespace, ra.Group, ra.Version
		attrs.Resource, attrs.Subresource, attrs.Name = ra.Resource, ra.Subresource, ra.Name
	} else {
		attrs.Verb, attrs.Path = nra.Verb, nra.Path
	}
	decision, reason, err := s.az.Review(ctx, attrs)
	out := review.DeepCopy()
	out.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: decision == authorizer.DecisionAllow,
		Denied: decision == authorizer.DecisionDeny, Reason: reason}
	if err != nil {
		out.Status.EvaluationError = err.Error()
	}
	return out, nil
}

// selfSubjectRulesReviews lists what the caller may do (kubectl auth can-i --list):
// authz.Authorizer.RulesFor, incomplete by design (data-plane routes are asked one at a time).
type selfSubjectRulesReviews struct{ az *authz.Authorizer }

var (
	_ rest.Creater                  = &selfSubjectRulesReviews{}
	_ rest.SingularNameProvider     = &selfSubjectRulesReviews{}
	_ rest.Scoper                   = &selfSubjectRulesReviews{}
	_ rest.GroupVersionKindProvider = &selfSubjectRulesReviews{}
)

func (*selfSubjectRulesReviews) New() runtime.Object {
	return &authorizationv1.SelfSubjectRulesReview{}
}
func (*selfSubjectRulesReviews) Destroy()                {}
func (*selfSubjectRulesReviews) NamespaceScoped() bool   { return false }
func (*selfSubjectRulesReviews) GetSingularName() string { return "selfsubjectrulesreview" }
func (*selfSubjectRulesReviews) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return authorizationv1.SchemeGroupVersion.WithKind("SelfSubjectRulesReview")
}

func (s *selfSubjectRulesReviews) Create(ctx context.Context, obj runtime.Object, _ rest.ValidateObjectFunc, _ *metav1.CreateOptions) (runtime.Object, error) {
	review, ok := obj.(*authorizationv1.SelfSubjectRulesReview)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a SelfSubjectRulesReview: %T", obj))
	}
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return nil, apierrors.NewBadRequest("no user")
	}
	resources, paths, incomplete, err := s.az.RulesFor(ctx, u, review.Spec.Namespace)
	out := review.DeepCopy()
	out.Status = authorizationv1.SubjectRulesReviewStatus{Incomplete: incomplete,
		ResourceRules: []authorizationv1.ResourceRule{}, NonResourceRules: []authorizationv1.NonResourceRule{}}
	for _, r := range resources {
		out.Status.ResourceRules = append(out.Status.ResourceRules, authorizationv1.ResourceRule{Verbs: r.GetVerbs(),
			APIGroups: r.GetAPIGroups(), Resources: r.GetResources(), ResourceNames: r.GetResourceNames()})
	}
	for _, p := range paths {
		out.Status.NonResourceRules = append(out.Status.NonResourceRules, authorizationv1.NonResourceRule{Verbs: p.GetVerbs(), NonResourceURLs: p.GetNonResourceURLs()})
	}
	if err != nil {
		out.Status.EvaluationError = err.Error()
	} else if incomplete {
		out.Status.EvaluationError = "data-plane routes are decided per namespace and datasource: ask about one, e.g. kubectl auth can-i create datasources/<uid> --subresource=query -n <namespace>"
	}
	return out, nil
}

// selfReviewDefinitions are the OpenAPI models of the self reviews, which the App SDK's
// generated definitions do not include (the API server needs one per served type). They are
// described as objects; kubectl needs nothing more.
func selfReviewDefinitions() map[string]common.OpenAPIDefinition {
	def := func(desc string) common.OpenAPIDefinition {
		obj := func(d string) spec.Schema {
			return spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Description: d}}
		}
		str := spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}}}
		return common.OpenAPIDefinition{Schema: spec.Schema{SchemaProps: spec.SchemaProps{
			Type: []string{"object"}, Description: desc,
			Properties: map[string]spec.Schema{
				"apiVersion": str, "kind": str, "metadata": obj("standard object metadata"),
				"spec": obj("what is asked"), "status": obj("the answer"),
			},
		}}}
	}
	out := map[string]common.OpenAPIDefinition{}
	for name, d := range map[string]common.OpenAPIDefinition{
		"k8s.io/api/authentication/v1.SelfSubjectReview":      def("SelfSubjectReview returns the user information dpa has for the caller (kubectl auth whoami)."),
		"k8s.io/api/authorization/v1.SelfSubjectAccessReview": def("SelfSubjectAccessReview asks whether the caller may perform an action (kubectl auth can-i)."),
		"k8s.io/api/authorization/v1.SelfSubjectRulesReview":  def("SelfSubjectRulesReview lists what the caller may do on dpa's own resources (kubectl auth can-i --list); data-plane routes are asked one at a time."),
	} {
		// Keyed by Go name (GetDefinitions) and by REST-friendly name (precomputed Definitions).
		out[name] = d
		out[util.ToRESTFriendlyName(name)] = d
	}
	return out
}

// addSelfReviewDefinitions adds selfReviewDefinitions to an OpenAPI config's (v2 or v3)
// definitions: the function and, when the config holds them precomputed, the map.
func addSelfReviewDefinitions(get *common.GetOpenAPIDefinitions, precomputed map[string]common.OpenAPIDefinition) {
	if get == nil || *get == nil {
		return
	}
	inner := *get
	*get = func(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
		m := inner(ref)
		maps.Copy(m, selfReviewDefinitions())
		return m
	}
	if precomputed != nil {
		maps.Copy(precomputed, selfReviewDefinitions())
	}
}
