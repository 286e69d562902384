package dataplane

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// streamErrorLine is the documented event that ends a failed stream (docs/dataplane.md).
type streamErrorLine struct {
	Error *struct {
		Kind    string `json:"kind"`
		Status  string `json:"status"`
		Code    int    `json:"code"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"error"`
}

// TestStreamEndsWithTheError: when the plugin's RunStream fails, the subscription ends with
// one error event carrying the Status — as the last NDJSON line, as an SSE "error" event —
// after the messages sent before the failure; a stream the plugin ends normally has none.
func TestStreamEndsWithTheError(t *testing.T) {
	e := newEnv(t, nil)
	get := func(t *testing.T, channel string, sse bool) []string {
		t.Helper()
		req, _ := http.NewRequest("GET", e.srv.URL+dsPath("/namespaces/default/datasources/ds1/stream/"+channel), nil)
		if sse {
			req.Header.Set("Accept", "text/event-stream")
		}
		client := e.srv.Client()
		client.Timeout = 10 * time.Second
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("the stream did not end: %v (%q)", err, b)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("HTTP %d %s", resp.StatusCode, b)
		}
		if sse {
			return strings.Split(strings.TrimSuffix(string(b), "\n\n"), "\n\n")
		}
		return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	for _, mode := range []string{"ndjson", "sse"} {
		sse := mode == "sse"
		data := func(s string) string {
			if sse {
				return "data: " + s
			}
			return s
		}
		t.Run(mode+" plugin error", func(t *testing.T) {
			events := get(t, "fail-"+mode, sse)
			want := []string{data(`{"hello":"fail-` + mode + `"}`), data(`{"n":0}`), data(`{"n":1}`)}
			if len(events) != len(want)+1 || strings.Join(events[:len(want)], "|") != strings.Join(want, "|") {
				t.Fatalf("events = %q, want %q and the error", events, want)
			}
			last := events[len(events)-1]
			if sse {
				if !strings.HasPrefix(last, "event: error\ndata: ") {
					t.Fatalf("last SSE event = %q, want an error event", last)
				}
				last = strings.TrimPrefix(last, "event: error\ndata: ")
			}
			if strings.Contains(last, "\n") {
				t.Fatalf("the error event is not one line: %q", last)
			}
			var got streamErrorLine
			if err := json.Unmarshal([]byte(last), &got); err != nil || got.Error == nil {
				t.Fatalf("error event %q: %v", last, err)
			}
			if g := *got.Error; g.Kind != "Status" || g.Status != "Failure" || g.Code != http.StatusBadGateway ||
				g.Reason != "InternalError" || !strings.Contains(g.Message, "RunStream") || !strings.Contains(g.Message, "the stream broke after 2 messages") {
				t.Errorf("error event = %s", last)
			}
		})
		t.Run(mode+" normal end", func(t *testing.T) {
			events := get(t, "end-"+mode, sse)
			want := []string{data(`{"hello":"end-` + mode + `"}`), data(`{"n":0}`), data(`{"n":1}`)}
			if strings.Join(events, "|") != strings.Join(want, "|") {
				t.Fatalf("events = %q, want %q and nothing else", events, want)
			}
		})
	}
}
