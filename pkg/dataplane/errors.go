package dataplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
)

// ReasonNotImplemented is the Status reason of a 501: the route's plugin does not implement
// the call. Kubernetes defines no reason for 501; this one names it.
const ReasonNotImplemented metav1.StatusReason = "NotImplemented"

// NotInstalledRetryAfter is the Retry-After of the 503 for a route whose plugin is not
// installed.
const NotInstalledRetryAfter = 10 * time.Second

// statusClientClosed is logged/counted when the client went away (nginx convention).
const statusClientClosed = 499

// httpError is an error with a Kubernetes Status rendering.
type httpError struct {
	code       int
	reason     metav1.StatusReason
	msg        string
	allow      string
	retryAfter time.Duration
	cause      error
}

func (e *httpError) Error() string { return e.msg }
func (e *httpError) Unwrap() error { return e.cause }

func errBadRequest(format string, args ...any) *httpError {
	return &httpError{code: http.StatusBadRequest, reason: metav1.StatusReasonBadRequest, msg: fmt.Sprintf(format, args...)}
}

func errForbidden(format string, args ...any) *httpError {
	return &httpError{code: http.StatusForbidden, reason: metav1.StatusReasonForbidden, msg: fmt.Sprintf(format, args...)}
}

func errNotFound(format string, args ...any) *httpError {
	return &httpError{code: http.StatusNotFound, reason: metav1.StatusReasonNotFound, msg: fmt.Sprintf(format, args...)}
}

func errMethod(method, allow string) *httpError {
	return &httpError{code: http.StatusMethodNotAllowed, reason: metav1.StatusReasonMethodNotAllowed,
		msg: fmt.Sprintf("method %s is not allowed here (allowed: %s)", method, allow), allow: allow}
}

func errTooLarge(limit int64) *httpError {
	return &httpError{code: http.StatusRequestEntityTooLarge, reason: metav1.StatusReasonRequestEntityTooLarge,
		msg: fmt.Sprintf("request body exceeds the limit of %d bytes", limit)}
}

// classify maps an error from the plugin provider, a gRPC call or our own checks to an
// httpError. op names what failed ("QueryData", ...).
func classify(err error, pluginID, op string) *httpError {
	var he *httpError
	if errors.As(err, &he) {
		return he
	}
	var ue *backendplugin.UnavailableError
	if errors.As(err, &ue) {
		return &httpError{code: http.StatusServiceUnavailable, reason: metav1.StatusReasonServiceUnavailable,
			msg: ue.Error(), retryAfter: ue.RetryAfter, cause: err}
	}
	if errors.Is(err, backendplugin.ErrNotFound) {
		// The route exists; the plugin may be installed any moment (the plugins directory is
		// followed), so clients are told when to look again, as for any other 503.
		return &httpError{code: http.StatusServiceUnavailable, reason: metav1.StatusReasonServiceUnavailable,
			msg: fmt.Sprintf("plugin %s is not installed", pluginID), retryAfter: NotInstalledRetryAfter, cause: err}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errTooLarge(mbe.Limit)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &httpError{code: http.StatusGatewayTimeout, reason: metav1.StatusReasonTimeout,
			msg: fmt.Sprintf("plugin %s: %s timed out", pluginID, op), cause: err}
	}
	if errors.Is(err, context.Canceled) {
		return &httpError{code: statusClientClosed, reason: metav1.StatusReasonUnknown,
			msg: "client closed the request", cause: err}
	}
	if s, ok := status.FromError(err); ok {
		msg := fmt.Sprintf("plugin %s: %s: %s", pluginID, op, s.Message())
		switch s.Code() {
		case codes.DeadlineExceeded:
			return &httpError{code: http.StatusGatewayTimeout, reason: metav1.StatusReasonTimeout,
				msg: fmt.Sprintf("plugin %s: %s timed out", pluginID, op), cause: err}
		case codes.Canceled:
			return &httpError{code: statusClientClosed, reason: metav1.StatusReasonUnknown, msg: msg, cause: err}
		case codes.Unavailable:
			return &httpError{code: http.StatusServiceUnavailable, reason: metav1.StatusReasonServiceUnavailable,
				msg: msg, retryAfter: time.Second, cause: err}
		case codes.ResourceExhausted:
			return &httpError{code: http.StatusRequestEntityTooLarge, reason: metav1.StatusReasonRequestEntityTooLarge, msg: msg, cause: err}
		case codes.Unimplemented:
			return &httpError{code: http.StatusNotImplemented, reason: ReasonNotImplemented,
				msg: fmt.Sprintf("plugin %s does not implement %s", pluginID, op), cause: err}
		case codes.Internal:
			// The request could not even be encoded for the plugin: protobuf strings must be
			// UTF-8 (checkInput catches the usual places; this catches the rest). The
			// client's input, so a 400.
			if strings.Contains(s.Message(), "error while marshaling") {
				return errBadRequest("the request cannot be sent to plugin %s: %s (text must be valid UTF-8)", pluginID, s.Message())
			}
		}
		return &httpError{code: http.StatusBadGateway, reason: metav1.StatusReasonInternalError, msg: msg, cause: err}
	}
	return &httpError{code: http.StatusBadGateway, reason: metav1.StatusReasonInternalError,
		msg: fmt.Sprintf("plugin %s: %s: %v", pluginID, op, err), cause: err}
}

// writeStatus writes err as a metav1.Status with HTTP status == code.
func writeStatus(w http.ResponseWriter, he *httpError) {
	if he.code == statusClientClosed {
		// Nobody is listening; record the code for logs/metrics only.
		if sw, ok := w.(*statusWriter); ok {
			sw.status = statusClientClosed
		}
		return
	}
	h := w.Header()
	if he.allow != "" {
		h.Set("Allow", he.allow)
	}
	if he.retryAfter > 0 {
		secs := int64((he.retryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	writeJSON(w, he.code, statusFor(he.code, he.reason, he.msg))
}

func statusFor(code int, reason metav1.StatusReason, msg string) *metav1.Status {
	return &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Message:  msg,
		Reason:   reason,
		Code:     int32(code),
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(statusFor(code, metav1.StatusReasonInternalError, "encoding response: "+err.Error()))
	}
	writeRawJSON(w, code, b)
}

func writeRawJSON(w http.ResponseWriter, code int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte{'\n'})
}
