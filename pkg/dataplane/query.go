package dataplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/grafana/grafana-plugin-sdk-go/backend/gtime"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	dsapi "github.com/grafana/grafana-plugin-sdk-go/experimental/apis/datasource/v0alpha1"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
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
func queryHeaders(h http.Header) map[string]string {
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
		if strings.HasPrefix(k, "X-Rule-") || strings.HasPrefix(k, "X-Grafana-") {
			add(k, vs[0])
		}
	}
	return out
}

func parseTime(tr gtime.TimeRange, now time.Time) (from, to time.Time, err error) {
	tr.Now = now
	from, err = tr.ParseFrom()
	if err != nil {
		return from, to, fmt.Errorf("invalid from %q: %v", tr.From, err)
	}
	to, err = tr.ParseTo()
	if err != nil {
		return from, to, fmt.Errorf("invalid to %q: %v", tr.To, err)
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
		Headers: queryHeaders(c.r.Header),
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

func (c *call) serveQuery(ctx context.Context, w http.ResponseWriter) {
	body, herr := c.readBody(w)
	if herr != nil {
		c.fail(w, herr)
		return
	}
	preq, order, herr := c.buildQueryRequest(body)
	if herr != nil {
		c.fail(w, herr)
		return
	}
	preq.PluginContext = c.pluginContext(c.t.ns)
	if c.plugin.DataClient == nil {
		c.fail(w, classify(errUnimplemented, c.e.pluginID, "QueryData"))
		return
	}
	resp, err := c.plugin.QueryData(ctx, preq)
	if err != nil {
		c.failErr(w, err, "QueryData")
		return
	}
	out, code := encodeQueryResponse(resp, order)
	if code != http.StatusOK {
		c.err = fmt.Errorf("query failed with status %d", code)
	}
	writeRawJSON(w, code, out)
}

// encodeQueryResponse writes {"results":{refId:{status,frames,error,errorSource}}} splicing
// the plugin's JSON frames and converting Arrow frames (see frameJSON). As in Grafana, every
// result has "frames" (an empty list when the plugin sent none). A frame that cannot be
// decoded fails its own refId (502, errorSource "plugin"), never the other refIds. The HTTP
// status is 200, or the first failed query's status (400 when it gave none).
func encodeQueryResponse(resp *pluginv2.QueryDataResponse, order []string) ([]byte, int) {
	var buf bytes.Buffer
	code := http.StatusOK
	buf.WriteString(`{"results":{`)
	first := true
	var frames [][]byte
	write := func(refID string, r *pluginv2.DataResponse) {
		status, errMsg, errSource := int(r.Status), r.Error, r.ErrorSource
		frames = frames[:0]
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
		if failed && code == http.StatusOK {
			code = status
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		k, _ := json.Marshal(refID)
		buf.Write(k)
		buf.WriteString(`:{"status":`)
		buf.WriteString(strconv.Itoa(status))
		buf.WriteString(`,"frames":[`)
		buf.Write(bytes.Join(frames, []byte{','}))
		buf.WriteByte(']')
		if errMsg != "" {
			buf.WriteString(`,"error":`)
			e, _ := json.Marshal(errMsg)
			buf.Write(e)
		}
		if errSource != "" {
			buf.WriteString(`,"errorSource":`)
			e, _ := json.Marshal(errSource)
			buf.Write(e)
		}
		buf.WriteByte('}')
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
	buf.WriteString(`}}`)
	return buf.Bytes(), code
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
