package sidecar

import (
	"encoding/json"
	"io"
	"os"
	"sync"
	"time"
)

// AuditRecord is one line of the audit log: one decision. It holds who
// asked and what happened, never a credential.
type AuditRecord struct {
	Time           string   `json:"time"` // RFC 3339, UTC
	Identity       string   `json:"identity"`
	IdentitySource string   `json:"identity_source"`
	Roles          []string `json:"roles"`
	Remote         string   `json:"remote"`
	Session        string   `json:"session"`
	Owner          string   `json:"owner"`
	Decision       string   `json:"decision"` // allow or deny
	Outcome        string   `json:"outcome"`
	Reason         string   `json:"reason"`
	Upstream       string   `json:"upstream"` // the upstream call's result, or not_called
	DryRun         bool     `json:"dry_run"`
}

// Decisions in the audit log.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
)

// UpstreamNotCalled is the audit line's upstream result when no terminate
// call was sent.
const UpstreamNotCalled = "not_called"

// auditor writes audit lines to standard output or to an append-only file,
// one Write per line so that lines never interleave.
type auditor struct {
	mu     sync.Mutex
	path   string
	w      io.Writer
	closer io.Closer
}

// openAuditor opens path ("-" is standard output).
func openAuditor(path string, stdout io.Writer) (*auditor, error) {
	a := &auditor{}
	return a, a.reopen(path, stdout)
}

// reopen (re)opens the log, on reload, so that rotated files are let go.
func (a *auditor) reopen(path string, stdout io.Writer) error {
	var (
		w      io.Writer
		closer io.Closer
	)
	if path == "-" {
		w = stdout
	} else {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		w, closer = f, f
	}
	a.mu.Lock()
	old := a.closer
	a.path, a.w, a.closer = path, w, closer
	a.mu.Unlock()
	if old != nil {
		return old.Close()
	}
	return nil
}

// write stamps the time and writes one line.
func (a *auditor) write(rec AuditRecord, now time.Time) error {
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
	_, err = a.w.Write(b)
	return err
}

func (a *auditor) close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closer != nil {
		err := a.closer.Close()
		a.closer = nil
		a.w = io.Discard
		return err
	}
	return nil
}
