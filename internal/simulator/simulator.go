package simulator

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/license-monitor/license-monitor/source/csi"
)

// Tier selects the simulated account.
type Tier string

// The account tiers.
const (
	TierDemo  Tier = "demo"
	TierSmall Tier = "small"
	TierLarge Tier = "large"
	TierHuge  Tier = "huge"
)

// Tiers lists the valid tiers, demo first.
var Tiers = []Tier{TierDemo, TierSmall, TierLarge, TierHuge}

// APIPrefix is the path of the upstream API's base URL on the simulator.
const APIPrefix = "/api/license-monitor/v1"

// LoadMode is the load set by POST /-/control/load.
type LoadMode string

// The load modes.
const (
	LoadNormal   LoadMode = "normal"
	LoadSaturate LoadMode = "saturate"
	LoadIdle     LoadMode = "idle"
)

// Options configure a Simulator. The zero value of each field has a use:
// Tier "" is demo, Speed 0 is 1, Start zero is the real clock's now,
// Location nil is UTC, Logger nil discards.
type Options struct {
	Tier  Tier
	Seed  int64
	Speed float64
	Start time.Time
	// Churn makes sessions come and go by themselves: the working-hours
	// model for demo, a steady replacement rate for the tiers. Without it the
	// account stays as generated (the demo still warm-starts) and only
	// terminate and the control API change sessions.
	Churn    bool
	Token    string // "" = no bearer required
	APIKey   string // "" = no key required
	Location *time.Location
	Logger   *slog.Logger
	Now      func() time.Time // real clock source; nil = time.Now (tests inject)
}

// keepVersions is how many session snapshots stay readable by page tokens;
// cachedVersions is how many of the newest keep their encoded pages.
const (
	keepVersions   = 8
	cachedVersions = 2
)

// Simulator serves a simulated upstream License Monitor API.
type Simulator struct {
	logger    *slog.Logger
	now       func() time.Time
	realStart time.Time
	start     time.Time
	speed     float64
	loc       *time.Location
	tier      Tier
	churn     bool
	seed      int64
	acct      *account
	busiest   int // product index that saturate fills

	requests  [4]atomic.Int64 // by allEndpoints index
	hanging   atomic.Int64    // handlers held by the hang fault (tests watch it)
	done      chan struct{}
	closeOnce sync.Once

	mu           sync.Mutex
	token        string
	apiKey       string
	fault        Fault
	faultChanged chan struct{} // closed and replaced on every SetFault
	mode         LoadMode
	simNow       time.Time // simulated time processed so far
	rng          *rand.Rand
	live         []*session // every current session, in no particular order
	byID         map[string]*session
	inUse        []int64 // by license index
	checkedOut   []int64
	seq          uint64
	demo         *demoModel
	tierChurn    *tierModel
	satNext      int // round robin over users for saturate
	dirty        bool
	version      uint64
	snaps        []*snapshot // oldest first
	denials      []denialRec // by at, oldest first (denials.go)
	denialSeq    uint64
	noDenials    bool       // GET denials answers 404
	flex         *flexModel // the FlexLM account (flexlm.go)
	// The clock's control (POST /-/control/clock): while paused the
	// simulated clock stands at pausedAt; offset is what advances added.
	paused   bool
	pausedAt time.Time
	offset   time.Duration
}

// session is one license session. Everything but pos and gone is immutable
// once created, so snapshots share sessions and read them without the lock.
type session struct {
	seq         uint64
	id          string
	lic         int
	userIdx     int // account user, or -1 (pinned and control-made sessions)
	user        string
	displayName string
	host        string
	started     time.Time
	checkedOut  bool
	coExpires   *string
	pinned      bool   // never ended by the load model
	enc         []byte // the SessionDoc, encoded once

	pos  int  // index in Simulator.live; guarded by mu
	gone bool // ended; guarded by mu
}

func (x *session) doc(licenseID string) csi.SessionDoc {
	return csi.SessionDoc{
		ID:                x.id,
		LicenseID:         licenseID,
		User:              x.user,
		DisplayName:       x.displayName,
		Host:              x.host,
		StartedAt:         ts(x.started),
		CheckedOut:        x.checkedOut,
		CheckoutExpiresAt: x.coExpires,
	}
}

// snapshot is an immutable view of the sessions at one version.
type snapshot struct {
	version    uint64
	sessions   []*session
	inUse      []int64
	checkedOut []int64

	mu      sync.Mutex
	cache   bool
	pages   map[[2]int][]byte // (offset, size) -> encoded page
	licAt   string            // generated_at of licBody
	licBody []byte
}

// New builds the account and, for demo, warm-starts the load model so the
// first read looks like the start time's time of day.
func New(opts Options) (*Simulator, error) {
	if opts.Tier == "" {
		opts.Tier = TierDemo
	}
	if _, ok := tierSpecs[opts.Tier]; !ok && opts.Tier != TierDemo {
		return nil, fmt.Errorf("unknown tier %q (want demo, small, large or huge)", opts.Tier)
	}
	if opts.Speed == 0 {
		opts.Speed = 1
	}
	if !(opts.Speed > 0) || math.IsInf(opts.Speed, 0) {
		return nil, fmt.Errorf("speed must be a positive number, not %v", opts.Speed)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	realStart := opts.Now()
	if opts.Start.IsZero() {
		opts.Start = realStart
	}
	s := &Simulator{
		logger:       opts.Logger,
		now:          opts.Now,
		realStart:    realStart,
		start:        opts.Start,
		speed:        opts.Speed,
		loc:          opts.Location,
		tier:         opts.Tier,
		churn:        opts.Churn,
		seed:         opts.Seed,
		done:         make(chan struct{}),
		token:        opts.Token,
		apiKey:       opts.APIKey,
		fault:        Fault{Kind: FaultNone},
		faultChanged: make(chan struct{}),
		mode:         LoadNormal,
		rng:          rand.New(rand.NewPCG(uint64(opts.Seed), 0x6c6963656e736573)),
		byID:         map[string]*session{},
	}
	if opts.Tier == TierDemo {
		s.acct = newDemoAccount(s.rng, s.start)
		s.initCounts()
		s.warmStartDemo()
	} else {
		acct, counts := newTierAccount(s.rng, s.start, tierSpecs[opts.Tier])
		s.acct = acct
		s.initCounts()
		s.fillTier(counts)
		s.simNow = s.start
		s.tierChurn = newTierModel(s.start, len(s.live))
	}
	s.busiest = busiestProduct(s.acct)
	// After the CSI account, from a generator of its own: the CSI
	// sessions for a seed are what they were before FlexLM.
	s.warmStartFlex()
	s.simNow = s.start
	return s, nil
}

func (s *Simulator) initCounts() {
	s.inUse = make([]int64, len(s.acct.licenses))
	s.checkedOut = make([]int64, len(s.acct.licenses))
}

// busiestProduct is the product with the most cloud sign-in and cloud key
// seats: the one saturate fills.
func busiestProduct(a *account) int {
	seats := make([]int64, len(products))
	for _, l := range a.licenses {
		if l.typ == csi.TypeCloudSignIn || l.typ == csi.TypeCloudKey {
			seats[l.prod] += l.seats
		}
	}
	best := 0
	for i := range seats {
		if seats[i] > seats[best] {
			best = i
		}
	}
	return best
}

// Close ends the simulator: handlers waiting on hang or latency return.
// The simulator starts no goroutines of its own.
func (s *Simulator) Close() {
	s.closeOnce.Do(func() { close(s.done) })
}

// Requests counts API requests by endpoint: "licenses", "sessions", "terminate", "denials".
func (s *Simulator) Requests() map[string]int64 {
	m := make(map[string]int64, len(allEndpoints))
	for i, e := range allEndpoints {
		m[e] = s.requests[i].Load()
	}
	return m
}

// SetFault switches a fault on ({Kind: FaultNone} clears it), exactly like
// POST /-/control/fault.
func (s *Simulator) SetFault(f Fault) error {
	n, err := f.normalize()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = n
	close(s.faultChanged)
	s.faultChanged = make(chan struct{})
	s.logger.Info("fault set", "kind", n.Kind, "endpoints", n.Endpoints)
	return nil
}

// SetLoad changes the load mode, like POST /-/control/load.
func (s *Simulator) SetLoad(mode LoadMode) error {
	switch mode {
	case LoadNormal, LoadSaturate, LoadIdle:
	default:
		return fmt.Errorf("unknown load mode %q (want normal, saturate or idle)", mode)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	s.mode = mode
	if mode == LoadIdle {
		for _, x := range append([]*session(nil), s.live...) {
			if !x.pinned && !x.checkedOut {
				s.removeLocked(x)
			}
		}
		s.flexIdleLocked()
	}
	s.refillLocked()
	s.logger.Info("load set", "mode", mode)
	return nil
}

// SetToken replaces the bearer token API requests need ("" = none), like
// POST /-/control/token.
func (s *Simulator) SetToken(token string) {
	s.mu.Lock()
	s.token = token
	s.mu.Unlock()
}

// ControlState is the body of GET /-/control and of the control answers.
type ControlState struct {
	Fault   Fault    `json:"fault"`
	Load    LoadMode `json:"load"`
	SimTime string   `json:"sim_time"`
	// StartTime is where the simulated clock started (--start-time).
	StartTime string           `json:"start_time"`
	Requests  map[string]int64 `json:"requests"`
	Sessions  int              `json:"sessions"`
	// Denials is the number of denial records; DenialsEndpoint is false
	// while GET denials answers 404.
	Denials         int  `json:"denials"`
	DenialsEndpoint bool `json:"denials_endpoint"`
	// Paused is true while POST /-/control/clock holds the clock.
	Paused bool `json:"paused"`
	// FlexLM is the simulated FlexLM account's fault, counts and the
	// lmremove calls it got.
	FlexLM FlexLMState `json:"flexlm"`
}

// State reports what GET /-/control does.
func (s *Simulator) State() ControlState {
	s.mu.Lock()
	s.advanceLocked()
	st := ControlState{Fault: s.fault, Load: s.mode, SimTime: ts(s.simNow), StartTime: ts(s.start), Sessions: len(s.live),
		Denials: len(s.denials), DenialsEndpoint: !s.noDenials, Paused: s.paused, FlexLM: s.flexStateLocked()}
	s.mu.Unlock()
	st.Requests = s.Requests()
	return st
}

// simClockLocked maps the real clock to simulated time; it never runs back.
func (s *Simulator) simClockLocked() time.Time {
	t := s.pausedAt
	if !s.paused {
		t = s.runningClockLocked()
	}
	if t.Before(s.simNow) {
		return s.simNow
	}
	return t
}

// runningClockLocked is the simulated time the real clock gives, plus
// what advances added.
func (s *Simulator) runningClockLocked() time.Time {
	elapsed := s.now().Sub(s.realStart)
	return s.start.Add(time.Duration(float64(elapsed)*s.speed) + s.offset)
}

// SetClock pauses (true) or resumes (false) the simulated clock when
// paused is set, and moves it forward by advance, as POST /-/control/clock
// does. Resumed, the clock runs on from where it stood.
func (s *Simulator) SetClock(paused *bool, advance time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	if paused != nil && *paused && !s.paused {
		s.paused, s.pausedAt = true, s.simNow
	}
	if advance > 0 {
		if s.paused {
			s.pausedAt = s.pausedAt.Add(advance)
		} else {
			s.offset += advance
		}
	}
	if paused != nil && !*paused && s.paused {
		s.paused = false
		s.offset += s.pausedAt.Sub(s.runningClockLocked())
	}
	s.advanceLocked()
	s.logger.Info("clock set", "paused", s.paused, "sim_time", ts(s.simNow))
}

// advanceLocked runs the simulation up to the simulated now.
func (s *Simulator) advanceLocked() {
	to := s.simClockLocked()
	if s.churn {
		if s.demo != nil {
			s.advanceDemo(to)
		} else {
			s.tierChurn.advance(s, to)
		}
		s.advanceFlex(to)
	}
	s.simNow = to
	s.refillLocked()
}

// addLocked creates a session and makes it live.
func (s *Simulator) addLocked(lic, userIdx int, userEmail, display, host string, started time.Time, checkedOut bool, coExpires *string, pinned bool) *session {
	s.seq++
	x := &session{
		seq: s.seq, id: sessionID(s.seed, s.seq), lic: lic, userIdx: userIdx,
		user: userEmail, displayName: display, host: host, started: started,
		checkedOut: checkedOut, coExpires: coExpires, pinned: pinned,
	}
	enc, err := json.Marshal(x.doc(s.acct.licenses[lic].id))
	if err != nil {
		panic("simulator: encoding a session: " + err.Error())
	}
	x.enc = enc
	x.pos = len(s.live)
	s.live = append(s.live, x)
	s.byID[x.id] = x
	s.inUse[lic]++
	if checkedOut {
		s.checkedOut[lic]++
	}
	if s.demo != nil && userIdx >= 0 {
		s.demo.holds[userIdx][s.acct.licenses[lic].prod]++
	}
	s.dirty = true
	return x
}

// removeLocked ends a live session.
func (s *Simulator) removeLocked(x *session) {
	if x.gone {
		return
	}
	x.gone = true
	last := s.live[len(s.live)-1]
	s.live[x.pos] = last
	last.pos = x.pos
	s.live[len(s.live)-1] = nil
	s.live = s.live[:len(s.live)-1]
	delete(s.byID, x.id)
	s.inUse[x.lic]--
	if x.checkedOut {
		s.checkedOut[x.lic]--
	}
	if s.demo != nil && x.userIdx >= 0 {
		s.demo.holds[x.userIdx][s.acct.licenses[x.lic].prod]--
	}
	s.dirty = true
}

// sessionID is a bijective scramble of the sequence number, so ids are
// unique, look opaque and are the same for the same seed.
func sessionID(seed int64, seq uint64) string {
	z := seq ^ (uint64(seed) * 0x9e3779b97f4a7c15)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return fmt.Sprintf("S-%016x", z)
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// currentLocked returns the snapshot of the live sessions, making a new
// version only when something changed since the last one.
func (s *Simulator) currentLocked() *snapshot {
	if !s.dirty && len(s.snaps) > 0 {
		return s.snaps[len(s.snaps)-1]
	}
	s.version++
	snap := &snapshot{
		version:    s.version,
		sessions:   append([]*session(nil), s.live...),
		inUse:      append([]int64(nil), s.inUse...),
		checkedOut: append([]int64(nil), s.checkedOut...),
		cache:      true,
		pages:      map[[2]int][]byte{},
	}
	s.dirty = false
	s.snaps = append(s.snaps, snap)
	if len(s.snaps) > keepVersions {
		s.snaps[0] = nil
		s.snaps = s.snaps[1:]
	}
	// Older versions stay readable for paginations in flight, but only the
	// newest keep their encoded pages, which bounds memory under churn.
	for i := 0; i < len(s.snaps)-cachedVersions; i++ {
		old := s.snaps[i]
		old.mu.Lock()
		old.cache, old.pages, old.licBody = false, nil, nil
		old.mu.Unlock()
	}
	return snap
}

func (s *Simulator) findVersionLocked(v uint64) *snapshot {
	for _, snap := range s.snaps {
		if snap.version == v {
			return snap
		}
	}
	return nil
}

// sessionsEnvelope splits the encoding of a SessionsDoc with this token
// around its sessions array's contents, so pages are built from each
// session's stored encoding and the field names stay in wire.go.
func sessionsEnvelope(token string) (pre, post []byte) {
	sentinel := csi.SessionDoc{ID: "\x00sentinel"}
	item, _ := json.Marshal(sentinel)
	b, err := json.Marshal(csi.SessionsDoc{Sessions: []csi.SessionDoc{sentinel}, NextPageToken: token})
	if err != nil {
		panic(err)
	}
	return splitAround(b, item)
}

func licensesEnvelope(acct *account, generatedAt string) (pre, post []byte) {
	sentinel := csi.LicenseDoc{ID: "\x00sentinel"}
	item, _ := json.Marshal(sentinel)
	b, err := json.Marshal(csi.LicensesDoc{Account: csi.AccountDoc{ID: acct.id, Name: acct.name}, GeneratedAt: generatedAt, Licenses: []csi.LicenseDoc{sentinel}})
	if err != nil {
		panic(err)
	}
	return splitAround(b, item)
}

func splitAround(b, item []byte) (pre, post []byte) {
	for i := 0; i+len(item) <= len(b); i++ {
		if string(b[i:i+len(item)]) == string(item) {
			return b[:i], b[i+len(item):]
		}
	}
	panic("simulator: sentinel item not found in its envelope")
}

// page returns the encoded page [off, off+size) of the snapshot with the
// given next_page_token, from the cache when it can.
func (snap *snapshot) page(off, size int, next string, cacheable bool) []byte {
	key := [2]int{off, size}
	if cacheable {
		snap.mu.Lock()
		if b, ok := snap.pages[key]; ok {
			snap.mu.Unlock()
			return b
		}
		snap.mu.Unlock()
	}
	end := min(off+size, len(snap.sessions))
	items := snap.sessions[off:end]
	pre, post := sessionsEnvelope(next)
	n := len(pre) + len(post) + len(items)
	for _, x := range items {
		n += len(x.enc)
	}
	b := make([]byte, 0, n)
	b = append(b, pre...)
	for i, x := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, x.enc...)
	}
	b = append(b, post...)
	if cacheable {
		snap.mu.Lock()
		if snap.cache {
			snap.pages[key] = b
		}
		snap.mu.Unlock()
	}
	return b
}

// licenseDocs renders the license table of a snapshot.
func (s *Simulator) licenseDocs(snap *snapshot) []csi.LicenseDoc {
	docs := make([]csi.LicenseDoc, len(s.acct.licenses))
	for i, l := range s.acct.licenses {
		docs[i] = csi.LicenseDoc{
			ID: l.id, Product: l.product, Edition: l.edition, Version: l.version, Type: l.typ,
			Seats: csi.Int64(l.seats), InUse: csi.Int64(snap.inUse[i]),
			CheckedOut: snap.checkedOut[i], ExpiresAt: l.expires,
		}
	}
	return docs
}

func (s *Simulator) licensesBody(snap *snapshot, generatedAt string, docs []csi.LicenseDoc) []byte {
	b, err := json.Marshal(csi.LicensesDoc{
		Account:     csi.AccountDoc{ID: s.acct.id, Name: s.acct.name},
		GeneratedAt: generatedAt,
		Licenses:    docs,
	})
	if err != nil {
		panic("simulator: encoding licenses: " + err.Error())
	}
	return b
}

// cachedLicenses returns the normal licenses body, encoded once per
// snapshot version and simulated second.
func (s *Simulator) cachedLicenses(snap *snapshot, generatedAt string) []byte {
	snap.mu.Lock()
	if snap.licBody != nil && snap.licAt == generatedAt {
		b := snap.licBody
		snap.mu.Unlock()
		return b
	}
	snap.mu.Unlock()
	b := s.licensesBody(snap, generatedAt, s.licenseDocs(snap))
	snap.mu.Lock()
	if snap.cache {
		snap.licAt, snap.licBody = generatedAt, b
	}
	snap.mu.Unlock()
	return b
}
