package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/license-monitor/license-monitor/source/csi"
)

// Denials: CSI's "failure to obtain a license" records. The load model
// records one each time a request finds every pool the user may take
// full (tryStart), and the control API injects them, late (an `at` in the
// past) or repeated (an id already recorded), for tests without churn.
// GET denials serves them oldest `at` first, since= inclusive.

// maxDenials bounds the record: the oldest go first. A demo week has a
// few hundred.
const maxDenials = 50_000

// denialsTokenVersion marks a denials page token; session snapshot
// versions count up from 1 and never reach it.
const denialsTokenVersion = math.MaxUint64

// denialRec is one recorded denial, encoded once.
type denialRec struct {
	at  time.Time
	id  string
	enc []byte // the DenialDoc
}

// recordDenialLocked adds a denial in `at` order (after equal times, so
// a repeat or a late one lands where upstream would list it).
func (s *Simulator) recordDenialLocked(d csi.DenialDoc, at time.Time) {
	enc, err := json.Marshal(d)
	if err != nil {
		panic("simulator: encoding a denial: " + err.Error())
	}
	s.denials = slices.Insert(s.denials, s.denialIndexAfter(at), denialRec{at: at, id: d.ID, enc: enc})
	if len(s.denials) > maxDenials {
		s.denials = slices.Delete(s.denials, 0, len(s.denials)-maxDenials)
	}
}

// denialIndexAfter is where a record at `at` goes: after those as old.
func (s *Simulator) denialIndexAfter(at time.Time) int {
	i, _ := slices.BinarySearchFunc(s.denials, at, func(r denialRec, t time.Time) int {
		if r.at.After(t) {
			return 1
		}
		return -1
	})
	return i
}

// denialID scrambles the denial sequence as sessionID does, under another
// prefix and constant, so ids are unique and the same for a seed.
func denialID(seed int64, seq uint64) string {
	return "D-" + sessionID(seed^0x64656e69616c73, seq)[2:]
}

// refuseLocked records that user u was refused product p at t. The
// denial names the pool the user would have taken first; its reason is
// not_in_license_group when another pool of the product has a free seat
// the user's license group may not use. It draws nothing from the
// generator, so the load model's events are the same with or without it.
func (s *Simulator) refuseLocked(t time.Time, u, p int) {
	a := s.acct
	need := 1
	if p == a.users[u].primary {
		need = a.users[u].minRank
	}
	want, free := -1, false
	for _, i := range s.demo.pools[p] {
		l := &a.licenses[i]
		usable := l.rank == 0 || l.rank >= need
		if usable && want < 0 && (!a.users[u].exact || l.rank == need) {
			want = i
		}
		if !usable && s.inUse[i] < l.seats {
			free = true
		}
	}
	if want < 0 {
		for _, i := range s.demo.pools[p] {
			if l := &a.licenses[i]; l.rank == 0 || l.rank >= need {
				want = i
				break
			}
		}
	}
	if want < 0 {
		return
	}
	reason := csi.DenialNoSeatAvailable
	if free {
		reason = csi.DenialNotInLicenseGroup
	}
	l := &a.licenses[want]
	s.denialSeq++
	us := &a.users[u]
	s.recordDenialLocked(csi.DenialDoc{
		ID: denialID(s.seed, s.denialSeq), At: ts(t), Product: l.product, Edition: l.edition,
		LicenseType: l.typ, User: us.email, Host: us.host, Reason: reason,
	}, t.Truncate(time.Second))
}

// DenialRequest is the body of POST /-/control/denials: one denial to
// record, or with the id of a recorded one alone, that one again. The license is license_id's, or product, edition and
// license_type as given (a product /licenses does not list is allowed).
type DenialRequest struct {
	ID          string `json:"id,omitempty"` // "" = a new one; an id already recorded repeats that event, the rest ignored
	At          string `json:"at,omitempty"` // RFC 3339; "" = now (simulated); earlier = a late record
	LicenseID   string `json:"license_id,omitempty"`
	Product     string `json:"product,omitempty"`
	Edition     string `json:"edition,omitempty"`
	LicenseType string `json:"license_type,omitempty"`
	User        string `json:"user"`
	Host        string `json:"host,omitempty"`
	Reason      string `json:"reason,omitempty"` // "" = no_seat_available; any other string is kept
}

// DenialsEndpointRequest is the body of POST /-/control/denials/endpoint.
type DenialsEndpointRequest struct {
	Enabled *bool `json:"enabled"`
}

// check says what a new denial lacks.
func (b *DenialRequest) check() error {
	if b.User == "" || (b.LicenseID == "") == (b.Product == "") {
		return errors.New("user, and either license_id or product, are required")
	}
	return nil
}

func decodeDenialBody(r io.Reader) (DenialRequest, time.Time, error) {
	var b DenialRequest
	if err := decodeStrict(r, &b); err != nil {
		return b, time.Time{}, err
	}
	if err := b.check(); err != nil && b.ID == "" { // an id alone may repeat an event
		return b, time.Time{}, err
	}
	var at time.Time
	if b.At != "" {
		t, err := time.Parse(time.RFC3339, b.At)
		if err != nil {
			return b, time.Time{}, errors.New("at must be RFC 3339")
		}
		at = t
	}
	return b, at, nil
}

// AddDenial records a denial, like POST /-/control/denials. A zero at
// means the simulated now.
func (s *Simulator) AddDenial(req DenialRequest, at time.Time) (csi.DenialDoc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	if req.ID != "" {
		// An id already recorded: upstream returns that same event again.
		for _, r := range s.denials {
			if r.id == req.ID {
				var d csi.DenialDoc
				if err := json.Unmarshal(r.enc, &d); err != nil {
					return csi.DenialDoc{}, err
				}
				s.denials = slices.Insert(s.denials, s.denialIndexAfter(r.at), r)
				return d, nil
			}
		}
	}
	if err := req.check(); err != nil {
		return csi.DenialDoc{}, err
	}
	d := csi.DenialDoc{ID: req.ID, Product: req.Product, Edition: req.Edition, LicenseType: req.LicenseType,
		User: req.User, Host: req.Host, Reason: req.Reason}
	if req.LicenseID != "" {
		lic, ok := s.acct.byID[req.LicenseID]
		if !ok {
			return csi.DenialDoc{}, fmt.Errorf("unknown license_id %q", req.LicenseID)
		}
		l := &s.acct.licenses[lic]
		d.Product, d.Edition, d.LicenseType = l.product, l.edition, l.typ
	}
	if at.IsZero() {
		at = s.simNow
	}
	d.At = ts(at)
	if d.Reason == "" {
		d.Reason = csi.DenialNoSeatAvailable
	}
	if d.ID == "" {
		s.denialSeq++
		d.ID = denialID(s.seed, s.denialSeq)
	}
	s.recordDenialLocked(d, at.Truncate(time.Second))
	return d, nil
}

// SetDenialsEndpoint turns GET denials on or off (off: 404, as for an
// account without the records), like POST /-/control/denials/endpoint.
func (s *Simulator) SetDenialsEndpoint(on bool) {
	s.mu.Lock()
	s.noDenials = !on
	s.mu.Unlock()
}

func (s *Simulator) postDenial(w http.ResponseWriter, r *http.Request) {
	req, at, err := decodeDenialBody(controlBody(w, r))
	if err != nil {
		badRequest(w, err)
		return
	}
	d, err := s.AddDenial(req, at)
	if err != nil {
		badRequest(w, err)
		return
	}
	b, _ := json.Marshal(d)
	writeJSON(w, http.StatusCreated, b)
}

func (s *Simulator) postDenialsEndpoint(w http.ResponseWriter, r *http.Request) {
	var b DenialsEndpointRequest
	if err := decodeStrict(controlBody(w, r), &b); err != nil {
		badRequest(w, err)
		return
	}
	if b.Enabled == nil {
		badRequest(w, errors.New("enabled is required"))
		return
	}
	s.SetDenialsEndpoint(*b.Enabled)
	s.writeState(w)
}

// serveDenials answers GET denials?since=&page_size=&page_token=. Pages
// are offsets into the record as it is at each request: a late record
// inserted before the offset shifts one already served into the next
// page, which the client sees again (the API allows repeats) and no
// record is skipped.
func (s *Simulator) serveDenials(w http.ResponseWriter, r *http.Request, f Fault) {
	q := r.URL.Query()
	size, err := pageSize(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	var since time.Time
	if v := q.Get(csi.ParamSince); v != "" {
		if since, err = time.Parse(time.RFC3339, v); err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "since must be RFC 3339")
			return
		}
	}
	var off uint64
	if tok := q.Get(csi.ParamPageToken); tok != "" {
		v, o, err := decodeToken(s.seed, tok)
		if err != nil || v != denialsTokenVersion {
			writeError(w, http.StatusBadRequest, "invalid_page_token", errExpiredToken.Error())
			return
		}
		off = o
	}
	s.mu.Lock()
	s.advanceLocked()
	if s.noDenials {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "not_found", "this account has no denial records")
		return
	}
	first, _ := slices.BinarySearchFunc(s.denials, since, func(r denialRec, t time.Time) int { return r.at.Compare(t) })
	recs := s.denials[first:]
	start := min(off, uint64(len(recs)))
	end := min(start+uint64(size), uint64(len(recs)))
	page := slices.Clone(recs[start:end])
	more := end < uint64(len(recs))
	s.mu.Unlock()

	next := ""
	switch {
	case f.Kind == FaultEndlessPages:
		next = encodeToken(s.seed, denialsTokenVersion, end+1)
	case f.Kind == FaultRepeatToken:
		next = encodeToken(s.seed, denialsTokenVersion, start)
	case more:
		next = encodeToken(s.seed, denialsTokenVersion, end)
	}
	if f.Kind == FaultDuplicateIDs && len(page) > 0 {
		page = append(page, page[0]) // the same event again: allowed
	}
	writeBody(w, http.StatusOK, denialsPage(page, next), f)
}

// denialsPage builds a DenialsDoc from stored encodings, the envelope
// from wire.go's types.
func denialsPage(recs []denialRec, next string) []byte {
	sentinel := csi.DenialDoc{ID: "\x00sentinel"}
	item, _ := json.Marshal(sentinel)
	env, err := json.Marshal(csi.DenialsDoc{Denials: []csi.DenialDoc{sentinel}, NextPageToken: next})
	if err != nil {
		panic(err)
	}
	pre, post := splitAround(env, item)
	b := append([]byte(nil), pre...)
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, r.enc...)
	}
	return append(b, post...)
}
