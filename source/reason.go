package source

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Reason classifies a failed read or call. The values are the `reason`
// label of license_poll_failures_total and
// license_sidecar_upstream_failures_total, part of the metric contract.
type Reason string

const (
	ReasonTimeout     Reason = "timeout"
	ReasonConnection  Reason = "connection"
	ReasonHTTP4xx     Reason = "http_4xx"
	ReasonHTTP5xx     Reason = "http_5xx"
	ReasonRateLimited Reason = "rate_limited"
	ReasonDecode      Reason = "decode"    // the bytes are not (complete) documents
	ReasonInvalid     Reason = "invalid"   // well-formed, but not what the source's API allows
	ReasonTooLarge    Reason = "too_large" // a response over max_response_bytes
)

// Reasons lists every Reason, so counters can start at zero for each.
var Reasons = []Reason{
	ReasonTimeout, ReasonConnection, ReasonHTTP4xx, ReasonHTTP5xx,
	ReasonRateLimited, ReasonDecode, ReasonInvalid, ReasonTooLarge,
}

// Error is a failed read or call of a source. Its message never holds the
// URL, a token or a response body beyond the source's own error code and
// message.
type Error struct {
	Reason     Reason
	Op         string        // "GET licenses", "GET sessions page 3", "POST terminate"
	Status     int           // HTTP status, 0 when none was received or the source is not HTTP
	Code       string        // the source's error code, if it sent one
	RetryAfter time.Duration // how long the source asked to wait (Retry-After), 0 if it did not
	Detail     string
}

func (e *Error) Error() string {
	s := e.Op + ": " + string(e.Reason)
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Code != "" {
		s += " code=" + e.Code
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		s += "; the credential or API link was rejected, check the source's url and authorization"
	} else if e.Reason == ReasonHTTP4xx {
		s += "; this is a configuration problem, not retried quickly"
	}
	return s
}

// ReasonOf returns the reason of err, or "" when err is not an *Error.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// RetryAfterOf returns the wait the source asked for, or 0.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
