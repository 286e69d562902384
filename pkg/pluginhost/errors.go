package pluginhost

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrPluginNotFound: no plugin with that ID was discovered or configured.
	ErrPluginNotFound = errors.New("plugin not found")
	// ErrNoBackend: the plugin exists but has no backend (plugin.json
	// "backend": false), so there is no process to talk to.
	ErrNoBackend = errors.New("plugin has no backend")
	// ErrNotStarted is the Cause of an UnavailableError before Start.
	ErrNotStarted = errors.New("plugin host not started")
	// ErrStopped is the Cause of an UnavailableError after Stop.
	ErrStopped = errors.New("plugin host stopped")
	// ErrStarting is the Cause of an UnavailableError when a start attempt
	// did not finish within Options.StartWait.
	ErrStarting = errors.New("plugin is starting")
	// ErrExited is the Cause of an UnavailableError when the plugin process
	// (or standalone connection) is gone and a restart is pending.
	ErrExited = errors.New("plugin process exited")
)

// UnavailableError is returned by Get when the plugin exists but cannot take
// calls right now (starting, restarting after an exit, host not running).
type UnavailableError struct {
	PluginID string
	// RetryAfter is a hint for when to try again (never below one second,
	// rounded up to whole seconds so it maps onto a Retry-After header).
	RetryAfter time.Duration
	Cause      error
}

func (e *UnavailableError) Error() string {
	msg := fmt.Sprintf("plugin %q is unavailable", e.PluginID)
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return msg
}

func (e *UnavailableError) Unwrap() error { return e.Cause }

// retryAfter rounds d up to whole seconds, at least one second.
func retryAfter(d time.Duration) time.Duration {
	if d < time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}
