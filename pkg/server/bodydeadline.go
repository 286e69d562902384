package server

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

// bodyReadTimeouts counts request bodies that did not arrive within --body-read-timeout.
var bodyReadTimeouts = metrics.NewCounter(&metrics.CounterOpts{
	Name:           "dpa_request_body_read_timeouts_total",
	Help:           "Request bodies that did not arrive within --body-read-timeout (the connection is closed).",
	StabilityLevel: metrics.ALPHA,
})

func init() { legacyregistry.MustRegister(bodyReadTimeouts) }

// drainLimit is how much of a body a handler left unread is read (and thrown away) so the
// connection can serve its next request, as net/http does after a handler.
const drainLimit = 256 << 10

// withBodyReadDeadline bounds how long a client may take to send a request body, on every
// path — the resource API, the reviews, the data plane, the UI's sign-in — from the moment
// its headers arrived, before authentication, so that nobody holds a connection open by
// trickling a body (with or without a credential). The deadline ends when the body is read
// to its end; a handler that answers without reading it (a 401, a 403) gets the rest read
// within the same deadline. Upgrades (exec, port-forward, websockets) carry no body and keep
// their connection. Headers have k8s.io/apiserver's own deadline (32 s) before this.
func withBodyReadDeadline(next http.Handler, timeout time.Duration) http.Handler {
	if timeout <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || isUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			next.ServeHTTP(w, r)
			return
		}
		b := &deadlineBody{ReadCloser: r.Body, rc: rc}
		r.Body = b
		next.ServeHTTP(w, r)
		if !b.done && !b.timedOut {
			// What the handler left unread is read now, within the deadline.
			_, _ = io.CopyN(io.Discard, b, drainLimit)
		}
		if b.timedOut && r.ProtoMajor == 1 {
			// The answer is out; the connection goes. net/http would keep it when the body
			// was short enough to drain (a read error does not count as an early close) and
			// read what the client still trickles as its next request. (HTTP/2 resets the
			// stream itself.)
			if conn, _, err := rc.Hijack(); err == nil {
				_ = conn.Close()
			}
		}
	})
}

// deadlineBody ends the read deadline when the body is read to its end and counts a body
// that did not arrive in time.
type deadlineBody struct {
	io.ReadCloser
	rc             *http.ResponseController
	done, timedOut bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF && !b.done:
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	case errors.Is(err, os.ErrDeadlineExceeded) && !b.timedOut:
		b.timedOut = true
		bodyReadTimeouts.Inc()
	}
	return n, err
}

// isUpgrade reports whether r asks to switch protocols (its connection is then the stream).
func isUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}
