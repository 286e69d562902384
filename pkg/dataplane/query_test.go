package dataplane

import (
	"testing"
	"time"
)

// TestRelativeTime: the forms relativeTime evaluates itself, each equal to gtime's result
// (checkRelativeTime), and the forms it leaves to gtime.
func TestRelativeTime(t *testing.T) {
	nows := []time.Time{
		time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
		// a DST change in Europe/Berlin an hour before: hours are still 3,600 s
		time.Date(2026, 3, 29, 1, 30, 15, 123456789, time.FixedZone("x", 3600)),
		time.Unix(0, 0),
	}
	for _, s := range []string{"now", "now-1h", "now-6h", "now-15m", "now-30s", "now-0h", "now-01m", "now-999999h"} {
		for _, now := range nows {
			if !checkRelativeTime(t, s, now) {
				t.Errorf("%q left to gtime", s)
			}
		}
	}
	for _, s := range []string{"", "now-1d", "now-7d", "now-1w", "now-1M", "now-1y", "now-1h/h", "now/d", "now-", "now-h",
		"now+1h", "now-1H", "now-1.5h", "now--1h", "now-1h ", " now", "now-1234567h", "1700000000000", "1h", "2026-01-01"} {
		if _, ok := relativeTime(s, nows[0]); ok {
			t.Errorf("%q evaluated by relativeTime, want gtime's", s)
		}
	}
}
