package pluginhost

import (
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// fingerprint identifies a plugin's installed files: plugin.json's content and the resolved
// executable's path, size and modification time. A new fingerprint is an upgrade.
func fingerprint(info PluginInfo) string {
	h := fnv.New64a()
	b, _ := os.ReadFile(filepath.Join(info.Dir, "plugin.json"))
	_, _ = h.Write(b)
	if info.Backend {
		if exe, err := resolveExecutable(info); err == nil {
			if st, err := os.Stat(exe); err == nil {
				_, _ = fmt.Fprintf(h, "\x00%s\x00%d\x00%d", exe, st.Size(), st.ModTime().UnixNano())
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Rescan reads the plugins directory again, as Grafana's plugin installer would find it:
// a new plugin is added (and started unless Options.Lazy), a changed one (new executable or
// plugin.json, e.g. a new info.version) is upgraded without dropping calls (see
// entry.serve), and a plugin that left the directory is stopped and forgotten (Get answers
// backendplugin.ErrNotFound). Plugins given by Options.Addresses are left alone. Each change is logged
// and reported to OnChange listeners. Start runs it every Options.RescanInterval.
func (h *Host) Rescan() {
	if h.opts.PluginsDir == "" {
		return
	}
	infos, problems, err := discover(h.opts.PluginsDir)
	if err != nil {
		h.log.Error("rescanning the plugins directory failed: keeping the plugins as they are", "error", err)
		return
	}
	// Fingerprints read files: compute them before taking h.mu, which Get takes on every call.
	fps := make(map[string]string, len(infos))
	for _, info := range infos {
		fps[info.ID] = fingerprint(info)
	}
	var changed []string
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	present := map[string]bool{}
	for _, info := range infos {
		present[info.ID] = true
		if _, standalone := h.opts.Addresses[info.ID]; standalone {
			continue
		}
		fp := fps[info.ID]
		e, ok := h.entries[info.ID]
		switch {
		case !ok:
			e = h.addEntry(info, fp)
			slices.Sort(h.order)
			h.log.Info("plugin installed", "plugin", info.ID, "version", info.Version, "dir", info.Dir)
			if h.started && !h.opts.Lazy && info.Backend {
				h.superviseLocked(e)
			}
			changed = append(changed, info.ID)
		case e.fingerprint != fp:
			e.fingerprint = fp
			e.mu.Lock()
			prev := e.info
			e.info = info
			e.mu.Unlock()
			h.log.Info("plugin files changed: upgrading", "plugin", info.ID, "version", info.Version, "previous_version", prev.Version)
			if e.supervised {
				select {
				case e.upgrade <- struct{}{}:
				default:
				}
			}
			changed = append(changed, info.ID)
		}
	}
	for _, id := range slices.Clone(h.order) {
		if _, standalone := h.opts.Addresses[id]; present[id] || standalone {
			continue
		}
		e := h.entries[id]
		delete(h.entries, id)
		h.order = slices.DeleteFunc(h.order, func(o string) bool { return o == id })
		e.removedOnce.Do(func() { close(e.removed) })
		if !e.supervised {
			h.metrics.forget(id) // never started: no supervisor forgets it
		}
		h.log.Info("plugin removed: stopping it", "plugin", id)
		changed = append(changed, id)
	}
	for _, p := range problems {
		if !slices.Contains(h.problems, p) {
			h.log.Error("skipping invalid plugin", "path", p.Path, "error", p.Error)
		}
	}
	h.problems = problems
	h.mu.Unlock()
	for _, id := range changed {
		h.notify(id)
	}
}

// watch runs Rescan every interval until the host stops.
func (h *Host) watch(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-h.stopCh:
			return
		case <-t.C:
			h.Rescan()
		}
	}
}
