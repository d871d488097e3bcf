package flexlm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/license-monitor/license-monitor/source"
)

// Bounds of the denials tail.
const (
	// maxTailBytes is what one EachDenial reads of the log at most; the
	// rest waits for the next call. A daemon logging a DENIED line a
	// millisecond writes about 6 MiB a minute.
	maxTailBytes = 8 << 20
	tailChunk    = 256 << 10
	// maxRecentDenials and recentDenialsAge bound the denials kept for
	// the collector's overlapping reads.
	maxRecentDenials = 10_000
	recentDenialsAge = 24 * time.Hour
)

// tailer follows a vendor daemon's debug log for its DENIED lines. It
// reads only when asked (EachDenial), so it needs no goroutine: it starts
// at the end of the log the first time, then reads what was appended,
// follows a rotation (the path names a new file: the old one is read to
// its end first) and a truncation (the file shrank below the offset: read
// from 0). It keeps no state on disk.
type tailer struct {
	path string
	loc  *time.Location
	now  func() time.Time
	// licenseType names a feature's license type, from the last lmstat.
	licenseType func(feature string) string

	mu       sync.Mutex
	started  bool
	fromEnd  bool // the next open starts at the log's end
	closed   bool // by Close: nothing more is read
	f        *os.File
	dev, ino uint64
	gen      uint64 // truncations of this file seen, for the ids
	off      int64  // the start of the first line not yet read whole
	skipping bool   // inside an overlong line: drop up to its newline
	recent   []source.Denial
	buf      []byte
	idBuf    []byte
}

func newTailer(path string, loc *time.Location, now func() time.Time, licenseType func(string) string) *tailer {
	return &tailer{path: path, loc: loc, now: now, licenseType: licenseType}
}

// eachDenial reads what the log gained and hands visit the denials kept
// that are at or after since.
func (t *tailer) eachDenial(ctx context.Context, since time.Time, visit func(*source.Denial)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var err error
	if !t.closed {
		err = t.read(ctx)
	}
	t.forget()
	for i := range t.recent {
		if d := t.recent[i]; !d.Time.Before(since) {
			visit(&d)
		}
	}
	return err
}

// read advances through the log, at most maxTailBytes.
func (t *tailer) read(ctx context.Context) error {
	if !t.started {
		// The first look starts at the end: what the log held before the
		// exporter watched is not counted (a restart is a counter reset).
		t.started, t.fromEnd = true, true
	}
	budget := maxTailBytes
	for range 3 { // the current file, then at most a new one at the path
		if t.f == nil {
			if err := t.open(); err != nil || t.f == nil {
				return err // nil: no log yet; it may appear later
			}
		}
		n, err := t.drain(ctx, budget)
		budget -= n
		if err != nil || budget <= 0 {
			return err
		}
		fi, err := os.Stat(t.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil // renamed away, the new one not created yet
		case err != nil:
			return t.fail("cannot stat", err)
		case !t.same(fi):
			// Rotated: the old file is done, its last line too.
			t.flushPartial()
			t.close()
			continue
		case fi.Size() < t.off:
			// Truncated in place: the next line is at 0.
			t.off, t.skipping = 0, false
			t.gen++
			continue
		}
		return nil
	}
	return nil
}

// open opens the log, at its end (past a partial last line) while
// fromEnd. A missing log is not an error, and one that appears later is
// new: it is read from its start. One that cannot be opened keeps
// fromEnd, as it may have been written meanwhile.
func (t *tailer) open() error {
	f, err := os.Open(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		t.fromEnd = false
		return nil
	}
	if err != nil {
		return t.fail("cannot open", err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = errors.New("not a regular file")
		}
		return t.fail("cannot read", err)
	}
	atEnd := t.fromEnd
	t.fromEnd = false
	t.f, t.gen, t.off, t.skipping = f, 0, 0, false
	t.dev, t.ino = fileID(fi)
	if atEnd && fi.Size() > 0 {
		t.off = fi.Size()
		var last [1]byte
		if _, err := f.ReadAt(last[:], t.off-1); err == nil && last[0] != '\n' {
			t.skipping = true // the daemon is writing a line: start after it
		}
	}
	return nil
}

func (t *tailer) fail(what string, err error) error {
	// Unreadable by the exporter's user: a problem of its host, as a
	// missing lmutil is (see configError).
	return &source.Error{Reason: source.ReasonHTTP4xx, Op: "denials_log", Detail: what + " " + t.path + ": " + root(err).Error()}
}

func (t *tailer) same(fi os.FileInfo) bool {
	dev, ino := fileID(fi)
	return dev == t.dev && ino == t.ino
}

func fileID(fi os.FileInfo) (dev, ino uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), st.Ino
	}
	return 0, 0
}

func (t *tailer) close() {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
}

// drain reads whole lines from off, at most budget bytes, and leaves off
// at the start of a line not yet ended.
func (t *tailer) drain(ctx context.Context, budget int) (int, error) {
	read := 0
	for read < budget {
		if err := ctx.Err(); err != nil {
			return read, err
		}
		if cap(t.buf) < tailChunk+maxDenialLine {
			t.buf = make([]byte, 0, tailChunk+maxDenialLine)
		}
		buf := t.buf[:min(tailChunk, budget-read)]
		n, err := t.f.ReadAt(buf, t.off)
		read += n
		buf = buf[:n]
		for len(buf) > 0 {
			nl := bytes.IndexByte(buf, '\n')
			if nl < 0 {
				break
			}
			if !t.skipping {
				t.line(buf[:nl], t.off)
			}
			t.skipping = false
			t.off += int64(nl + 1)
			buf = buf[nl+1:]
		}
		if len(buf) > maxDenialLine || (t.skipping && len(buf) > 0) {
			// A line longer than any DENIED line: drop it to its end.
			t.skipping = true
			t.off += int64(len(buf))
			buf = nil
		}
		if n == 0 || errors.Is(err, io.EOF) || len(buf) == n {
			// At the end, or a partial line: wait for its newline.
			return read, nil
		}
		if err != nil {
			return read, t.fail("cannot read", err)
		}
		if len(buf) > 0 {
			// Re-read the partial line with the next chunk.
			read -= len(buf)
		}
	}
	return read, nil
}

// flushPartial reads a rotated file's last line, which has no newline and
// never will.
func (t *tailer) flushPartial() {
	if t.skipping {
		return
	}
	b := make([]byte, maxDenialLine+1)
	n, _ := t.f.ReadAt(b, t.off)
	if n > 0 && n <= maxDenialLine {
		t.line(b[:n], t.off)
	}
}

// line keeps the denial of one log line, if it is one.
func (t *tailer) line(b []byte, at int64) {
	d, ok := parseDenied(string(b))
	if !ok {
		return
	}
	read := t.now()
	when := read
	if d.clock >= 0 {
		when = dateClock(d.clock, read, t.loc)
	}
	typ := ""
	if t.licenseType != nil {
		typ = t.licenseType(d.feature)
	}
	if len(t.recent) >= 2*maxRecentDenials {
		// Bounded within a read too: drop the oldest down to the bound.
		t.recent = append(t.recent[:0], t.recent[len(t.recent)-maxRecentDenials+1:]...)
	}
	t.recent = append(t.recent, source.Denial{
		ID:   t.id(at, b),
		Time: when, Product: d.feature, LicenseType: typ,
		User: d.user, Host: d.host, Reason: d.reason,
	})
}

// id is unique per event: the file (device, inode, truncations seen), the
// line's offset and its bytes, hashed.
func (t *tailer) id(at int64, line []byte) string {
	b := t.idBuf[:0]
	b = binary.BigEndian.AppendUint64(b, t.dev)
	b = binary.BigEndian.AppendUint64(b, t.ino)
	b = binary.BigEndian.AppendUint64(b, t.gen)
	b = binary.BigEndian.AppendUint64(b, uint64(at))
	b = append(b, line...)
	t.idBuf = b
	sum := sha256.Sum256(b)
	return "flexlm-denial-" + hex.EncodeToString(sum[:16])
}

// forget drops the denials past the bounds, oldest first.
func (t *tailer) forget() {
	cut := t.now().Add(-recentDenialsAge)
	drop := 0
	for drop < len(t.recent) && (len(t.recent)-drop > maxRecentDenials || t.recent[drop].Time.Before(cut)) {
		drop++
	}
	if drop > 0 {
		t.recent = append(t.recent[:0], t.recent[drop:]...)
	}
}

// Close closes the log.
func (t *tailer) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	t.close()
	return nil
}
