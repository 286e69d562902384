package server

import (
	"errors"
	"slices"
	"strings"

	genericoptions "k8s.io/apiserver/pkg/server/options"
	cliflag "k8s.io/component-base/cli/flag"
)

// Options are `dpa serve`'s option groups, assembled the way sample-apiserver and
// kube-aggregator assemble theirs: every group owns its flags (AddFlags), checks them
// (Validate) and writes them into the Config (ApplyTo). The API server's own groups are
// k8s.io/apiserver's, used as designed; dpa's groups sit beside them, one per concern.
// cmd/dpa only calls NewOptions, AddFlags and Config.
type Options struct {
	// DataDir holds the SQLite store, the PKI, the admin token and the kubeconfig.
	DataDir string

	// The API server's standard groups (k8s.io/apiserver).
	ServerRun *genericoptions.ServerRunOptions
	Serving   *ServingOptions
	Audit     *genericoptions.AuditOptions
	Features  *genericoptions.FeatureOptions

	// dpa's own groups.
	Authentication *AuthenticationOptions
	Authorization  *AuthorizationOptions
	Storage        *StorageOptions
	Replica        *ReplicaOptions
	DataPlane      *DataPlaneOptions
	Plugins        *PluginOptions
	Provisioning   *ProvisioningOptions
	UI             *UIOptions
	Delegation     *DelegationOptions
	Tracing        *TracingOptions
	Logging        *LoggingOptions
}

// NewOptions returns the options with every flag's default.
func NewOptions() *Options {
	run := genericoptions.NewServerRunOptions()
	run.HSTSDirectives = DefaultHSTS
	features := genericoptions.NewFeatureOptions()
	// Priority and fairness needs a kube-apiserver's FlowSchema objects; dpa runs standalone.
	features.EnablePriorityAndFairness = false
	return &Options{
		DataDir:        "./data",
		ServerRun:      run,
		Serving:        NewServingOptions(),
		Audit:          genericoptions.NewAuditOptions(),
		Features:       features,
		Authentication: NewAuthenticationOptions(),
		Authorization:  NewAuthorizationOptions(),
		Storage:        NewStorageOptions(),
		Replica:        &ReplicaOptions{},
		DataPlane:      NewDataPlaneOptions(),
		Plugins:        NewPluginOptions(),
		Provisioning:   &ProvisioningOptions{},
		UI:             NewUIOptions(),
		Delegation:     &DelegationOptions{},
		Tracing:        &TracingOptions{},
		Logging:        NewLoggingOptions(),
	}
}

// AddFlags adds every group's flags, one named section per group (dpa serve --help).
func (o *Options) AddFlags(fss *cliflag.NamedFlagSets) {
	general := fss.FlagSet("general")
	general.StringVar(&o.DataDir, "data-dir", o.DataDir, "directory for the SQLite store, TLS material, admin token and kubeconfig")
	o.Logging.AddFlags(general)
	o.Serving.AddFlags(fss.FlagSet("secure serving"))
	generic := fss.FlagSet("generic API server")
	o.ServerRun.AddUniversalFlags(generic)
	// dpa states its own version (version.go); the emulation flags would be ignored.
	for _, name := range []string{"emulated-version", "min-compatibility-version", "emulation-forward-compatible", "runtime-config-emulation-forward-compatible"} {
		_ = generic.MarkHidden(name)
	}
	o.Features.AddFlags(fss.FlagSet("features"))
	o.Audit.AddFlags(fss.FlagSet("audit"))
	o.Authentication.AddFlags(fss.FlagSet("authentication"))
	o.Authorization.AddFlags(fss.FlagSet("authorization"))
	o.Storage.AddFlags(fss.FlagSet("storage"))
	o.Replica.AddFlags(fss.FlagSet("replicas"))
	o.DataPlane.AddFlags(fss.FlagSet("data plane"))
	o.Plugins.AddFlags(fss.FlagSet("plugins"))
	o.Provisioning.AddFlags(fss.FlagSet("provisioning"))
	o.UI.AddFlags(fss.FlagSet("ui"))
	o.Delegation.AddFlags(fss.FlagSet("delegation"))
	o.Tracing.AddFlags(fss.FlagSet("tracing"))
}

// Validate checks every group as given on the command line and reports every problem at
// once, each naming its flag. It changes nothing.
func (o *Options) Validate() error {
	var errs []error
	if o.DataDir == "" {
		errs = append(errs, errors.New("--data-dir is required"))
	}
	errs = append(errs, o.ServerRun.Validate()...)
	errs = append(errs, o.Serving.Validate()...)
	errs = append(errs, o.Features.Validate()...)
	if o.Features.EnablePriorityAndFairness {
		errs = append(errs, errors.New("--enable-priority-and-fairness needs a kube-apiserver's flow-control objects; dpa's in-flight limits are --max-requests-inflight and --max-dataplane-inflight"))
	}
	errs = append(errs, o.Audit.Validate()...)
	errs = append(errs, o.Authentication.Validate()...)
	errs = append(errs, o.Authorization.Validate()...)
	errs = append(errs, o.Storage.Validate()...)
	errs = append(errs, o.Replica.Validate()...)
	errs = append(errs, o.DataPlane.Validate()...)
	errs = append(errs, o.Plugins.Validate()...)
	errs = append(errs, o.Provisioning.Validate()...)
	errs = append(errs, o.UI.Validate()...)
	errs = append(errs, o.Delegation.Validate()...)
	errs = append(errs, o.Tracing.Validate()...)
	errs = append(errs, o.Logging.Validate()...)
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// Config validates the options and applies every group to a new Config.
func (o *Options) Config() (*Config, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	c := &Config{
		DataDir:   o.DataDir,
		ServerRun: o.ServerRun,
		Audit:     o.Audit,
		Features:  o.Features,
	}
	for _, apply := range []func(*Config) error{
		o.Logging.ApplyTo, o.Serving.ApplyTo, o.Authentication.ApplyTo, o.Authorization.ApplyTo,
		o.Storage.ApplyTo, o.Replica.ApplyTo, o.DataPlane.ApplyTo, o.Plugins.ApplyTo,
		o.Provisioning.ApplyTo, o.UI.ApplyTo, o.Delegation.ApplyTo, o.Tracing.ApplyTo,
	} {
		if err := apply(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// DefaultHSTS tells browsers to reach dpa over HTTPS only, for a year.
var DefaultHSTS = []string{"max-age=31536000", "includeSubDomains"}
