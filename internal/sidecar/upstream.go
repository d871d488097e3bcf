package sidecar

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/license-monitor/license-monitor/source"
)

// upstreamResult describes a failed call briefly: reason, status, code.
// *source.Error never holds the URL or a token.
func upstreamResult(err error) string {
	var ue *source.Error
	if !errors.As(err, &ue) {
		return "error"
	}
	s := string(ue.Reason)
	if ue.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", ue.Status)
	}
	if ue.Code != "" {
		s += " code=" + ue.Code
	}
	return s
}

// upstreamFailed counts and logs a failed upstream call. *source.Error
// never holds the URL or a token, so its text is safe to log.
func (s *Server) upstreamFailed(err error) {
	if r := source.ReasonOf(err); r != "" {
		s.upstreamErrors.WithLabelValues(string(r)).Inc()
	}
	s.logger.Warn("upstream call failed", "err", err)
}

// viewReader lets concurrent page and JSON views share one upstream read
// instead of each reading every page of sessions. It keeps nothing once a
// read ends, so a view is never older than its request. Terminate requests
// do not use it: each reads fresh for its decision.
type viewReader struct {
	src     Upstream
	timeout time.Duration
	group   singleflight.Group
}

const viewKey = "snapshot"

// invalidate makes later views start a new read, after a terminate.
func (r *viewReader) invalidate() { r.group.Forget(viewKey) }

// read runs in the first caller's goroutine, so no read outlives every
// request; the others wait for it, at most the timeout.
func (r *viewReader) read(ctx context.Context) (*source.Snapshot, error) {
	v, err, _ := r.group.Do(viewKey, func() (any, error) {
		// Not cancelled when the first caller leaves: others may be waiting.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
		defer cancel()
		return source.ReadAll(rctx, r.src)
	})
	snap, _ := v.(*source.Snapshot)
	return snap, err
}
