// Package pluginlog makes the example plugins honour the log level dpa forwards.
package pluginlog

import (
	"os"
	"strings"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"
)

// logLevelEnv is set by dpa's plugin host to the lowest level it forwards from a plugin's
// stderr (pkg/pluginhost.PluginLogLevelEnv).
const logLevelEnv = "GF_PLUGIN_LOG_LEVEL"

// Setup makes the SDK logger (hclog JSON on stderr) skip what the host would drop
// anyway. The SDK logs at Debug by default and logs two lines per request ("Plugin Request
// Started" at Debug, "Plugin Request Completed" at Info): encoding and writing a line the
// host discards costs CPU on the request path of both processes. It must run before
// Manage, which captures backend.Logger for its logging middleware.
func Setup() {
	var lvl log.Level
	switch strings.ToLower(strings.TrimSpace(os.Getenv(logLevelEnv))) {
	case "trace":
		lvl = log.Trace
	case "debug":
		lvl = log.Debug
	case "info":
		lvl = log.Info
	case "warn", "warning":
		lvl = log.Warn
	case "error":
		lvl = log.Error
	case "off":
		lvl = log.Error + 1 // hclog.Off
	default:
		return // not set (or unknown): the SDK default, Debug
	}
	log.DefaultLogger = log.NewWithLevel(lvl)
	backend.Logger = log.DefaultLogger
}
