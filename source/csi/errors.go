package csi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Reason classifies a failed call. The values are the `reason` label of
// license_poll_failures_total and are part of the metric contract.
type Reason string

const (
	ReasonTimeout     Reason = "timeout"
	ReasonConnection  Reason = "connection"
	ReasonHTTP4xx     Reason = "http_4xx"
	ReasonHTTP5xx     Reason = "http_5xx"
	ReasonRateLimited Reason = "rate_limited"
	ReasonDecode      Reason = "decode"    // the bytes are not (complete) JSON
	ReasonInvalid     Reason = "invalid"   // JSON, but not what docs/upstream-api.md allows
	ReasonTooLarge    Reason = "too_large" // a body over max_response_bytes
)

// Reasons lists every Reason, so counters can start at zero for each.
var Reasons = []Reason{
	ReasonTimeout, ReasonConnection, ReasonHTTP4xx, ReasonHTTP5xx,
	ReasonRateLimited, ReasonDecode, ReasonInvalid, ReasonTooLarge,
}

// Error is a failed upstream call. Its message never holds the URL, the
// token or the response body beyond upstream's own error code and message.
type Error struct {
	Reason     Reason
	Op         string        // "GET licenses", "GET sessions page 3", "POST terminate"
	Status     int           // HTTP status, 0 when none was received
	Code       string        // upstream error code, if it sent one
	RetryAfter time.Duration // from Retry-After on 429 (and 503), 0 if absent
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

// RetryAfterOf returns the Retry-After upstream asked for, or 0.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// transportError classifies an error from http.Client.Do or a body read.
// The *url.Error wrapper is dropped because its text holds the full URL,
// which may carry the secret link.
func transportError(op string, err error) *Error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &Error{Reason: ReasonTimeout, Op: op, Detail: "the poll's timeout passed"}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Reason: ReasonTimeout, Op: op, Detail: "network timeout"}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return &Error{Reason: ReasonConnection, Op: op, Detail: opErr.Op + ": " + innermost(opErr).Error()}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return &Error{Reason: ReasonConnection, Op: op, Detail: "DNS lookup failed: " + dnsErr.Err}
	}
	return &Error{Reason: ReasonConnection, Op: op, Detail: innermost(err).Error()}
}

// innermost unwraps to the root cause, whose text names no URL.
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0
		}
		if secs > 86400 {
			secs = 86400
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, 24*time.Hour)
		}
	}
	return 0
}
