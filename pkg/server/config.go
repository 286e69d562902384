package server

import (
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	genericoptions "k8s.io/apiserver/pkg/server/options"

	"github.com/dataplane-aggregator/dpa/pkg/app"
	"github.com/dataplane-aggregator/dpa/pkg/authz"
	"github.com/dataplane-aggregator/dpa/pkg/dataplane"
	"github.com/dataplane-aggregator/dpa/pkg/pluginhost"
)

// Config is what the option groups produce (Options.Config): each phase's settings as the
// component it configures takes them, nothing left to parse. Complete derives what depends
// on several groups; New builds a Server from the completed config. The parts a phase fills
// in at run time (a plugin provider, the storage transport, the serving certificate) are not
// here.
type Config struct {
	DataDir string
	Logger  *slog.Logger

	// The API server's option groups, applied to its generic config in the API-server phase
	// (they need the serving certificate and the storage, which exist only then).
	ServerRun *genericoptions.ServerRunOptions
	Serving   *genericoptions.SecureServingOptionsWithLoopback
	Audit     *genericoptions.AuditOptions
	Features  *genericoptions.FeatureOptions
	// TLSSANs are extra names of the serving certificate dpa makes.
	TLSSANs []string
	// BodyReadTimeout bounds sending a request body, on every path (withBodyReadDeadline).
	BodyReadTimeout time.Duration

	Authentication AuthenticationOptions
	// Authorization is the authorizer's configuration; the identity phase adds dpa's
	// internal UID.
	Authorization authz.Options
	// RemoteAuthorization is --authorization-kubeconfig and its caches (the data-plane phase
	// builds the SubjectAccessReview authorizer from it).
	RemoteAuthorization AuthorizationOptions
	Storage             StorageOptions
	ReplicaName         string
	// DataPlane holds the data plane's limits and deadlines; the data-plane phase adds the
	// plugins, settings, next handler and observability.
	DataPlane dataplane.Options
	// AppURL ("": dpa's own URL) and GrafanaConfig make DataPlane.GrafanaConfig in Complete.
	AppURL        string
	GrafanaConfig map[string]string
	// Plugins holds the plugin host's options; the plugins phase adds the socket dir,
	// environment, logger and tracer.
	Plugins      pluginhost.Options
	Provisioning ProvisioningOptions
	UI           UIOptions
	Delegation   DelegationOptions
	OTLPEndpoint string
}

// CompletedConfig is a Config whose derived settings are filled in; only Complete makes one.
type CompletedConfig struct{ *completedConfig }

type completedConfig struct{ *Config }

// Complete fills in what follows from several groups: the default logger and the Grafana
// config plugins receive (GF_APP_URL defaults to dpa's own serving URL).
func (c *Config) Complete() CompletedConfig {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Storage.DataDir = c.DataDir
	c.DataPlane.GrafanaConfig = dataplane.GrafanaConfig(c.appURL(), c.GrafanaConfig)
	return CompletedConfig{&completedConfig{c}}
}

// appURL is GF_APP_URL: --app-url, or dpa's own serving URL.
func (c *Config) appURL() string {
	if c.AppURL != "" {
		return c.AppURL
	}
	host := "localhost"
	port := 0
	if c.Serving != nil {
		if ip := c.Serving.BindAddress; ip != nil && !ip.IsUnspecified() {
			host = ip.String()
		}
		port = c.Serving.BindPort
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/"
}

// New returns a server built from the completed config. Nothing is started until Run.
func (c CompletedConfig) New() (*Server, error) {
	return &Server{
		cfg:        c,
		reconciler: app.NewReconciler(nil, c.Logger.With("component", "reconciler")),
		kubeconfig: filepath.Join(c.DataDir, "kubeconfig"),
	}, nil
}
