package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"k8s.io/component-base/metrics/testutil"
)

// TestBodyReadDeadline: a body that does not arrive in time loses its connection whether the
// handler reads it or answers without it (a 401); a body read to its end ends the deadline
// (a long answer afterwards is not cut); requests without a body and upgrades have none.
func TestBodyReadDeadline(t *testing.T) {
	const timeout = 300 * time.Millisecond
	mux := http.NewServeMux()
	mux.HandleFunc("/unauthorized", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusUnauthorized) })
	mux.HandleFunc("/reads", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusRequestTimeout)
			return
		}
		// The body is in: a slow answer (a stream) after it is not cut by the deadline.
		time.Sleep(2 * timeout)
		_, _ = io.WriteString(w, "done")
	})
	mux.HandleFunc("/upgrade", func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
		_ = brw.Flush()
		line, err := brw.ReadString('\n') // the client speaks after longer than the deadline
		if err != nil {
			t.Errorf("upgraded connection cut: %v", err)
			return
		}
		_, _ = brw.WriteString("echo " + line)
		_ = brw.Flush()
	})
	srv := httptest.NewServer(withBodyReadDeadline(mux, timeout))
	t.Cleanup(srv.Close)
	before, _ := testutil.GetCounterMetricValue(bodyReadTimeouts)

	send := func(t *testing.T, raw string) (net.Conn, *bufio.Reader) {
		t.Helper()
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.WriteString(conn, raw); err != nil {
			t.Fatal(err)
		}
		return conn, bufio.NewReader(conn)
	}
	// closed reads the answer and then waits for the server to close the connection; it
	// returns the status line.
	closed := func(t *testing.T, r *bufio.Reader) string {
		t.Helper()
		status, _ := r.ReadString('\n')
		if _, err := io.Copy(io.Discard, r); err != nil {
			t.Errorf("the server did not close the connection: %v", err)
		}
		return status
	}
	t.Run("trickled body, handler answers without reading it", func(t *testing.T) {
		_, r := send(t, "POST /unauthorized HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx")
		if status := closed(t, r); !strings.Contains(status, "401") {
			t.Errorf("status %q", status)
		}
	})
	t.Run("trickled body, handler reads it", func(t *testing.T) {
		_, r := send(t, "POST /reads HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx")
		if status := closed(t, r); !strings.Contains(status, "408") {
			t.Errorf("status %q", status)
		}
	})
	t.Run("whole body, slow answer", func(t *testing.T) {
		_, r := send(t, "POST /reads HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "done" {
			t.Errorf("%d %q", resp.StatusCode, b)
		}
	})
	t.Run("upgrade keeps its connection", func(t *testing.T) {
		conn, r := send(t, "GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\nContent-Length: 0\r\n\r\n")
		resp, err := http.ReadResponse(r, nil)
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("%v %v", resp, err)
		}
		time.Sleep(2 * timeout)
		fmt.Fprint(conn, "hello\n")
		if line, err := r.ReadString('\n'); err != nil || line != "echo hello\n" {
			t.Errorf("after the deadline: %q %v", line, err)
		}
	})
	after, _ := testutil.GetCounterMetricValue(bodyReadTimeouts)
	if after-before < 2 {
		t.Errorf("dpa_request_body_read_timeouts_total grew by %v, want 2 (both trickled bodies)", after-before)
	}
}
