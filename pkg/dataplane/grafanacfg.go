package dataplane

import (
	"maps"

	sdkconfig "github.com/grafana/grafana-plugin-sdk-go/config"
)

// GrafanaConfig is the PluginContext.GrafanaConfig dpa sends: the keys a Grafana with its
// default settings sends to every plugin (app URL, concurrent query count, the user-facing
// default error, the SQL datasource defaults), with appURL as GF_APP_URL, then overrides
// (any key, e.g. GF_INSTANCE_FEATURE_TOGGLES_ENABLE). A key overridden with "" is left out.
// Plugins read these through backend.GrafanaConfigFromContext, and the SDK re-creates a
// datasource instance when they change, as it does when Grafana's configuration changes.
func GrafanaConfig(appURL string, overrides map[string]string) map[string]string {
	cfg := map[string]string{
		sdkconfig.ConcurrentQueryCount:             "10",
		sdkconfig.UserFacingDefaultError:           "please inspect Grafana server log for details",
		sdkconfig.SQLRowLimit:                      "1000000",
		sdkconfig.SQLMaxOpenConnsDefault:           "100",
		sdkconfig.SQLMaxIdleConnsDefault:           "100",
		sdkconfig.SQLMaxConnLifetimeSecondsDefault: "14400",
	}
	if appURL != "" {
		cfg[sdkconfig.AppURL] = appURL
	}
	maps.Copy(cfg, overrides)
	maps.DeleteFunc(cfg, func(_, v string) bool { return v == "" })
	return cfg
}
