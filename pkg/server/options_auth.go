package server

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"
	genericoptions "k8s.io/apiserver/pkg/server/options"

	"github.com/dataplane-aggregator/dpa/pkg/ui"
)

// AuthenticationOptions: who a request is. Client certificates (--client-ca-file) and a
// front proxy's identity headers (--requestheader-*) are k8s.io/apiserver's own option
// groups, with Kubernetes' X-Remote-* header names as defaults (as every aggregated API
// server has them); --token-auth-file adds users to dpa's admin token.
type AuthenticationOptions struct {
	TokenAuthFile string
	ClientCert    *genericoptions.ClientCertAuthenticationOptions
	RequestHeader *genericoptions.RequestHeaderAuthenticationOptions
	// RemoteKubeConfigFile points at a kube-apiserver that checks the bearer tokens dpa does
	// not know itself (TokenReview), as every aggregated API server offers; CacheTTL caches
	// its answers.
	RemoteKubeConfigFile string
	CacheTTL             time.Duration
	// FailureLimit failed bearer tokens (API or UI sign-in) within FailureWindow from one
	// client address make further attempts from it wait (ui.FailureLimiter); 0: no limit.
	FailureLimit  int
	FailureWindow time.Duration
}

// NewAuthenticationOptions has the front-proxy header names of
// genericoptions.NewDelegatingAuthenticationOptions.
func NewAuthenticationOptions() *AuthenticationOptions {
	d := genericoptions.NewDelegatingAuthenticationOptions()
	return &AuthenticationOptions{ClientCert: &d.ClientCert, RequestHeader: &d.RequestHeader, CacheTTL: d.CacheTTL,
		FailureLimit: ui.DefaultFailureLimit, FailureWindow: ui.DefaultFailureWindow}
}

// AddFlags adds --token-auth-file, --client-ca-file and the --requestheader-* family.
func (o *AuthenticationOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.TokenAuthFile, "token-auth-file", o.TokenAuthFile, "Kubernetes static token CSV (token,user,uid,\"group1,group2\") for more users")
	o.ClientCert.AddFlags(fs)
	o.RequestHeader.AddFlags(fs)
	fs.StringVar(&o.RemoteKubeConfigFile, "authentication-kubeconfig", o.RemoteKubeConfigFile, "kubeconfig of a kube-apiserver that checks bearer tokens dpa does not know itself (TokenReview: needs create on tokenreviews.authentication.k8s.io), so the cluster's users sign in to dpa with their own tokens; dpa's admin token and --token-auth-file are checked first and never sent")
	fs.DurationVar(&o.CacheTTL, "authentication-token-webhook-cache-ttl", o.CacheTTL, "how long the kube-apiserver's answer about a token is cached")
	fs.IntVar(&o.FailureLimit, "auth-failure-limit", o.FailureLimit, "failed bearer tokens (API requests and UI sign-ins together) one client address may have within --auth-failure-window before each further attempt with a token waits 1s, 2s, 4s … up to a minute (429 with Retry-After, the token unchecked); 0: no limit")
	fs.DurationVar(&o.FailureWindow, "auth-failure-window", o.FailureWindow, "how long an address's failed tokens count: this long without a failure forgets them")
}

// Validate checks that the files exist and the header lists are usable.
func (o *AuthenticationOptions) Validate() []error {
	errs := o.RequestHeader.Validate()
	if o.CacheTTL < 0 {
		errs = append(errs, fmt.Errorf("--authentication-token-webhook-cache-ttl %s must not be negative", o.CacheTTL))
	}
	if o.FailureLimit < 0 {
		errs = append(errs, fmt.Errorf("--auth-failure-limit %d must not be negative (0: no limit)", o.FailureLimit))
	}
	if o.FailureWindow <= 0 {
		errs = append(errs, fmt.Errorf("--auth-failure-window %s must be positive", o.FailureWindow))
	}
	for flag, f := range map[string]string{"--client-ca-file": o.ClientCert.ClientCA, "--requestheader-client-ca-file": o.RequestHeader.ClientCAFile,
		"--token-auth-file": o.TokenAuthFile, "--authentication-kubeconfig": o.RemoteKubeConfigFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", flag, err))
		}
	}
	if o.RequestHeader.ClientCAFile != "" && len(o.RequestHeader.UsernameHeaders) == 0 {
		errs = append(errs, fmt.Errorf("--requestheader-username-headers must name at least one header"))
	}
	return errs
}

// ApplyTo hands the options to the identity phase, which builds the authenticators.
func (o *AuthenticationOptions) ApplyTo(c *Config) error {
	c.Authentication = *o
	return nil
}

// AuthorizationOptions: who may do what besides Grafana's roles (pkg/authz).
type AuthorizationOptions struct {
	WebhookGroup              string
	ServiceAdminGroup         string
	AnonymousConversionGroups []string
	// RemoteKubeConfigFile points at a kube-apiserver whose RBAC is asked
	// (SubjectAccessReview) when dpa's own rules do not allow a request to the resource API;
	// AllowCacheTTL and DenyCacheTTL cache its answers.
	RemoteKubeConfigFile        string
	AllowCacheTTL, DenyCacheTTL time.Duration
}

// NewAuthorizationOptions caches the cluster's answers as k8s.io/apiserver's delegated
// authorization does.
func NewAuthorizationOptions() *AuthorizationOptions {
	d := genericoptions.NewDelegatingAuthorizationOptions()
	return &AuthorizationOptions{AllowCacheTTL: d.AllowCacheTTL, DenyCacheTTL: d.DenyCacheTTL}
}

// AddFlags adds --webhook-group and --services-admin-group.
func (o *AuthorizationOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.WebhookGroup, "webhook-group", o.WebhookGroup, "group whose members may call the admission and conversion routes besides server admins (the identity a kube-apiserver calls dpa's webhooks with)")
	fs.StringSliceVar(&o.AnonymousConversionGroups, "anonymous-conversion-groups", o.AnonymousConversionGroups, "API groups of DataPlaneServices whose conversion route takes calls without credentials, as a kube-apiserver makes them for CRD conversion webhooks (it cannot send any); nothing else of these groups is open, and the network must keep others from that route (docs/topology.md)")
	fs.StringVar(&o.RemoteKubeConfigFile, "authorization-kubeconfig", o.RemoteKubeConfigFile, "kubeconfig of a kube-apiserver whose RBAC is asked (SubjectAccessReview: needs create on subjectaccessreviews.authorization.k8s.io) when dpa's own rules do not allow a request to the resource API; data-plane routes stay dpa's alone (Grafana's roles)")
	fs.DurationVar(&o.AllowCacheTTL, "authorization-webhook-cache-authorized-ttl", o.AllowCacheTTL, "how long the kube-apiserver's allow is cached")
	fs.DurationVar(&o.DenyCacheTTL, "authorization-webhook-cache-unauthorized-ttl", o.DenyCacheTTL, "how long the kube-apiserver's deny is cached")
	fs.StringVar(&o.ServiceAdminGroup, "services-admin-group", o.ServiceAdminGroup, "group whose members may create, change and delete DataPlaneServices besides server admins, e.g. grafana:org:1:Admin (org 1's admins, also through the Grafana app plugin)")
}

// Validate: the anonymous conversion groups are API group names; the kubeconfig exists.
func (o *AuthorizationOptions) Validate() []error {
	var errs []error
	if o.RemoteKubeConfigFile != "" {
		if _, err := os.Stat(o.RemoteKubeConfigFile); err != nil {
			errs = append(errs, fmt.Errorf("--authorization-kubeconfig: %w", err))
		}
	}
	if o.AllowCacheTTL < 0 || o.DenyCacheTTL < 0 {
		errs = append(errs, fmt.Errorf("--authorization-webhook-cache-authorized-ttl and --authorization-webhook-cache-unauthorized-ttl must not be negative"))
	}
	for _, g := range o.AnonymousConversionGroups {
		if msgs := validation.IsDNS1123Subdomain(g); len(msgs) > 0 || !strings.Contains(g, ".") {
			errs = append(errs, fmt.Errorf("--anonymous-conversion-groups: %q is not an API group name (a DNS subdomain with a dot)", g))
		}
	}
	return errs
}

// ApplyTo sets the authorizer's groups.
func (o *AuthorizationOptions) ApplyTo(c *Config) error {
	c.Authorization.WebhookGroup = o.WebhookGroup
	c.Authorization.ServiceAdminGroup = o.ServiceAdminGroup
	c.Authorization.AnonymousConversionGroups = o.AnonymousConversionGroups
	c.RemoteAuthorization = *o
	return nil
}
