// Package filewatch notices changed configuration files the one way dpa does it everywhere
// (provisioning, access control): a fingerprint of names, sizes and modification times —
// stat only, never the contents — checked by one poll loop. Reading files again is each
// caller's own business, and so is keeping the last good configuration when a reload fails.
package filewatch

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"sort"
	"time"
)

// Sum fingerprints paths: each path itself (a missing one counts as missing, so its
// appearance is a change) and, for a directory, the name, size and modification time of every
// entry in it (one level down, in name order).
func Sum(paths ...string) uint64 {
	h := fnv.New64a()
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			fmt.Fprintf(h, "%s:missing;", p)
			continue
		}
		fmt.Fprintf(h, "%s:%d:%d;", p, fi.Size(), fi.ModTime().UnixNano())
		if !fi.IsDir() {
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			fmt.Fprintf(h, "%s:unreadable;", p)
			continue
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		for _, e := range entries {
			if info, err := e.Info(); err == nil {
				fmt.Fprintf(h, "%s/%s:%d:%d;", p, e.Name(), info.Size(), info.ModTime().UnixNano())
			}
		}
	}
	return h.Sum64()
}

// Poll calls reload every interval, until ctx ends, whenever changed reports a change.
func Poll(ctx context.Context, interval time.Duration, changed func() bool, reload func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if changed() {
				reload()
			}
		}
	}
}

// Watch calls reload whenever Sum(paths...) is not what it was at the previous check (at
// first: when Watch was called), checked every interval until ctx ends.
func Watch(ctx context.Context, interval time.Duration, paths []string, reload func()) {
	last := Sum(paths...)
	Poll(ctx, interval, func() bool {
		sum := Sum(paths...)
		if sum == last {
			return false
		}
		last = sum
		return true
	}, reload)
}
