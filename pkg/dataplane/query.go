package dataplane

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/grafana/grafana-plugin-sdk-go/backend/gtime"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	dsapi "github.com/grafana/grafana-plugin-sdk-go/experimental/apis/datasource/v0alpha1"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/identityheaders"
)

// Query defaults, as in Grafana.
const (
	defaultRefID         = "A"
	defaultMaxDataPoints = 100
	defaultIntervalMS    = 1000
	defaultFrom          = "now-6h"
	defaultTo            = "now"
)

// forwardedHeaders are the request headers Grafana passes to QueryData/CheckHealth (besides
// every X-Rule-* and X-Grafana-* header).
var forwardedHeaders = []string{
	"FromAlert", "X-Cache-Skip", "X-Dashboard-Uid", "X-Dashboard-Title", "X-Panel-Id",
	"X-Panel-Title", "X-Panel-Plugin-Id", "X-Query-Group-Id", "X-Datasource-Uid",
	"Accept-Language",
}

// queryHeaders copies Grafana's known query headers into a plugin header map, both under the
// SDK's "http_" prefix convention and (for FromAlert/X-Cache-Skip and friends) plainly.
func queryHeaders(h http.Header, org int64) map[string]string {
	out := map[string]string{}
	add := func(k, v string) {
		out["http_"+k] = v
		out[k] = v
	}
	for _, k := range forwardedHeaders {
		if v := h.Get(k); v != "" {
			add(k, v)
		}
	}
	for k, vs := range h {
		if len(vs) == 0 {
			continue
		}
		if (strings.HasPrefix(k, "X-Rule-") || strings.HasPrefix(k, "X-Grafana-")) && !identityheaders.Is(k) {
			add(k, vs[0])
		}
	}
	// Grafana's frontend names its org in X-Grafana-Org-Id and Grafana acts in that org only
	// after checking the user's membership; here the namespace is the org, so a plugin that
	// reads the header gets the call's org, never the caller's claim.
	if h.Get("X-Grafana-Org-Id") != "" && org > 0 {
		add("X-Grafana-Org-Id", strconv.FormatInt(org, 10))
	}
	return out
}

func parseTime(tr gtime.TimeRange, now time.Time) (from, to time.Time, err error) {
	tr.Now = now
	from, ok := relativeTime(tr.From, now)
	if !ok {
		if from, err = tr.ParseFrom(); err != nil {
			return from, to, fmt.Errorf("invalid from %q: %v", tr.From, err)
		}
	}
	to, ok = relativeTime(tr.To, now)
	if !ok {
		if to, err = tr.ParseTo(); err != nil {
			return from, to, fmt.Errorf("invalid to %q: %v", tr.To, err)
		}
	}
	if from.Unix() <= 0 && tr.From != "0" {
		// gtime maps some malformed input to the epoch: never run a query over 1970 silently.
		return from, to, fmt.Errorf("invalid from %q", tr.From)
	}
	if to.Before(from) {
		return from, to, fmt.Errorf("invalid time range: to %q is before from %q", tr.To, tr.From)
	}
	return from, to, nil
}

// relativeTime evaluates the commonest time range expressions, "now" and "now-<n>s|m|h"
// (at most 6 digits), as gtime does — datemath moves now by n whole seconds, minutes or
// hours, and rounding up (ParseTo) only matters for "/" rounding, which this form has none
// of — without gtime's grammar-based parser, which cost ~15 µs per query (6 % of dpa's CPU
// per request in docs/benchmarks.md). Anything else is gtime's: ok is false.
// TestRelativeTime and FuzzRelativeTime check it against gtime.
func relativeTime(s string, now time.Time) (t time.Time, ok bool) {
	if s == "now" {
		return now, true
	}
	n, ok := strings.CutPrefix(s, "now-")
	if !ok || len(n) < 2 || len(n) > 7 {
		return t, false
	}
	var unit time.Duration
	switch n[len(n)-1] {
	case 's':
		unit = time.Second
	case 'm':
		unit = time.Minute
	case 'h':
		unit = time.Hour
	default:
		return t, false
	}
	v := 0
	for _, c := range n[:len(n)-1] {
		if c < '0' || c > '9' {
			return t, false
		}
		v = v*10 + int(c-'0')
	}
	return now.Add(-time.Duration(v) * unit), true
}

// buildQueryRequest translates Grafana's query body into a plugin QueryDataRequest.
func (c *call) buildQueryRequest(body []byte) (*pluginv2.QueryDataRequest, []string, *httpError) {
	var req dsapi.QueryDataRequest
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil, errBadRequest("request body is empty: expected {\"from\",\"to\",\"queries\":[...]}")
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, nil, errBadRequest("invalid query body: %v", err)
	}
	if len(req.Queries) == 0 {
		return nil, nil, errBadRequest("no queries in request")
	}
	if max := c.h.opts.MaxQueries; len(req.Queries) > max {
		return nil, nil, errBadRequest("%d queries in one request; the limit is %d (--max-queries-per-request)", len(req.Queries), max)
	}
	now := time.Now()
	if req.From == "" {
		req.From = defaultFrom
	}
	if req.To == "" {
		req.To = defaultTo
	}
	from, to, err := parseTime(gtime.NewTimeRange(req.From, req.To), now)
	if err != nil {
		return nil, nil, errBadRequest("%v", err)
	}
	out := &pluginv2.QueryDataRequest{
		Headers: queryHeaders(c.r.Header, c.org),
		Format:  pluginv2.DataFrameFormat_JSON,
		Queries: make([]*pluginv2.DataQuery, 0, len(req.Queries)),
	}
	order := make([]string, 0, len(req.Queries))
	seen := map[string]bool{}
	for i := range req.Queries {
		q := &req.Queries[i]
		if q.RefID == "" {
			q.RefID = defaultRefID
		}
		if !utf8.ValidString(q.RefID) || !utf8.ValidString(q.QueryType) {
			return nil, nil, errBadRequest("query %d: refId and queryType must be valid UTF-8", i)
		}
		if seen[q.RefID] {
			return nil, nil, errBadRequest("duplicate refId %q", q.RefID)
		}
		seen[q.RefID] = true
		if ref := q.Datasource; ref != nil {
			if ref.UID != "" && ref.UID != c.t.uid {
				return nil, nil, errBadRequest("query %s: datasource uid %q does not match %q from the path", q.RefID, ref.UID, c.t.uid)
			}
			if ref.Type != "" && ref.Type != c.e.pluginID {
				return nil, nil, errBadRequest("query %s: datasource type %q does not match plugin %q", q.RefID, ref.Type, c.e.pluginID)
			}
		}
		qFrom, qTo := from, to
		if q.TimeRange != nil {
			qFrom, qTo, err = parseTime(gtime.NewTimeRange(q.TimeRange.From, q.TimeRange.To), now)
			if err != nil {
				return nil, nil, errBadRequest("query %s: %v", q.RefID, err)
			}
			q.TimeRange = nil // plugins expect no timeRange in the query JSON
		}
		pq := &pluginv2.DataQuery{
			RefId:         q.RefID,
			QueryType:     q.QueryType,
			MaxDataPoints: q.MaxDataPoints,
			IntervalMS:    int64(q.IntervalMS),
			TimeRange:     &pluginv2.TimeRange{FromEpochMS: qFrom.UnixMilli(), ToEpochMS: qTo.UnixMilli()},
		}
		if pq.MaxDataPoints <= 0 {
			pq.MaxDataPoints = defaultMaxDataPoints
		}
		if pq.IntervalMS <= 0 {
			pq.IntervalMS = defaultIntervalMS
		}
		pq.Json, err = json.Marshal(q)
		if err != nil {
			return nil, nil, errBadRequest("query %s: %v", q.RefID, err)
		}
		out.Queries = append(out.Queries, pq)
		order = append(order, q.RefID)
	}
	return out, order, nil
}

func init() {
	handle(v0alpha1.DataPlaneServiceServiceTypeQuery, serviceHandler{prepare: (*call).prepareQuery})
}

// prepareQuery reads and translates the query body (400 for anything malformed) before the
// plugin is asked for.
func (c *call) prepareQuery(w http.ResponseWriter) (pluginCall, *httpError) {
	body, herr := c.readBody(w)
	if herr != nil {
		return nil, herr
	}
	preq, order, herr := c.buildQueryRequest(body)
	if herr != nil {
		return nil, herr
	}
	return func(ctx context.Context, w http.ResponseWriter) { c.query(ctx, w, preq, order) }, nil
}

func (c *call) query(ctx context.Context, w http.ResponseWriter, preq *pluginv2.QueryDataRequest, order []string) {
	preq.PluginContext = c.pluginContext()
	if c.plugin.DataClient == nil {
		c.fail(w, classify(errUnimplemented, c.e.pluginID, "QueryData"))
		return
	}
	resp, err := c.plugin.QueryData(ctx, preq)
	if err != nil {
		c.failErr(w, err, "QueryData")
		return
	}
	// The answer is written as it is encoded, a refId at a time: dpa holds the plugin's
	// response and one frame's JSON, never the whole JSON answer besides.
	code := queryStatus(resp, order)
	if code != http.StatusOK {
		c.err = fmt.Errorf("query failed with status %d", code)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	bw := queryWriters.Get().(*bufio.Writer)
	bw.Reset(w)
	if err := writeQueryResults(bw, resp, order); err == nil {
		_ = bw.WriteByte('\n')
		_ = bw.Flush()
	}
	bw.Reset(nil)
	queryWriters.Put(bw)
}

// queryWriters pools the 32 KiB buffers query answers are encoded through (the profile
// showed one allocated per request).
var queryWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 32<<10) }}

// queryStatus is the HTTP status of a query answer: 200, or the first failed query's status
// (400 when it gave none), in request order, as the plugin reported them.
func queryStatus(resp *pluginv2.QueryDataResponse, order []string) int {
	for _, refID := range order {
		if r := resp.GetResponses()[refID]; r != nil && (r.Error != "" || r.Status >= 400) {
			if r.Status == 0 || r.Status < 400 {
				return http.StatusBadRequest
			}
			return int(r.Status)
		}
	}
	return http.StatusOK
}

// writeQueryResults writes {"results":{refId:{status,frames,error,errorSource}}} splicing
// the plugin's JSON frames and converting Arrow frames (see frameJSON), refIds in request
// order, then any the plugin added. As in Grafana, every result has "frames" (an empty list
// when the plugin sent none). A frame that cannot be decoded fails its own refId (502,
// errorSource "plugin"), never the other refIds.
func writeQueryResults(w io.Writer, resp *pluginv2.QueryDataResponse, order []string) error {
	ew := &errWriter{w: w}
	ew.str(`{"results":{`)
	first := true
	write := func(refID string, r *pluginv2.DataResponse) {
		status, errMsg, errSource := int(r.Status), r.Error, r.ErrorSource
		// Decode every frame before writing any, so a bad frame fails the refId cleanly.
		frames := make([][]byte, 0, len(r.Frames))
		for i, f := range r.Frames {
			j, err := frameJSON(f, r.Format)
			if err != nil {
				status, errSource = http.StatusBadGateway, "plugin"
				errMsg = fmt.Sprintf("frame %d of the plugin's answer cannot be decoded: %v", i, err)
				frames = frames[:0]
				break
			}
			frames = append(frames, j)
		}
		failed := errMsg != "" || status >= 400
		if status == 0 {
			status = http.StatusOK
			if failed {
				status = http.StatusBadRequest
			}
		}
		if !first {
			ew.str(",")
		}
		first = false
		k, _ := json.Marshal(refID)
		ew.bytes(k)
		ew.str(`:{"status":` + strconv.Itoa(status) + `,"frames":[`)
		for i, f := range frames {
			if i > 0 {
				ew.str(",")
			}
			ew.bytes(f)
		}
		ew.str("]")
		if errMsg != "" {
			e, _ := json.Marshal(errMsg)
			ew.str(`,"error":`)
			ew.bytes(e)
		}
		if errSource != "" {
			e, _ := json.Marshal(errSource)
			ew.str(`,"errorSource":`)
			ew.bytes(e)
		}
		ew.str("}")
	}
	done := make(map[string]bool, len(order))
	for _, refID := range order {
		if r, ok := resp.GetResponses()[refID]; ok && r != nil {
			write(refID, r)
			done[refID] = true
		}
	}
	for refID, r := range resp.GetResponses() { // responses for refIds we did not send
		if !done[refID] && r != nil {
			write(refID, r)
		}
	}
	ew.str("}}")
	return ew.err
}

// errWriter keeps the first write error (a client that went away) and skips the rest.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) bytes(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *errWriter) str(s string) {
	if e.err == nil {
		_, e.err = io.WriteString(e.w, s)
	}
}

// frameJSON is one frame of a plugin's answer as frame JSON. JSON frames (asked for with
// DataFrameFormat_JSON) are passed on as they are. Plugins that ignore the format send Arrow
// IPC files: one record batch converts straight to JSON; none (a frame with zero rows or
// zero fields) or several go through the SDK's frame decoding, which handles both.
func frameJSON(b []byte, format pluginv2.DataFrameFormat) ([]byte, error) {
	if format == pluginv2.DataFrameFormat_JSON {
		if !json.Valid(b) {
			return nil, fmt.Errorf("not valid JSON")
		}
		return b, nil
	}
	r, err := ipc.NewFileReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }()
	if r.NumRecords() == 1 {
		rec, err := r.RecordBatch(0)
		if err != nil {
			return nil, err
		}
		return data.ArrowToJSON(rec, data.IncludeAll)
	}
	f, err := data.UnmarshalArrowFrame(b)
	if err != nil {
		return nil, err
	}
	return data.FrameToJSON(f, data.IncludeAll)
}
