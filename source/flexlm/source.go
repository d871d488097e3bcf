package flexlm

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/license-monitor/license-monitor/source"
)

// The capabilities FlexLM has. Denials answers ErrNotSupported without
// denials_log.
var (
	_ source.Source      = (*Source)(nil)
	_ source.Terminator  = (*Source)(nil)
	_ source.ExtraSeries = (*Source)(nil)
	_ source.Denials     = (*Source)(nil)
	_ source.RawReader   = (*Source)(nil)
	_ io.Closer          = (*Source)(nil)
	_ source.HostChecker = (*Config)(nil)
)

// Source reads one FlexLM license server (or triad) with lmutil.
//
// One lmstat run answers a whole poll, but the poller asks for the
// licenses and the sessions separately, sometimes at once, and for the
// extra series after them. So a run is shared: a call joins the current
// run unless a call of its own kind already used it or it finished more
// than reuseWindow ago, and otherwise starts the next one. A poll's
// Licenses, EachSession and Extra thus read the same answer. Two polls of
// one Source at once could pair one's licenses with the other's sessions;
// the collector polls a source one poll at a time, and the sidecar shares
// concurrent reads (internal/sidecar).
type Source struct {
	server string
	run    runner
	loc    *time.Location
	now    func() time.Time

	mu  sync.Mutex
	cur *sharedRun

	vendorsMu sync.Mutex
	vendors   map[string]string // feature -> vendor, from earlier answers' blocks
	types     map[string]string // feature -> license type, from the last answer

	tail *tailer // denials_log's; nil without one
	raw  rawRead // the last ReadRaw's, for the probe
}

// reuseWindow is how long a finished run still serves the other calls of
// its poll; polls are at least 5 s apart (internal/config).
const reuseWindow = 2 * time.Second

type kind int

const (
	kindLicenses kind = iota
	kindSessions
	kindExtra
	numKinds
)

type sharedRun struct {
	done     chan struct{}
	snap     *snapshot
	err      error
	finished time.Time
	used     [numKinds]bool
}

// New builds a Source from a validated Config.
func New(c *Config) (*Source, error) {
	if err := validateServers(c.LicenseServer); err != nil {
		return nil, fmt.Errorf("license_server: %w", err)
	}
	lmutil := c.Lmutil
	if lmutil == "" {
		lmutil = "lmutil"
	}
	max := c.MaxResponseBytes
	if max <= 0 {
		max = DefaultMaxResponseBytes
	}
	s := &Source{
		server:  c.LicenseServer,
		run:     runner{lmutil: lmutil, env: newEnv(c.Timezone), maxBytes: max},
		loc:     c.Location(),
		now:     time.Now,
		vendors: map[string]string{},
	}
	if c.denialsLog != "" {
		s.tail = newTailer(c.denialsLog, s.loc, func() time.Time { return s.now() }, s.licenseType)
	}
	return s, nil
}

// licenseType is a feature's license type in the last lmstat answer, ""
// when it listed none: a denial takes it, so that it counts under the
// feature's license labels.
func (s *Source) licenseType(feature string) string {
	s.vendorsMu.Lock()
	defer s.vendorsMu.Unlock()
	return s.types[feature]
}

// EachDenial reads the DENIED lines that denials_log gained since the
// last call (the first call starts at its end) and hands visit the
// denials of the last day, at most 10,000, that are at or after since.
// Without denials_log it answers source.ErrNotSupported.
func (s *Source) EachDenial(ctx context.Context, since time.Time, visit func(*source.Denial)) error {
	if s.tail == nil {
		return source.ErrNotSupported
	}
	return s.tail.eachDenial(ctx, since, visit)
}

// Close closes denials_log; the collector calls it when it stops polling
// the source.
func (s *Source) Close() error {
	if s.tail == nil {
		return nil
	}
	return s.tail.Close()
}

// Host is the license_server value: port@host entries, no secret.
func (s *Source) Host() string { return s.server }

// read returns the snapshot for a call of kind k, joining or starting a
// run as the type's comment says.
func (s *Source) read(ctx context.Context, k kind) (*snapshot, error) {
	s.mu.Lock()
	r := s.cur
	fresh := r != nil && !r.used[k] && (r.finished.IsZero() || s.now().Sub(r.finished) <= reuseWindow)
	if !fresh {
		r = &sharedRun{done: make(chan struct{})}
		s.cur = r
	}
	r.used[k] = true
	s.mu.Unlock()
	if fresh {
		select {
		case <-r.done:
			return r.snap, r.err
		case <-ctx.Done():
			return nil, &source.Error{Reason: source.ReasonTimeout, Op: "lmstat", Detail: "the poll's timeout passed"}
		}
	}
	snap, err := s.lmstat(ctx)
	s.mu.Lock()
	r.snap, r.err, r.finished = snap, err, s.now()
	s.mu.Unlock()
	close(r.done)
	return snap, err
}

// lmstat runs lmutil lmstat -a once and maps its answer. -i is not run:
// its counts come from the license file rather than the server, and
// lmstat -a already prints the expiry of every version block in use.
func (s *Source) lmstat(ctx context.Context) (*snapshot, error) {
	_, snap, err := s.lmstatOut(ctx)
	if err != nil {
		return nil, err
	}
	return snap, nil
}

// lmstatOut is lmstat, also returning lmutil's output (nil when lmutil
// printed none that counts: it did not run, timed out or said too much).
func (s *Source) lmstatOut(ctx context.Context) ([]byte, *snapshot, error) {
	const op = "lmstat"
	out, exitErr, err := s.run.run(ctx, op, "lmstat", "-a", "-c", s.server)
	if err != nil {
		return nil, nil, err
	}
	st, err := Parse(out, s.now(), s.loc)
	if err != nil {
		return out, &snapshot{status: st}, &source.Error{Reason: source.ReasonInvalid, Op: op, Detail: err.Error()}
	}
	if err := judge(op, st, exitErr); err != nil {
		return out, &snapshot{status: st}, err
	}
	s.vendorsMu.Lock()
	defer s.vendorsMu.Unlock()
	snap := mapStatus(st, s.server, s.vendors)
	s.types = make(map[string]string, len(snap.licenses))
	for _, l := range snap.licenses {
		s.types[l.Product] = l.Type
	}
	return out, snap, nil
}

// judge decides whether a parsed answer is a successful poll: it is when
// at least one license server is up, even with a triad member down, or
// when lmstat printed features without server lines.
func judge(op string, st *Status, exitErr error) error {
	up := 0
	for _, sv := range st.Servers {
		if sv.Up {
			up++
		}
	}
	switch {
	case up > 0:
		return nil
	case len(st.Servers) == 0 && len(st.Errors) == 0 && len(st.Features) > 0:
		return nil // features without the server lines: the server answered
	case len(st.Servers) > 0 || len(st.Errors) > 0:
		detail := "no license server is up"
		if len(st.Errors) > 0 {
			detail += ": " + st.Errors[0]
		} else {
			detail += ": " + st.Servers[0].Name + ": " + st.Servers[0].Detail
		}
		return &source.Error{Reason: source.ReasonConnection, Op: op, Detail: shorten(detail)}
	case exitErr != nil && !st.sawHeader:
		return &source.Error{Reason: source.ReasonConnection, Op: op, Detail: exitErr.Error() + " without printing a status"}
	case !st.sawHeader:
		return &source.Error{Reason: source.ReasonDecode, Op: op, Detail: "the output is not lmstat's"}
	default:
		return &source.Error{Reason: source.ReasonInvalid, Op: op, Detail: "lmstat printed neither a license server line nor a feature"}
	}
}

// Licenses reads the features of one lmstat answer as licenses.
func (s *Source) Licenses(ctx context.Context) (*source.Snapshot, error) {
	snap, err := s.read(ctx, kindLicenses)
	if err != nil {
		return nil, err
	}
	return &source.Snapshot{Licenses: append([]source.License(nil), snap.licenses...)}, nil
}

// EachSession hands visit every checkout of the same answer.
func (s *Source) EachSession(ctx context.Context, visit func(*source.Session)) error {
	snap, err := s.read(ctx, kindSessions)
	if err != nil {
		return err
	}
	var one source.Session
	for i := range snap.sessions {
		one = snap.session(i)
		visit(&one)
	}
	return nil
}

// Extra returns the FlexLM series of the same answer: license_server_up,
// license_vendor_daemon_up, license_seats_reserved and
// license_queued_requests.
func (s *Source) Extra(ctx context.Context) ([]source.Series, error) {
	snap, err := s.read(ctx, kindExtra)
	if err != nil {
		return nil, err
	}
	out := make([]source.Series, len(snap.extra))
	for i, x := range snap.extra {
		x.Labels = append([]source.Label(nil), x.Labels...)
		out[i] = x
	}
	return out, nil
}

// Terminable: only floating checkouts that are not borrowed. A borrowed
// seat lives on the user's machine; node-locked and uncounted seats are
// not the server's to take back.
func (s *Source) Terminable(sess *source.Session, licenseType string) (bool, string) {
	if sess.CheckedOut {
		return false, source.CodeCheckedOut
	}
	if licenseType != TypeFloating {
		return false, source.CodeNotTerminable
	}
	return true, ""
}

// Terminate ends session id with lmremove, after a fresh lmstat finds it:
// the id is a hash that includes the start, so a handle the server has
// since given to another checkout does not match. Sent once, never
// retried.
func (s *Source) Terminate(ctx context.Context, id string) error {
	const op = "lmremove"
	snap, err := s.lmstat(ctx)
	if err != nil {
		return err
	}
	var found *session
	for i := range snap.sessions {
		if snap.sessions[i].ID == id {
			found = &snap.sessions[i]
			break
		}
	}
	switch {
	case found == nil:
		return &source.Error{Reason: source.ReasonHTTP4xx, Op: op, Status: 404, Detail: "no such session"}
	case found.user.Borrowed:
		return &source.Error{Reason: source.ReasonHTTP4xx, Op: op, Status: 409, Code: source.CodeCheckedOut, Detail: "the seat is borrowed"}
	case !found.floating:
		return &source.Error{Reason: source.ReasonHTTP4xx, Op: op, Status: 409, Code: source.CodeNotTerminable, Detail: "not a floating seat"}
	}
	args, ok := lmremoveArgs(s.server, snap.licenses[found.lic].Product, found.user)
	if !ok {
		return &source.Error{Reason: source.ReasonInvalid, Op: op, Detail: "the session's fields are not safe to pass to lmremove"}
	}
	out, exitErr, err := s.run.run(ctx, op, args...)
	if err != nil {
		return err
	}
	if exitErr != nil {
		return &source.Error{Reason: source.ReasonConnection, Op: op, Detail: exitErr.Error() + ": " + shorten(firstLine(out))}
	}
	return nil
}

// lmremoveArgs is `lmremove -c <license_server> -h <feature> <server
// host> <port> <handle>`. Every value comes from lmstat's output, so each
// is checked not to look like an option or hold a space.
func lmremoveArgs(licenseServer, feature string, u *User) ([]string, bool) {
	for _, v := range []string{feature, u.Server, u.Port, u.Handle} {
		if v == "" || v[0] == '-' || strings.ContainsAny(v, " \t\x00") {
			return nil, false
		}
	}
	if !validHost(u.Server) || !allDigits(u.Port) || !allDigits(u.Handle) {
		return nil, false
	}
	return []string{"lmremove", "-c", licenseServer, "-h", feature, u.Server, u.Port, u.Handle}, true
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	line, _, _ := strings.Cut(s, "\n")
	return line
}
