package dataplane

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
)

func init() {
	handle(v0alpha1.DataPlaneServiceServiceTypeStream, serviceHandler{
		prepare:    (*call).prepareStream,
		selfTimed:  true,
		subscribes: func(method string) bool { return method != http.MethodPost },
	})
}

// prepareStream reads what a stream call sends before the plugin is asked for: the body to
// publish (POST), or the subscription data (GET, query parameter "data", JSON).
func (c *call) prepareStream(w http.ResponseWriter) (pluginCall, *httpError) {
	if c.r.Method == http.MethodPost {
		body, herr := c.readBody(w)
		if herr != nil {
			return nil, herr
		}
		return func(_ context.Context, w http.ResponseWriter) { c.publish(w, body) }, nil
	}
	var data []byte
	if q := c.r.URL.Query(); q.Has("data") {
		data = []byte(q.Get("data"))
		if !json.Valid(data) {
			return nil, errBadRequest("query parameter data: subscription data must be JSON")
		}
	}
	return func(_ context.Context, w http.ResponseWriter) { c.subscribe(w, data) }, nil
}

// subscribe subscribes to a plugin stream channel path. It answers Server-Sent Events when
// the client accepts text/event-stream, newline-delimited JSON otherwise. The client's
// subscription data goes to SubscribeStream; the plugin's initial data is the first event.
// Subscribers of one channel share one RunStream (see streamHub). The stream has no
// timeout: it ends when the client leaves or the plugin ends it; SubscribeStream and
// PublishStream are bounded by the type's --timeout key.
func (c *call) subscribe(w http.ResponseWriter, data []byte) {
	if c.plugin.StreamClient == nil {
		c.fail(w, classify(errUnimplemented, c.e.pluginID, "SubscribeStream"))
		return
	}
	pc := c.pluginContext()
	headers := queryHeaders(c.r.Header, c.org)
	subCtx, cancelSub := c.callCtx(c.r.Context(), c.h.timeouts[c.t.svc.index])
	sub, err := c.plugin.SubscribeStream(subCtx, &pluginv2.SubscribeStreamRequest{
		PluginContext: pc, Path: c.t.sub, Data: data, Headers: headers,
	})
	cancelSub()
	if err != nil {
		c.failErr(w, err, "SubscribeStream")
		return
	}
	switch sub.Status {
	case pluginv2.SubscribeStreamResponse_OK:
	case pluginv2.SubscribeStreamResponse_PERMISSION_DENIED:
		c.fail(w, &httpError{code: http.StatusForbidden, reason: metav1.StatusReasonForbidden,
			msg: "plugin " + c.e.pluginID + " denied the subscription to " + c.t.sub})
		return
	default:
		c.fail(w, errNotFound("stream %q not found", c.t.sub))
		return
	}

	plugin := c.plugin
	member, stream, err := c.h.streams.join(c.r.Context(), c.streamKey(), func(ctx context.Context) (pluginv2.Stream_RunStreamClient, error) {
		return plugin.RunStream(ctx, &pluginv2.RunStreamRequest{PluginContext: pc, Path: c.t.sub, Data: data, Headers: headers})
	})
	if err != nil {
		c.failErr(w, err, "RunStream")
		return
	}
	defer c.h.streams.leave(stream, member)

	sse := strings.Contains(c.r.Header.Get("Accept"), "text/event-stream")
	h := w.Header()
	if sse {
		h.Set("Content-Type", "text/event-stream")
	} else {
		h.Set("Content-Type", "application/x-ndjson")
	}
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()

	var buf bytes.Buffer
	emit := func(data []byte) error {
		buf.Reset()
		frameEvent(&buf, data, sse)
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
		return rc.Flush()
	}
	if len(sub.Data) > 0 {
		if err := emit(sub.Data); err != nil {
			return
		}
	}
	done := c.r.Context().Done()
	for {
		select {
		case <-done:
			return
		case msg, ok := <-member.ch:
			if !ok {
				c.streamEnded(w, rc, member.err, sse)
				return
			}
			if err := emit(msg); err != nil {
				c.err = err
				return
			}
		}
	}
}

// streamKey is the channel of this call's stream: Grafana's ds/<uid>/<path> or
// plugin/<id>/<path> within an org.
func (c *call) streamKey() streamKey {
	return streamKey{plugin: c.e.pluginID, namespace: c.t.ns, uid: c.t.uid, path: c.t.sub}
}

// streamEnded reports why a subscription ended: nothing when the plugin ended the stream,
// otherwise one error event built by streamError — SSE: "event: error" with it as data;
// NDJSON: it as the last line.
func (c *call) streamEnded(w http.ResponseWriter, rc *http.ResponseController, err error, sse bool) {
	if err == nil || errors.Is(err, io.EOF) {
		return
	}
	var he *httpError
	if errors.Is(err, errSlowSubscriber) {
		he = &httpError{code: http.StatusServiceUnavailable, reason: metav1.StatusReasonServiceUnavailable, msg: err.Error(), cause: err}
	} else {
		he = classify(err, c.e.pluginID, "RunStream")
	}
	c.err = he
	var buf bytes.Buffer
	if sse {
		buf.WriteString("event: error\ndata: ")
	}
	buf.Write(streamError(he))
	if sse {
		buf.WriteString("\n\n")
	} else {
		buf.WriteByte('\n')
	}
	_, _ = w.Write(buf.Bytes())
	_ = rc.Flush()
}

// streamError is the event that ends a failed stream, the same for SSE and NDJSON:
// {"error": <Status>}, the Kubernetes Status (kind "Status", code, reason, message) the
// route would have answered had the failure come before the stream started. A plugin's
// RunStream error is a 502 (503 when the plugin went away, e.g. it crashed or was upgraded);
// a subscriber dropped for falling too far behind is a 503.
func streamError(he *httpError) []byte {
	b, _ := json.Marshal(struct {
		Error *metav1.Status `json:"error"`
	}{statusFor(he.code, he.reason, he.msg)})
	return b
}

// frameEvent writes one event: "data: <json>\n\n" (SSE) or "<json>\n" (NDJSON). Non-JSON
// payloads are sent as a JSON string.
func frameEvent(buf *bytes.Buffer, data []byte, sse bool) {
	if sse {
		buf.WriteString("data: ")
	}
	if json.Valid(data) {
		if err := json.Compact(buf, data); err != nil {
			buf.Write(data)
		}
	} else {
		s, _ := json.Marshal(string(data))
		buf.Write(s)
	}
	if sse {
		buf.WriteString("\n\n")
	} else {
		buf.WriteByte('\n')
	}
}

func (c *call) publish(w http.ResponseWriter, body []byte) {
	if c.plugin.StreamClient == nil {
		c.fail(w, classify(errUnimplemented, c.e.pluginID, "SubscribeStream"))
		return
	}
	ctx, cancel := c.callCtx(c.r.Context(), c.h.timeouts[c.t.svc.index])
	defer cancel()
	resp, err := c.plugin.PublishStream(ctx, &pluginv2.PublishStreamRequest{
		PluginContext: c.pluginContext(), Path: c.t.sub, Data: body, Headers: queryHeaders(c.r.Header, c.org),
	})
	if err != nil {
		c.failErr(w, err, "PublishStream")
		return
	}
	switch resp.Status {
	case pluginv2.PublishStreamResponse_OK:
	case pluginv2.PublishStreamResponse_PERMISSION_DENIED:
		c.fail(w, &httpError{code: http.StatusForbidden, reason: metav1.StatusReasonForbidden,
			msg: "plugin " + c.e.pluginID + " denied publishing to " + c.t.sub})
		return
	default:
		c.fail(w, errNotFound("stream %q not found", c.t.sub))
		return
	}
	if len(resp.Data) > 0 {
		c.h.streams.publish(c.streamKey(), resp.Data)
	}
	out := resp.Data
	if len(out) == 0 || !json.Valid(out) {
		s, _ := json.Marshal(string(out))
		out = []byte(`{"status":"OK","data":` + string(s) + `}`)
		if len(resp.Data) == 0 {
			out = []byte(`{"status":"OK"}`)
		}
	}
	writeRawJSON(w, http.StatusOK, out)
}

func (c *call) callCtx(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}
