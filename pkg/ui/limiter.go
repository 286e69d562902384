package ui

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Failed credentials slow down per client address: after Limit failures within Window, each
// further attempt must wait twice as long as the one before (1s, 2s, 4s, … up to
// maxBackoff), and Window without failures forgets them. A success forgets nothing: whoever
// holds one valid token of their own could otherwise reset their address between guesses at
// everyone else's. One limiter counts the UI's sign-in and the API's bearer tokens alike
// (pkg/server), so the two are one budget per address.
const (
	// DefaultFailureLimit is how many failures an address has before it must wait.
	DefaultFailureLimit = 5
	// DefaultFailureWindow is how long an address's failures are remembered.
	DefaultFailureWindow = 15 * time.Minute
	maxBackoff           = time.Minute
	// maxTracked bounds the limiter's memory; the oldest entries go first.
	maxTracked = 10000
)

type failureState struct {
	count int
	last  time.Time
}

// FailureLimiter counts failed credentials per client address (ClientAddr).
type FailureLimiter struct {
	limit  int
	window time.Duration
	now    func() time.Time
	mu     sync.Mutex
	m      map[string]*failureState
	// tracked is len(m), read without the lock: an address-free limiter costs one atomic load.
	tracked atomic.Int64
}

// NewFailureLimiter returns a limiter that lets limit failures pass within window (a limit
// of 0 or less: no limit; a window of 0: the default). now is for tests (nil: time.Now).
func NewFailureLimiter(limit int, window time.Duration, now func() time.Time) *FailureLimiter {
	if window <= 0 {
		window = DefaultFailureWindow
	}
	if now == nil {
		now = time.Now
	}
	return &FailureLimiter{limit: limit, window: window, now: now, m: map[string]*failureState{}}
}

// ClientAddr is the client's IP (the direct peer: dpa is reached directly or through a
// proxy whose address then stands for all its clients).
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (l *FailureLimiter) backoff(count int) time.Duration {
	if count < l.limit {
		return 0
	}
	d := time.Second << min(count-l.limit, 6)
	return min(d, maxBackoff)
}

// Wait is how long the client must still wait before its next attempt (0: now).
func (l *FailureLimiter) Wait(client string) time.Duration {
	if l == nil || l.limit <= 0 || l.tracked.Load() == 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.m[client]
	if st == nil {
		return 0
	}
	now := l.now()
	if now.Sub(st.last) > l.window {
		l.delete(client)
		return 0
	}
	if until := st.last.Add(l.backoff(st.count)); now.Before(until) {
		return until.Sub(now)
	}
	return 0
}

// RetryAfter is the Retry-After header's value (whole seconds, rounded up) for a wait.
func RetryAfter(wait time.Duration) string {
	return strconv.Itoa(int((wait + time.Second - 1) / time.Second))
}

// Fail counts a failure of client.
func (l *FailureLimiter) Fail(client string) {
	if l == nil || l.limit <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	st := l.m[client]
	if st != nil && now.Sub(st.last) > l.window {
		st.count = 0
	}
	if st == nil {
		if len(l.m) >= maxTracked {
			l.evictOldest()
		}
		st = &failureState{}
		l.m[client] = st
		l.tracked.Add(1)
	}
	st.count++
	st.last = now
}

func (l *FailureLimiter) delete(client string) {
	if _, ok := l.m[client]; ok {
		delete(l.m, client)
		l.tracked.Add(-1)
	}
}

func (l *FailureLimiter) evictOldest() {
	var oldest string
	var t time.Time
	for k, st := range l.m {
		if oldest == "" || st.last.Before(t) {
			oldest, t = k, st.last
		}
	}
	l.delete(oldest)
}
