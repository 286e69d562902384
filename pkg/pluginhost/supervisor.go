package pluginhost

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// entry is one plugin and its supervisor state.
type entry struct {
	host *Host
	info PluginInfo
	log  *slog.Logger

	supervised bool // guarded by host.mu

	mu        sync.Mutex
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
// in progress, or an *UnavailableError.
func (e *entry) get() (*Plugin, <-chan struct{}, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch e.phase {
	case PhaseRunning:
		if e.cur.dead() {
			e.cur.kick() // let the supervisor notice now rather than at its next poll
			return nil, nil, &UnavailableError{PluginID: e.info.ID, RetryAfter: retryAfter(e.backoff), Cause: ErrExited}
		}
		return e.cur.plugin, nil, nil
	case PhaseIdle, PhaseStarting:
		return nil, e.attempt, nil
	case PhaseBackoff:
		return nil, nil, &UnavailableError{PluginID: e.info.ID, RetryAfter: retryAfter(time.Until(e.nextStart)), Cause: e.cause}
	default:
		return nil, nil, &UnavailableError{PluginID: e.info.ID, RetryAfter: retryAfter(0), Cause: ErrStopped}
	}
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
	if e.cur != nil {
		s.PID = e.cur.pid
		s.Services = e.cur.services
		s.Unimplemented = e.cur.unimplemented
		s.NotResponding = e.cur.probeProblem
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
	e.host.metrics.up.WithLabelValues(e.info.ID).Set(up)
	e.host.notify(e.info.ID)
}

// sleep waits d or until stop; false means stop.
func sleep(stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
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
			e.host.metrics.restarts.WithLabelValues(e.info.ID).Inc()
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
			if !e.backOff(stop, fmt.Errorf("start failed: %w", err), backoff) {
				return
			}
			backoff = min(backoff*2, opts.RestartBackoff.Max)
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

		select {
		case <-inst.exited:
		case <-stop:
			inst.stop()
			return
		}

		reason := inst.cleanup()
		uptime := time.Since(startedAt)
		if uptime >= opts.StableAfter {
			backoff = opts.RestartBackoff.Min
		}
		e.log.Warn("plugin exited", "reason", reason, "uptime", uptime.Round(time.Millisecond).String(), "restart_in", backoff)
		if !e.backOff(stop, fmt.Errorf("%w: %s", ErrExited, reason), backoff) {
			return
		}
		backoff = min(backoff*2, opts.RestartBackoff.Max)
	}
}

// launch starts the process, or connects to the standalone address.
func (e *entry) launch() (*instance, error) {
	if e.info.Address != "" {
		return e.host.connectStandalone(e)
	}
	if e.info.Dir == "" {
		return nil, errors.New("no plugin directory and no address")
	}
	return e.host.startProcess(e)
}

// backOff records why the plugin is down, then waits backoff before the next start. It
// returns false when the host is stopping.
func (e *entry) backOff(stop <-chan struct{}, cause error, backoff time.Duration) bool {
	e.transition(PhaseBackoff, func() {
		e.cur = nil
		e.lastErr = cause.Error()
		e.cause = cause
		e.backoff = backoff
		e.nextStart = time.Now().Add(backoff)
	})
	return sleep(stop, backoff)
}
