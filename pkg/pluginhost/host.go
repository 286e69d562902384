package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
)

// Phase is a plugin's lifecycle phase.
type Phase string

const (
	PhaseIdle     Phase = "Idle"     // not started yet (lazy, or before Start)
	PhaseStarting Phase = "Starting" // start attempt in progress
	PhaseRunning  Phase = "Running"  // process up (or standalone connected)
	PhaseBackoff  Phase = "Backoff"  // exited or failed to start; restart pending
	PhaseStopped  Phase = "Stopped"  // host stopped
)

// PluginState is a snapshot of one plugin's state.
type PluginState struct {
	Known   bool
	Backend bool
	Type    string
	Running bool
	Phase   Phase
	// Restarts counts start attempts after the plugin first ran (failed
	// first starts are not restarts).
	Restarts int
	// LastError is the last start failure or exit reason. It is kept after
	// a successful restart (Running tells whether the plugin is up now).
	LastError string
	// PID of the plugin process (0 when not running or standalone).
	PID int
	// Address of a standalone plugin (Options.Addresses).
	Address string
	// Since is when the plugin entered Phase.
	Since time.Time
	// NextStart is when the next start attempt is due (PhaseBackoff only; zero otherwise).
	// New files found by Rescan start at once instead.
	NextStart time.Time
	// Services are the Grafana plugin gRPC services (ServiceData, …) the running process
	// serves, learned through gRPC reflection; nil when not running or unknown.
	Services []string
	// Unimplemented are the services among them whose calls the running process answered
	// Unimplemented (SDK plugins register every service; see interceptors.go).
	Unimplemented []string
	// NotResponding says why the running process failed its last liveness
	// probe ("" when it answered; see Options.ProbeInterval).
	NotResponding string
	// NotRespondingSince is when the probe first failed (zero while it answers).
	NotRespondingSince time.Time
}

// Host manages the plugin processes. Create it with New.
type Host struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics

	ownSocketDir bool

	entries  map[string]*entry
	order    []string
	problems []DiscoveryProblem

	mu        sync.Mutex
	started   bool
	stopped   bool
	stopCh    chan struct{}
	wg        sync.WaitGroup
	listeners map[int]func(id string)
	nextLn    int
}

// New discovers the plugins and validates the options. It starts nothing.
func New(opts Options) (*Host, error) {
	opts.setDefaults()
	if opts.PluginsDir == "" && len(opts.Addresses) == 0 {
		return nil, errors.New("pluginhost: PluginsDir or Addresses is required")
	}
	if opts.PluginsDir != "" {
		// Plugins run with their own directory as working directory: executable paths
		// must not be relative to ours.
		abs, err := filepath.Abs(opts.PluginsDir)
		if err != nil {
			return nil, fmt.Errorf("pluginhost: %w", err)
		}
		opts.PluginsDir = abs
	}
	h := &Host{
		opts:      opts,
		log:       opts.Logger.With("component", "pluginhost"),
		metrics:   newMetrics(),
		entries:   map[string]*entry{},
		stopCh:    make(chan struct{}),
		listeners: map[int]func(string){},
	}

	infos, problems, err := discover(opts.PluginsDir)
	if err != nil {
		return nil, err
	}
	for _, p := range problems {
		h.log.Error("skipping invalid plugin", "path", p.Path, "error", p.Error)
	}
	h.problems = problems
	for _, info := range infos {
		h.addEntry(info, fingerprint(info))
	}
	for id, addr := range opts.Addresses {
		if !backendplugin.IDPattern.MatchString(id) {
			return nil, fmt.Errorf("pluginhost: invalid plugin id %q in Addresses", id)
		}
		if _, err := parseAddress(addr); err != nil {
			return nil, fmt.Errorf("pluginhost: address of %q: %w", id, err)
		}
		if e, ok := h.entries[id]; ok {
			e.info.Address = addr
			e.info.Backend = true
			continue
		}
		h.addEntry(PluginInfo{ID: id, Backend: true, Address: addr}, "")
	}
	sort.Strings(h.order)

	if err := h.prepareSocketDir(); err != nil {
		return nil, err
	}
	for _, id := range h.order {
		info := h.entries[id].info
		h.log.Info("plugin discovered", "plugin", id, "type", info.Type, "backend", info.Backend, "dir", info.Dir, "address", info.Address)
	}
	return h, nil
}

// addEntry adds a discovered or configured plugin. h.mu must be held once the host is
// shared (Rescan).
func (h *Host) addEntry(info PluginInfo, fp string) *entry {
	e := &entry{
		host:        h,
		id:          info.ID,
		info:        info,
		fingerprint: fp,
		log:         h.opts.Logger.With("plugin", info.ID),
		phase:       PhaseIdle,
		since:       time.Now(),
		attempt:     make(chan struct{}),
		removed:     make(chan struct{}),
		upgrade:     make(chan struct{}, 1),
	}
	h.entries[info.ID] = e
	h.order = append(h.order, info.ID)
	if info.Backend {
		h.metrics.init(info.ID)
	}
	return e
}

// lookup returns the entry of id.
func (h *Host) lookup(id string) (*entry, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.entries[id]
	return e, ok
}

// all returns the entries in id order.
func (h *Host) all() []*entry {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*entry, 0, len(h.order))
	for _, id := range h.order {
		out = append(out, h.entries[id])
	}
	return out
}

func (h *Host) prepareSocketDir() error {
	if h.opts.SocketDir == "" {
		dir, err := os.MkdirTemp("", "dpa-plug")
		if err != nil {
			return fmt.Errorf("pluginhost: socket dir: %w", err)
		}
		h.opts.SocketDir = dir
		h.ownSocketDir = true
	} else if err := os.MkdirAll(h.opts.SocketDir, 0o700); err != nil {
		return fmt.Errorf("pluginhost: socket dir: %w", err)
	}
	if n := len(h.opts.SocketDir); n > MaxSocketDirLen {
		return fmt.Errorf("pluginhost: SocketDir %q is %d bytes, longer than %d: unix socket paths would be too long", h.opts.SocketDir, n, MaxSocketDirLen)
	}
	return nil
}

// Start launches every backend plugin in the background (unless
// Options.Lazy) and returns at once. ctx is not retained: plugins run until
// Stop. Calling Start twice, or after Stop, is an error.
func (h *Host) Start(_ context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return ErrStopped
	}
	if h.started {
		return errors.New("pluginhost: already started")
	}
	h.started = true
	if !h.opts.Lazy {
		for _, id := range h.order {
			if e := h.entries[id]; e.info.Backend {
				h.superviseLocked(e)
			}
		}
	}
	if h.opts.RescanInterval > 0 && h.opts.PluginsDir != "" {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.watch(h.opts.RescanInterval)
		}()
	}
	return nil
}

// superviseLocked starts e's supervisor once. It runs until the host stops or the plugin
// is removed. h.mu must be held.
func (h *Host) superviseLocked(e *entry) {
	if e.supervised {
		return
	}
	e.supervised = true
	stop := make(chan struct{})
	h.wg.Add(2)
	go func() {
		defer h.wg.Done()
		select {
		case <-h.stopCh:
		case <-e.removed:
		}
		close(stop)
	}()
	go func() {
		defer h.wg.Done()
		e.supervise(stop)
		// Removed (not stopped with the host): the process is gone, so are its series —
		// unless the plugin came back meanwhile under the same id.
		h.mu.Lock()
		if _, back := h.entries[e.id]; !back && !stopped(h.stopCh) {
			h.metrics.forget(e.id)
		}
		h.mu.Unlock()
	}()
}

// Stop stops every plugin in parallel (graceful go-plugin shutdown, then
// kill) and waits for them, at most until ctx is done, after which any
// remaining process is killed. No plugin is (re)started afterwards.
func (h *Host) Stop(ctx context.Context) error {
	h.mu.Lock()
	first := !h.stopped
	if first {
		h.stopped = true
		close(h.stopCh)
	}
	h.mu.Unlock()

	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		for _, e := range h.all() {
			if pid := e.currentPID(); pid > 0 {
				h.log.Warn("killing plugin that did not stop in time", "plugin", e.id, "pid", pid)
				_ = killPID(pid)
			}
		}
	}
	if first && h.ownSocketDir && err == nil {
		_ = os.RemoveAll(h.opts.SocketDir)
	}
	return err
}

// Get returns the clients of a running plugin. Errors: backendplugin.ErrNotFound
// and ErrNoBackend (wrapped), or *backendplugin.UnavailableError when the plugin cannot
// take calls now. Get waits for a start in progress at most
// Options.StartWait and never past ctx.
func (h *Host) Get(ctx context.Context, id string) (*backendplugin.Client, error) {
	h.mu.Lock()
	e, ok := h.entries[id]
	if !ok {
		h.mu.Unlock()
		return nil, fmt.Errorf("%w: %q", backendplugin.ErrNotFound, id)
	}
	if !e.currentInfo().Backend {
		h.mu.Unlock()
		return nil, fmt.Errorf("%w: %q", ErrNoBackend, id)
	}
	switch {
	case h.stopped:
		h.mu.Unlock()
		return nil, &backendplugin.UnavailableError{PluginID: id, RetryAfter: retryAfter(0), Cause: ErrStopped}
	case !h.started:
		h.mu.Unlock()
		return nil, &backendplugin.UnavailableError{PluginID: id, RetryAfter: retryAfter(0), Cause: ErrNotStarted}
	}
	h.superviseLocked(e) // lazy start
	h.mu.Unlock()

	var timer *time.Timer
	for {
		p, wait, err := e.get()
		if p != nil || err != nil {
			return p, err
		}
		if timer == nil {
			timer = time.NewTimer(h.opts.StartWait)
			defer timer.Stop()
		}
		select {
		case <-wait:
			// attempt finished: look again
		case <-timer.C:
			return nil, &backendplugin.UnavailableError{PluginID: id, RetryAfter: retryAfter(0), Cause: ErrStarting}
		case <-ctx.Done():
			return nil, &backendplugin.UnavailableError{PluginID: id, RetryAfter: retryAfter(0), Cause: ctx.Err()}
		case <-h.stopCh:
			return nil, &backendplugin.UnavailableError{PluginID: id, RetryAfter: retryAfter(0), Cause: ErrStopped}
		}
	}
}

// State returns a snapshot of a plugin's state (Known false if unknown).
func (h *Host) State(id string) PluginState {
	e, ok := h.lookup(id)
	if !ok {
		return PluginState{}
	}
	return e.state()
}

// Plugins lists the discovered and configured plugins, sorted by ID.
func (h *Host) Plugins() []PluginInfo {
	entries := h.all()
	out := make([]PluginInfo, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.currentInfo())
	}
	return out
}

// Info returns one plugin's description.
func (h *Host) Info(id string) (PluginInfo, bool) {
	e, ok := h.lookup(id)
	if !ok {
		return PluginInfo{}, false
	}
	return e.currentInfo(), true
}

// AddressEnvVar is the environment variable Grafana reads a plugin's
// standalone address from (GF_PLUGIN_GRPC_ADDRESS_<ID>, upper case, dashes
// as underscores). The host never reads it itself: map it into
// Options.Addresses if dpa should honour it.
func AddressEnvVar(pluginID string) string {
	return "GF_PLUGIN_GRPC_ADDRESS_" + strings.ReplaceAll(strings.ToUpper(pluginID), "-", "_")
}

// Problems lists plugin directories skipped by discovery (invalid or
// duplicate plugin.json).
func (h *Host) Problems() []DiscoveryProblem {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]DiscoveryProblem(nil), h.problems...)
}

// OnChange registers fn to be called with a plugin ID whenever that
// plugin's state changes (read it with State). fn is called synchronously
// from the plugin's supervisor goroutine, so it must be quick and must not
// block (e.g. enqueue a reconcile). The returned func unregisters fn.
func (h *Host) OnChange(fn func(id string)) (cancel func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.nextLn
	h.nextLn++
	h.listeners[n] = fn
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.listeners, n)
	}
}

func (h *Host) notify(id string) {
	h.mu.Lock()
	fns := make([]func(string), 0, len(h.listeners))
	for _, fn := range h.listeners {
		fns = append(fns, fn)
	}
	h.mu.Unlock()
	for _, fn := range fns {
		fn(id)
	}
}

// Collectors returns the host's Prometheus collectors:
// dpa_plugin_restarts_total{plugin} and dpa_plugin_up{plugin}.
func (h *Host) Collectors() []prometheus.Collector {
	return []prometheus.Collector{h.metrics.restarts, h.metrics.up}
}

// SocketDir is the directory plugins create their unix sockets in.
func (h *Host) SocketDir() string { return h.opts.SocketDir }
