package csi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/license-monitor/license-monitor/source"
)

// transportError classifies an error from http.Client.Do or a body read.
// The *url.Error wrapper is dropped because its text holds the full URL,
// which may carry the secret link.
func transportError(op string, err error) *source.Error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &source.Error{Reason: source.ReasonTimeout, Op: op, Detail: "the poll's timeout passed"}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &source.Error{Reason: source.ReasonTimeout, Op: op, Detail: "network timeout"}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return &source.Error{Reason: source.ReasonConnection, Op: op, Detail: opErr.Op + ": " + innermost(opErr).Error()}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return &source.Error{Reason: source.ReasonConnection, Op: op, Detail: "DNS lookup failed: " + dnsErr.Err}
	}
	return &source.Error{Reason: source.ReasonConnection, Op: op, Detail: innermost(err).Error()}
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
