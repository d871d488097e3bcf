package sidecar

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"sync"
	"time"
)

// AuditSchema is the audit line's format version (docs/architecture.md#audit-line).
const AuditSchema = 3

// AuditRecord is one line of the audit log. It holds who asked and what
// happened, never a credential.
type AuditRecord struct {
	Schema         int      `json:"schema"`
	Time           string   `json:"time"` // RFC 3339, UTC
	RequestID      string   `json:"request_id"`
	Phase          string   `json:"phase"` // PhaseAttempt, PhaseOutcome or PhaseSummary
	Count          int      `json:"count"`
	Since          string   `json:"since,omitempty"` // summaries: start of the counted interval
	Identity       string   `json:"identity"`
	IdentitySource string   `json:"identity_source"`
	Roles          []string `json:"roles"`
	Remote         string   `json:"remote"`
	Source         string   `json:"source"`      // the configured source's name; empty when the path named none
	SourceType     string   `json:"source_type"` // its type: csi, flexlm
	Session        string   `json:"session"`
	Owner          string   `json:"owner"`
	Decision       string   `json:"decision"` // allow or deny
	Outcome        string   `json:"outcome"`
	Reason         string   `json:"reason"`
	Upstream       string   `json:"upstream"` // the upstream call's result, or not_called
	DryRun         bool     `json:"dry_run"`
}

// Phases of audit lines.
const (
	// PhaseAttempt is written, and synced to a file, before the upstream
	// terminate call; no attempt line, no call.
	PhaseAttempt = "attempt"
	// PhaseOutcome is a request's result: after the call, or the only line
	// of a request that called nothing upstream.
	PhaseOutcome = "outcome"
	// PhaseSummary counts the refusals of one identity and reason that
	// were not written one by one.
	PhaseSummary = "summary"
)

// Decisions in the audit log.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
)

// UpstreamNotCalled is the audit line's upstream result when no terminate
// call was sent.
const UpstreamNotCalled = "not_called"

// newRequestID ties a request's attempt and outcome lines together.
func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// auditor writes audit lines to standard output or to an append-only file,
// one Write per line so that lines never interleave. Lines to a regular
// file are synced before write returns; a pipe cannot be.
type auditor struct {
	mu     sync.Mutex
	path   string
	w      io.Writer
	file   *os.File // nil for standard output
	syncOK bool     // file is a regular file
}

// openAuditor opens path ("-" is standard output).
func openAuditor(path string, stdout io.Writer) (*auditor, error) {
	a := &auditor{}
	return a, a.reopen(path, stdout)
}

// reopen (re)opens the log, on reload, so that rotated files are let go.
func (a *auditor) reopen(path string, stdout io.Writer) error {
	var (
		w      io.Writer = stdout
		f      *os.File
		syncOK bool
	)
	if path != "-" {
		var err error
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		if err != nil {
			_ = f.Close()
			return err
		}
		w, syncOK = f, fi.Mode().IsRegular()
	}
	a.mu.Lock()
	old := a.file
	a.path, a.w, a.file, a.syncOK = path, w, f, syncOK
	a.mu.Unlock()
	if old != nil {
		return old.Close()
	}
	return nil
}

// currentPath is the path last opened.
func (a *auditor) currentPath() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.path
}

// write stamps the time and schema and writes one line: synced when the
// log is a regular file.
func (a *auditor) write(rec AuditRecord, now time.Time) error {
	rec.Schema = AuditSchema
	rec.Time = now.UTC().Format(time.RFC3339Nano)
	if rec.Roles == nil {
		rec.Roles = []string{}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.w.Write(b); err != nil {
		return err
	}
	if a.syncOK {
		return a.file.Sync()
	}
	return nil
}

func (a *auditor) close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.w = io.Discard
	if a.file != nil {
		err := a.file.Close()
		a.file, a.syncOK = nil, false
		return err
	}
	return nil
}

// refusalKey is what repeated refusals are collapsed by.
type refusalKey struct{ identity, outcome, why string }

// maxRefusalKeys bounds the collapser's memory; past it, every pending
// summary is written and the window starts over.
const maxRefusalKeys = 10000

type refusalWindow struct {
	start time.Time
	count int         // refusals since the window's first line, not written
	last  AuditRecord // the newest of them, for the summary's fields
}

// collapser writes the first refusal of an identity and reason in an
// interval as its own line and counts the rest into one summary line, so
// that nobody can fill the audit log by being refused.
type collapser struct {
	mu      sync.Mutex
	windows map[refusalKey]*refusalWindow
}

func newCollapser() *collapser { return &collapser{windows: map[refusalKey]*refusalWindow{}} }

// add takes a refusal; it returns the lines to write now, in order.
func (c *collapser) add(k refusalKey, rec AuditRecord, now time.Time, interval time.Duration) []AuditRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w, ok := c.windows[k]; ok && now.Sub(w.start) < interval {
		w.count++
		w.last = rec
		return nil
	}
	var out []AuditRecord
	if w, ok := c.windows[k]; ok && w.count > 0 {
		out = append(out, w.summary())
	}
	if _, ok := c.windows[k]; !ok && len(c.windows) >= maxRefusalKeys {
		out = append(out, c.drainLocked(now, 0)...)
	}
	c.windows[k] = &refusalWindow{start: now}
	return append(out, rec)
}

// due returns the summaries of windows over by now (all of them when
// interval is 0) and forgets those windows.
func (c *collapser) due(now time.Time, interval time.Duration) []AuditRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.drainLocked(now, interval)
}

func (c *collapser) drainLocked(now time.Time, interval time.Duration) []AuditRecord {
	var out []AuditRecord
	for k, w := range c.windows {
		if interval > 0 && now.Sub(w.start) < interval {
			continue
		}
		if w.count > 0 {
			out = append(out, w.summary())
		}
		delete(c.windows, k)
	}
	return out
}

// summary is the line that stands for w's unwritten refusals: the newest
// one's fields, its count and the interval's start.
func (w *refusalWindow) summary() AuditRecord {
	rec := w.last
	rec.Phase, rec.Count, rec.RequestID = PhaseSummary, w.count, ""
	rec.Since = w.start.UTC().Format(time.RFC3339Nano)
	return rec
}
