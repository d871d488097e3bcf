package exposition

import (
	"io"
	"net/http"
	"time"
)

// writeChunk is the most a scraper must accept within one StallTimeout.
const writeChunk = 64 << 10

// deadlineWriter gives every chunk of a response its own write deadline,
// so a scraper that stops reading fails the write (and frees its in-flight
// slot) after StallTimeout, while one that keeps reading, however large
// the exposition, is cut off only at the scrape's overall limit.
type deadlineWriter struct {
	w     io.Writer
	rc    *http.ResponseController
	stall time.Duration
	end   time.Time // zero: no overall limit
	now   func() time.Time
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := p[:min(len(p), writeChunk)]
		deadline := d.now().Add(d.stall)
		if !d.end.IsZero() && deadline.After(d.end) {
			deadline = d.end
		}
		// ErrNotSupported (a recorder in tests, a wrapped writer): the
		// server's own WriteTimeout still applies.
		_ = d.rc.SetWriteDeadline(deadline)
		m, err := d.w.Write(c)
		n += m
		if err != nil {
			return n, err
		}
		p = p[len(c):]
	}
	return n, nil
}
