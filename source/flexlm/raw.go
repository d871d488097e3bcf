package flexlm

import (
	"context"
	"sync"

	"github.com/license-monitor/license-monitor/source"
)

// rawRead is what the probe asks of the last ReadRaw beyond its document:
// the lines the parser skipped and the people the output names.
type rawRead struct {
	mu      sync.Mutex
	skipped []int // line numbers, 1-based, at most maxSkipped
	total   int
	people  [3][]string // users, hosts, displays
}

// ReadRaw runs lmstat once, as a poll does, and hands visit lmutil's
// output as one document (endpoint "lmstat", status 0, no wire type: it
// is text). It returns the poll's snapshot, sessions included, or its
// error; the document is handed over whenever lmutil printed something,
// also when the answer fails the poll.
func (s *Source) ReadRaw(ctx context.Context, visit func(*source.RawDoc) error) (*source.Snapshot, error) {
	out, snap, err := s.lmstatOut(ctx)
	if snap != nil && snap.status != nil {
		s.keepRaw(snap)
	}
	if out != nil {
		if verr := visit(&source.RawDoc{Name: "lmstat", Endpoint: "lmstat", ContentType: "text/plain", Body: out}); verr != nil {
			return nil, verr
		}
	}
	if err != nil {
		return nil, err
	}
	res := &source.Snapshot{Licenses: append([]source.License(nil), snap.licenses...), Sessions: []source.Session{}}
	idx := source.IndexLicenses(res.Licenses)
	res.Sessions = make([]source.Session, len(snap.sessions))
	for i := range snap.sessions {
		res.Sessions[i] = snap.session(i)
		if _, ok := idx.Of(&res.Sessions[i]); !ok {
			res.UnknownLicenseSessions++
		}
	}
	return res, nil
}

// keepRaw records what SkippedLines and People answer.
func (s *Source) keepRaw(snap *snapshot) {
	st := snap.status
	r := &s.raw
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skipped, r.total = r.skipped[:0], st.SkippedTotal
	for _, sk := range st.Skipped {
		r.skipped = append(r.skipped, sk.Line)
	}
	r.people = [3][]string{}
	add := func(k int, v string) {
		if v != "" {
			r.people[k] = append(r.people[k], v)
		}
	}
	for _, f := range st.Features {
		for _, b := range f.Blocks {
			for _, list := range [][]User{b.Users, b.Queued} {
				for _, u := range list {
					add(0, u.Name)
					add(1, u.Host)
					add(2, u.Display)
				}
			}
			for _, rs := range b.Reservations {
				switch rs.Kind {
				case "USER":
					add(0, rs.Name)
				case "HOST":
					add(1, rs.Name)
				}
			}
		}
	}
}

// SkippedLines are the numbers (1-based) of the lines of the last
// ReadRaw's output that the parser did not understand, at most 1,000, and
// how many there were in all: for the probe, which shows their shapes.
func (s *Source) SkippedLines() (lines []int, total int) {
	s.raw.mu.Lock()
	defer s.raw.mu.Unlock()
	return append([]int(nil), s.raw.skipped...), s.raw.total
}

// People are the user names, hosts and displays the last ReadRaw's
// output names, queued requests and reservations included, so the probe
// can pseudonymise them where sessions alone would miss them.
func (s *Source) People() (users, hosts, displays []string) {
	s.raw.mu.Lock()
	defer s.raw.mu.Unlock()
	return append([]string(nil), s.raw.people[0]...), append([]string(nil), s.raw.people[1]...), append([]string(nil), s.raw.people[2]...)
}
