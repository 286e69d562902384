package pluginhost

import (
	"errors"
	"fmt"
	"time"

	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
)

var (
	// ErrNoBackend: the plugin exists but has no backend (plugin.json
	// "backend": false), so there is no process to talk to. It is an
	// backendplugin.ErrNotFound for callers.
	ErrNoBackend = fmt.Errorf("%w: the plugin has no backend", backendplugin.ErrNotFound)
	// ErrNotStarted is the Cause of an backendplugin.UnavailableError before Start.
	ErrNotStarted = errors.New("plugin host not started")
	// ErrStopped is the Cause of an backendplugin.UnavailableError after Stop.
	ErrStopped = errors.New("plugin host stopped")
	// ErrStarting is the Cause of an backendplugin.UnavailableError when a start attempt
	// did not finish within Options.StartWait.
	ErrStarting = errors.New("plugin is starting")
	// ErrExited is the Cause of an backendplugin.UnavailableError when the plugin process
	// (or standalone connection) is gone and a restart is pending.
	ErrExited = errors.New("plugin process exited")
)

// retryAfter rounds d up to whole seconds, at least one second.
func retryAfter(d time.Duration) time.Duration {
	if d < time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}
