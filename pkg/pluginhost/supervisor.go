package pluginhost

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
)

// entry is one plugin and its supervisor state.
type entry struct {
	host *Host
	id   string
	log  *slog.Logger

	supervised bool // guarded by host.mu
	// fingerprint identifies the installed files (plugin.json and executable); guarded by
	// host.mu, written by Rescan.
	fingerprint string
	// removed is closed when the plugin left the plugins directory: its supervisor stops it.
	removed     chan struct{}
	removedOnce sync.Once
	// upgrade asks the supervisor to replace the running process (new binary or version).
	upgrade chan struct{}

	mu        sync.Mutex
	info      PluginInfo // replaced by an upgrade (read with currentInfo)
	phase     Phase
	since     time.Time
	cur       *instance // set while PhaseRunning
	restarts  int
	lastErr   string
	cause     error     // why the plugin is not running (PhaseBackoff)
	nextStart time.Time // PhaseBackoff: when the next attempt starts
	backoff   time.Duration
	// attempt is closed when the current (or next) start attempt ends;
	// Get waits on it while the plugin is Idle or Starting.
	attempt chan struct{}
}

// get returns the running plugin, or a channel to wait on while a start is
// in progress, or an *backendplugin.UnavailableError.
func (e *entry) get() (*backendplugin.Client, <-chan struct{}, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch e.phase {
	case PhaseRunning:
		if e.cur.dead() {
			e.cur.kick() // let the supervisor notice now rather than at its next poll
			return nil, nil, &backendplugin.UnavailableError{PluginID: e.id, RetryAfter: retryAfter(e.backoff), Cause: ErrExited}
		}
		return e.cur.plugin, nil, nil
	case PhaseIdle, PhaseStarting:
		return nil, e.attempt, nil
	case PhaseBackoff:
		return nil, nil, &backendplugin.UnavailableError{PluginID: e.id, RetryAfter: retryAfter(time.Until(e.nextStart)), Cause: e.cause}
	default:
		return nil, nil, &backendplugin.UnavailableError{PluginID: e.id, RetryAfter: retryAfter(0), Cause: ErrStopped}
	}
}

// currentInfo is the plugin's description as last discovered.
func (e *entry) currentInfo() PluginInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.info
}

func (e *entry) state() PluginState {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := PluginState{
		Known:     true,
		Backend:   e.info.Backend,
		Type:      e.info.Type,
		Running:   e.phase == PhaseRunning,
		Phase:     e.phase,
		Restarts:  e.restarts,
		LastError: e.lastErr,
		Address:   e.info.Address,
		Since:     e.since,
	}
	if e.phase == PhaseBackoff {
		s.NextStart = e.nextStart
	}
	if e.cur != nil {
		s.PID = e.cur.pid
		s.Services = e.cur.services
		s.Unimplemented = e.cur.unimplemented
		s.NotResponding = e.cur.probeProblem
		if s.NotResponding != "" {
			s.NotRespondingSince = e.cur.probeSince
		}
	}
	return s
}

func (e *entry) currentPID() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur == nil {
		return 0
	}
	return e.cur.pid
}

// transition changes the phase under e.mu, ends the pending start attempt
// when leaving Idle/Starting, updates metrics and notifies listeners.
func (e *entry) transition(phase Phase, mutate func()) {
	e.mu.Lock()
	prev := e.phase
	e.phase = phase
	e.since = time.Now()
	if mutate != nil {
		mutate()
	}
	if (prev == PhaseIdle || prev == PhaseStarting) && phase != PhaseStarting {
		close(e.attempt)
		e.attempt = make(chan struct{})
	}
	e.mu.Unlock()

	up := 0.0
	if phase == PhaseRunning {
		up = 1
	}
	e.host.metrics.up.WithLabelValues(e.id).Set(up)
	e.host.notify(e.id)
}

func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// supervise starts the plugin and restarts it whenever it exits, with
// exponential backoff, until stop is closed.
func (e *entry) supervise(stop <-chan struct{}) {
	opts := e.host.opts
	backoff := opts.RestartBackoff.Min
	defer e.transition(PhaseStopped, func() { e.cur = nil })

	// ran: the plugin has run at least once. Only starts after that are restarts; failed
	// first starts are not (they show in LastError and the Backoff phase).
	ran := false
	for attempt := 0; ; attempt++ {
		if stopped(stop) {
			return
		}
		if ran {
			e.host.metrics.restarts.WithLabelValues(e.id).Inc()
		}
		e.transition(PhaseStarting, func() {
			if ran {
				e.restarts++
			}
		})

		start := time.Now()
		inst, err := e.launch()
		if err == nil && stopped(stop) {
			inst.stop()
			return
		}
		if err != nil {
			e.log.Error("plugin failed to start", "error", err, "attempt", attempt+1, "retry_in", backoff)
			next, ok := e.backOff(stop, fmt.Errorf("start failed: %w", err), backoff)
			if !ok {
				return
			}
			backoff = next
			continue
		}

		e.log.Info("plugin running", "pid", inst.pid, "address", inst.addr, "start_duration", time.Since(start).String())
		ran = true
		startedAt := time.Now()
		e.transition(PhaseRunning, func() {
			e.cur = inst
			e.backoff = backoff
		})
		go e.probe(inst)
		select { // this start already runs the newest files
		case <-e.upgrade:
		default:
		}

		if !e.serve(&inst, stop) {
			return
		}

		reason := inst.cleanup()
		uptime := time.Since(startedAt)
		if uptime >= opts.StableAfter {
			backoff = opts.RestartBackoff.Min
		}
		e.log.Warn("plugin exited", "reason", reason, "uptime", uptime.Round(time.Millisecond).String(), "restart_in", backoff)
		next, ok := e.backOff(stop, fmt.Errorf("%w: %s", ErrExited, reason), backoff)
		if !ok {
			return
		}
		backoff = next
	}
}

// serve waits while *inst runs: it returns true when the process exited (the caller
// restarts it) and false when the host stops or the plugin was removed (the process is then
// stopped). An upgrade starts the new process first, switches calls to it, and lets the old
// one finish its calls in flight before it stops; if the new one fails to start, the old one
// keeps serving.
func (e *entry) serve(inst **instance, stop <-chan struct{}) bool {
	for {
		cur := *inst
		select {
		case <-cur.exited:
			return true
		case <-stop:
			cur.stop()
			return false
		case <-e.upgrade:
		}
		info := e.currentInfo()
		next, err := e.launch()
		if err != nil {
			e.log.Error("plugin upgrade failed: the running process keeps serving", "version", info.Version, "error", err)
			e.transition(PhaseRunning, func() { e.lastErr = "upgrade failed: " + err.Error() })
			continue
		}
		e.log.Info("plugin upgraded", "version", info.Version, "pid", next.pid, "previous_pid", cur.pid)
		e.transition(PhaseRunning, func() { e.cur = next })
		go e.probe(next)
		go e.drain(cur)
		*inst = next
	}
}

// drain stops a replaced process once its calls in flight are done (streams are cut:
// their clients subscribe again), waiting at most drainTimeout.
func (e *entry) drain(old *instance) {
	if !old.calls.idle(drainTimeout) {
		e.log.Warn("stopping the replaced plugin process with calls still in flight", "pid", old.pid, "waited", drainTimeout.String())
	}
	old.stop()
}

// drainTimeout bounds how long a replaced process may finish its calls: the longest
// default data-plane deadline.
const drainTimeout = 30 * time.Second

// launch starts the process, or connects to the standalone address.
func (e *entry) launch() (*instance, error) {
	info := e.currentInfo()
	if info.Address != "" {
		return e.host.connectStandalone(e)
	}
	if info.Dir == "" {
		return nil, errors.New("no plugin directory and no address")
	}
	return e.host.startProcess(e)
}

// backOff records why the plugin is down, then waits backoff before the next start. New
// files (Rescan found a changed executable or plugin.json: e.upgrade) end the wait at once:
// what failed was the old files, so the new ones start now and their backoff starts again
// from RestartBackoff.Min. It returns the backoff for the next failure, and false when the
// host is stopping or the plugin was removed.
func (e *entry) backOff(stop <-chan struct{}, cause error, backoff time.Duration) (time.Duration, bool) {
	e.transition(PhaseBackoff, func() {
		e.cur = nil
		e.lastErr = cause.Error()
		e.cause = cause
		e.backoff = backoff
		e.nextStart = time.Now().Add(backoff)
	})
	t := time.NewTimer(backoff)
	defer t.Stop()
	select {
	case <-t.C:
		return min(backoff*2, e.host.opts.RestartBackoff.Max), true
	case <-e.upgrade:
		e.log.Info("plugin files changed during the restart backoff: starting the new files now",
			"version", e.currentInfo().Version, "backoff_left", time.Until(e.nextStartTime()).Round(time.Millisecond).String())
		return e.host.opts.RestartBackoff.Min, true
	case <-stop:
		return 0, false
	}
}

// nextStartTime is when the pending restart was scheduled (PhaseBackoff).
func (e *entry) nextStartTime() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.nextStart
}
