package server

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"
	genericoptions "k8s.io/apiserver/pkg/server/options"
)

// AuthenticationOptions: who a request is. Client certificates (--client-ca-file) and a
// front proxy's identity headers (--requestheader-*) are k8s.io/apiserver's own option
// groups, with Kubernetes' X-Remote-* header names as defaults (as every aggregated API
// server has them); --token-auth-file adds users to dpa's admin token.
type AuthenticationOptions struct {
	TokenAuthFile string
	ClientCert    *genericoptions.ClientCertAuthenticationOptions
	RequestHeader *genericoptions.RequestHeaderAuthenticationOptions
}

// NewAuthenticationOptions has the front-proxy header names of
// genericoptions.NewDelegatingAuthenticationOptions.
func NewAuthenticationOptions() *AuthenticationOptions {
	d := genericoptions.NewDelegatingAuthenticationOptions()
	return &AuthenticationOptions{ClientCert: &d.ClientCert, RequestHeader: &d.RequestHeader}
}

// AddFlags adds --token-auth-file, --client-ca-file and the --requestheader-* family.
func (o *AuthenticationOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.TokenAuthFile, "token-auth-file", o.TokenAuthFile, "Kubernetes static token CSV (token,user,uid,\"group1,group2\") for more users")
	o.ClientCert.AddFlags(fs)
	o.RequestHeader.AddFlags(fs)
}

// Validate checks that the files exist and the header lists are usable.
func (o *AuthenticationOptions) Validate() []error {
	errs := o.RequestHeader.Validate()
	for flag, f := range map[string]string{"--client-ca-file": o.ClientCert.ClientCA, "--requestheader-client-ca-file": o.RequestHeader.ClientCAFile, "--token-auth-file": o.TokenAuthFile} {
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
}

// AddFlags adds --webhook-group and --services-admin-group.
func (o *AuthorizationOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.WebhookGroup, "webhook-group", o.WebhookGroup, "group whose members may call the admission and conversion routes besides server admins (the identity a kube-apiserver calls dpa's webhooks with)")
	fs.StringSliceVar(&o.AnonymousConversionGroups, "anonymous-conversion-groups", o.AnonymousConversionGroups, "API groups of DataPlaneServices whose conversion route takes calls without credentials, as a kube-apiserver makes them for CRD conversion webhooks (it cannot send any); nothing else of these groups is open, and the network must keep others from that route (docs/topology.md)")
	fs.StringVar(&o.ServiceAdminGroup, "services-admin-group", o.ServiceAdminGroup, "group whose members may create, change and delete DataPlaneServices besides server admins, e.g. grafana:org:1:Admin (org 1's admins, also through the Grafana app plugin)")
}

// Validate: the anonymous conversion groups are API group names.
func (o *AuthorizationOptions) Validate() []error {
	var errs []error
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
	return nil
}
