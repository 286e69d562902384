package dataplane

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Limits bound the data-plane requests in flight, as the API server's max-in-flight does for
// the requests it sees (data-plane requests are long-running to it, so its limit skips
// them). Streams are counted apart: they stay open for as long as a client watches.
type Limits struct {
	// Requests and RequestsPerUser bound non-stream requests in flight (all users, one user).
	Requests, RequestsPerUser int
	// Streams and StreamsPerUser bound open stream subscriptions.
	Streams, StreamsPerUser int
}

// DefaultLimits suit a 2-core machine: plugin calls take ~1 ms of CPU each, so a few hundred
// in flight already queue; one user may hold a quarter of them.
var DefaultLimits = Limits{Requests: 256, RequestsPerUser: 64, Streams: 1024, StreamsPerUser: 128}

// limitRetryAfter is the Retry-After of a 429.
const limitRetryAfter = time.Second

// inflight counts requests in flight in all and per user against a global and a per-user
// bound.
type inflight struct {
	kind                    string
	global, perUser         int
	current                 prometheus.Gauge
	rejectGlobal, rejectOne prometheus.Counter

	mu    sync.Mutex
	n     int
	users map[string]int
}

func newInflight(kind string, global, perUser int, m *metrics) *inflight {
	return &inflight{kind: kind, global: global, perUser: perUser, users: map[string]int{},
		current: m.inflight.WithLabelValues(kind), rejectGlobal: m.rejected.WithLabelValues(kind, "global"),
		rejectOne: m.rejected.WithLabelValues(kind, "user")}
}

// acquire takes a slot for user (given back with release), or returns the 429 to answer.
func (l *inflight) acquire(user string) *httpError {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.global > 0 && l.n >= l.global:
		l.rejectGlobal.Inc()
		return errTooMany(fmt.Sprintf("too many data-plane %s in flight (%d); retry", l.kind, l.global))
	case l.perUser > 0 && l.users[user] >= l.perUser:
		l.rejectOne.Inc()
		return errTooMany(fmt.Sprintf("user %q has too many data-plane %s in flight (%d); retry", user, l.kind, l.perUser))
	}
	l.n++
	l.users[user]++
	l.current.Inc()
	return nil
}

// release gives back a slot acquire took.
func (l *inflight) release(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n--
	if l.users[user]--; l.users[user] <= 0 {
		delete(l.users, user)
	}
	l.current.Dec()
}

func errTooMany(msg string) *httpError {
	return &httpError{code: http.StatusTooManyRequests, reason: metav1.StatusReasonTooManyRequests, msg: msg, retryAfter: limitRetryAfter}
}

// admit takes the request's slot: stream subscriptions count as streams, everything else as
// requests. A full limit is a 429 Status with Retry-After. (A client sending its body slowly
// holds its slot for a bounded time: the server's --body-read-timeout.)
func (c *call) admit() (release func(), _ *httpError) {
	l := c.h.calls
	if sub := c.t.svc.handler.subscribes; sub != nil && sub(c.r.Method) {
		l = c.h.subscriptions
	}
	user := c.user.GetName()
	if herr := l.acquire(user); herr != nil {
		return nil, herr
	}
	return func() { l.release(user) }, nil
}
