package ui

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Failed sign-ins slow down per client address: after freeFailures failures, each further
// attempt must wait twice as long as the one before (1s, 2s, 4s, … up to maxBackoff), and
// a success or failureWindow without failures forgets them.
const (
	freeFailures  = 5
	maxBackoff    = time.Minute
	failureWindow = 15 * time.Minute
	// maxTracked bounds the limiter's memory; the oldest entries go first.
	maxTracked = 10000
)

type failureState struct {
	count int
	last  time.Time
}

type failureLimiter struct {
	mu  sync.Mutex
	m   map[string]*failureState
	now func() time.Time
}

func newFailureLimiter(now func() time.Time) *failureLimiter {
	return &failureLimiter{m: map[string]*failureState{}, now: now}
}

// clientAddr is the client's IP (the direct peer: dpa is reached directly or through a
// proxy whose address then stands for all its clients).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func backoff(count int) time.Duration {
	if count < freeFailures {
		return 0
	}
	d := time.Second << min(count-freeFailures, 6)
	return min(d, maxBackoff)
}

// wait is how long the client must still wait before its next attempt (0: now).
func (l *failureLimiter) wait(client string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.m[client]
	if st == nil {
		return 0
	}
	now := l.now()
	if now.Sub(st.last) > failureWindow {
		delete(l.m, client)
		return 0
	}
	if until := st.last.Add(backoff(st.count)); now.Before(until) {
		return until.Sub(now)
	}
	return 0
}

func (l *failureLimiter) fail(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.m[client]
	if st == nil {
		if len(l.m) >= maxTracked {
			l.evictOldest()
		}
		st = &failureState{}
		l.m[client] = st
	}
	st.count++
	st.last = l.now()
}

func (l *failureLimiter) reset(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, client)
}

func (l *failureLimiter) evictOldest() {
	var oldest string
	var t time.Time
	for k, st := range l.m {
		if oldest == "" || st.last.Before(t) {
			oldest, t = k, st.last
		}
	}
	delete(l.m, oldest)
}
