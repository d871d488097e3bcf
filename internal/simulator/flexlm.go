package simulator

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// The simulated FlexLM account: a triad of license servers with three
// vendor daemons, beside the CSI account, on the same simulated clock.
// Its load follows the same working week (Simulator.shape) but draws from
// a generator of its own, so the CSI sessions for a seed are what they
// were before FlexLM existed. Every name here is made up.

// FlexLMServers are the triad, the master first; FlexLMPort their port.
var FlexLMServers = []string{"flex-a", "flex-b", "flex-c"}

// FlexLMPort is the triad's lmgrd port, as lmstat prints it.
const FlexLMPort = "27000"

const (
	flexServerVersion = "v11.19.1"
	// flexArrivalsPerUserHour is the checkout request rate per user at the
	// busiest hour.
	flexArrivalsPerUserHour = 1.0
	flexUsers               = 40
	flexFirstHandle         = 100
)

type flexVendor struct{ name, version string }

var flexVendors = []flexVendor{{"kestrel", "v11.19.1"}, {"tidalsim", "v11.19.1"}, {"vertexcad", "v11.18.3"}}

// flexBlock is one version block of a feature: one INCREMENT line.
type flexBlock struct {
	version  string
	typ      string // floating, nodelocked, uncounted
	seats    int64  // 0 for uncounted
	expires  int    // days after the start date; -1 permanent, -2 "1-jan-0"
	hostID   string // node-locked and uncounted blocks
	host     string // node-locked: the one host allowed; "" any
	reserved []flexReservation
}

type flexReservation struct {
	count      int64
	kind, name string
}

type flexFeature struct {
	name     string
	vendor   int
	blocks   []flexBlock
	weight   float64 // share of checkout requests
	licenses []int64 // seats a checkout takes, drawn uniformly
	borrow   float64 // share of checkouts that are borrowed (linger)
}

func (f *flexFeature) uncounted() bool { return f.blocks[0].typ == flexUncounted }

const (
	flexFloating   = "floating"
	flexNodelocked = "nodelocked"
	flexUncounted  = "uncounted"
)

// flexFeatures is the account. TS_FLOOD2D mixes a floating and a
// node-locked block; KS_SOLVER and VX_DESIGN have two floating blocks;
// KS_VIEWER and TS_REPORTER are uncounted; KS_HPC checks out several
// seats at once; KS_ACOUSTIC and VX_RENDER are small and queue at peaks.
var flexFeatures = []flexFeature{
	{name: "KS_SOLVER", vendor: 0, weight: 3, blocks: []flexBlock{
		{version: "2024.1", typ: flexFloating, seats: 12, expires: 200, reserved: []flexReservation{{1, "GROUP", "analysts"}}},
		{version: "2023.2", typ: flexFloating, seats: 4, expires: -1},
	}},
	{name: "KS_PREPOST", vendor: 0, weight: 3, borrow: 0.1, blocks: []flexBlock{
		{version: "2024.1", typ: flexFloating, seats: 10, expires: 90},
	}},
	{name: "KS_HPC", vendor: 0, weight: 1.5, licenses: []int64{4, 8, 16}, blocks: []flexBlock{
		{version: "2024.1", typ: flexFloating, seats: 64, expires: 200},
	}},
	{name: "KS_ACOUSTIC", vendor: 0, weight: 1, blocks: []flexBlock{
		{version: "2024.1", typ: flexFloating, seats: 2, expires: 60},
	}},
	{name: "KS_VIEWER", vendor: 0, weight: 1.5, blocks: []flexBlock{
		{version: "2024.1", typ: flexUncounted, expires: -2, hostID: "ANY"},
	}},
	{name: "TS_HYDRO", vendor: 1, weight: 2, blocks: []flexBlock{
		{version: "8.3", typ: flexFloating, seats: 8, expires: 30, reserved: []flexReservation{{2, "USER", "hlead"}}},
	}},
	{name: "TS_FLOOD2D", vendor: 1, weight: 1.2, blocks: []flexBlock{
		{version: "8.3", typ: flexFloating, seats: 3, expires: 30},
		{version: "8.1", typ: flexNodelocked, seats: 1, expires: -1, hostID: "7c2e91a04b3d", host: "eng-007"},
	}},
	{name: "TS_SEWER", vendor: 1, weight: 0.8, blocks: []flexBlock{
		{version: "8.3", typ: flexFloating, seats: 4, expires: 30},
	}},
	{name: "TS_GIS_LINK", vendor: 1, weight: 1, borrow: 0.5, blocks: []flexBlock{
		{version: "3.0", typ: flexFloating, seats: 6, expires: 150},
	}},
	{name: "TS_REPORTER", vendor: 1, weight: 1, blocks: []flexBlock{
		{version: "8.3", typ: flexUncounted, expires: -1, hostID: "ANY"},
	}},
	{name: "VX_DESIGN", vendor: 2, weight: 4, blocks: []flexBlock{
		{version: "12.0", typ: flexFloating, seats: 20, expires: 365, reserved: []flexReservation{{2, "GROUP", "design-leads"}}},
		{version: "11.5", typ: flexFloating, seats: 5, expires: 20, reserved: []flexReservation{{1, "HOST", "eng-012"}}},
	}},
	{name: "VX_DRAFT", vendor: 2, weight: 3, blocks: []flexBlock{
		{version: "12.0", typ: flexFloating, seats: 15, expires: 365},
	}},
	{name: "VX_RENDER", vendor: 2, weight: 1, licenses: []int64{1, 2}, blocks: []flexBlock{
		{version: "12.0", typ: flexFloating, seats: 3, expires: 365},
	}},
	{name: "VX_PLOT", vendor: 2, weight: 1, blocks: []flexBlock{
		{version: "12.0", typ: flexFloating, seats: 10, expires: 365},
	}},
	{name: "VX_CAM", vendor: 2, weight: 0.5, blocks: []flexBlock{
		{version: "12.0", typ: flexNodelocked, seats: 1, expires: 120, hostID: "0f3a9c21b7e4", host: "eng-021"},
	}},
}

// The pinned FlexLM checkouts, for the sidecar's demo users: bob's
// floating KS_SOLVER seat (terminable), bob's borrowed TS_GIS_LINK seat
// and carol's floating VX_DESIGN seat. The load model never ends them.
const (
	FlexBobUser   = "bob"
	FlexBobHost   = "ws-bob"
	FlexCarolUser = "carol"
	FlexCarolHost = "ws-carol"
)

type flexUser struct{ login, host, display string }

// flexSession is one checkout, or one queued request. Immutable but for
// gone.
type flexSession struct {
	feat, block   int
	user          flexUser
	handle        int64
	start         time.Time // whole minutes: lmstat prints no seconds
	licenses      int64
	linger        time.Duration // > 0: borrowed
	queued        bool
	pinned        bool
	gone          bool
	queuedRetries int
}

type flexEvent struct {
	at   time.Time
	seq  uint64
	sess *flexSession
	// retry: a queued request's wait ends; else a checkout ends.
	retry bool
}

type flexEvents []flexEvent

func (h flexEvents) Len() int { return len(h) }
func (h flexEvents) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h flexEvents) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *flexEvents) Push(x any)   { *h = append(*h, x.(flexEvent)) }
func (h *flexEvents) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// flexModel is the FlexLM account's state; guarded by Simulator.mu.
type flexModel struct {
	rng         *rand.Rand
	users       []flexUser
	live        []*flexSession // checkouts and queued requests, by handle
	events      flexEvents
	seq         uint64
	nextHandle  int64
	nextArrival time.Time
	totalWeight float64
	fault       FlexFault
	lmstat      int64 // GET /flexlm/lmstat requests
	removes     []LmremoveCall
}

func newFlexModel(seed int64) *flexModel {
	m := &flexModel{
		rng:        rand.New(rand.NewPCG(uint64(seed), 0x666c65786c6d0001)),
		nextHandle: flexFirstHandle,
		fault:      FlexFault{Kind: FlexFaultNone},
	}
	for i := range flexUsers {
		// Distinct pairs: 7 and 13 are coprime with 40.
		first := firstNames[(i*7)%len(firstNames)]
		last := lastNames[(i*13)%len(lastNames)]
		host := fmt.Sprintf("eng-%03d", i+1)
		display := host
		if i%3 == 0 {
			display = host + ":0.0"
		}
		m.users = append(m.users, flexUser{login: lower(first[:1] + last), host: host, display: display})
	}
	for _, f := range flexFeatures {
		m.totalWeight += f.weight
	}
	return m
}

// warmStartFlex builds the FlexLM account and runs its load over the week
// before the start, like the CSI demo's.
func (s *Simulator) warmStartFlex() {
	m := newFlexModel(s.seed)
	s.flex = m
	from := s.start.Add(-warmStart)
	s.flexAdd(0, 0, flexUser{FlexBobUser, FlexBobHost, FlexBobHost}, s.start.Add(-90*time.Minute), 1, 0, false, true)
	s.flexAdd(8, 0, flexUser{FlexBobUser, "lt-bob", "lt-bob"}, s.start.Add(-30*time.Hour), 1, 5*24*time.Hour, false, true)
	s.flexAdd(10, 0, flexUser{FlexCarolUser, FlexCarolHost, FlexCarolHost + ":0.0"}, s.start.Add(-40*time.Minute), 1, 0, false, true)
	m.nextArrival = from.Add(s.flexGap())
	s.advanceFlex(s.start)
}

func (s *Simulator) flexGap() time.Duration {
	perHour := flexArrivalsPerUserHour * flexUsers
	return time.Duration(s.flex.rng.ExpFloat64() / perHour * float64(time.Hour))
}

func (s *Simulator) flexPush(e flexEvent) {
	s.flex.seq++
	e.seq = s.flex.seq
	heap.Push(&s.flex.events, e)
}

// advanceFlex processes the FlexLM events up to and including to.
func (s *Simulator) advanceFlex(to time.Time) {
	m := s.flex
	for {
		next, arrival := m.nextArrival, true
		if len(m.events) > 0 && !m.events[0].at.After(next) {
			next, arrival = m.events[0].at, false
		}
		if next.After(to) {
			return
		}
		if !arrival {
			e := heap.Pop(&m.events).(flexEvent)
			if e.sess.gone {
				continue
			}
			s.flexRemove(e.sess)
			if e.retry && s.mode != LoadIdle {
				s.flexRequest(e.at, e.sess.feat, e.sess.user, e.sess.licenses, e.sess.queuedRetries+1)
			}
			continue
		}
		m.nextArrival = next.Add(s.flexGap())
		if m.rng.Float64() >= s.shape(next) {
			continue
		}
		u := m.users[m.rng.IntN(len(m.users))]
		f := s.pickFeature()
		n := int64(1)
		if ls := flexFeatures[f].licenses; len(ls) > 0 {
			n = ls[m.rng.IntN(len(ls))]
		}
		if s.mode != LoadIdle {
			s.flexRequest(next, f, u, n, 0)
		}
	}
}

func (s *Simulator) pickFeature() int {
	x := s.flex.rng.Float64() * s.flex.totalWeight
	for i, f := range flexFeatures {
		if x < f.weight {
			return i
		}
		x -= f.weight
	}
	return len(flexFeatures) - 1
}

// flexRequest is user u asking for n seats of feature f at t: a checkout
// when a block has them free, else a queued request (once or twice) or
// nothing.
func (s *Simulator) flexRequest(t time.Time, f int, u flexUser, n int64, tries int) {
	m := s.flex
	for _, x := range m.live {
		if x.feat == f && x.user.login == u.login {
			return // already running it, or waiting for it
		}
	}
	feat := &flexFeatures[f]
	if b := s.flexFreeBlock(f, u.host, n); b >= 0 {
		var linger time.Duration
		if feat.borrow > 0 && m.rng.Float64() < feat.borrow {
			linger = 24*time.Hour + time.Duration(m.rng.Int64N(int64(4*24*time.Hour)))
			linger = linger.Truncate(time.Hour)
			u = flexUser{u.login, "lt" + strings.TrimPrefix(u.host, "eng"), "lt" + strings.TrimPrefix(u.host, "eng")}
		}
		x := s.flexAdd(f, b, u, t, n, linger, false, false)
		end := linger
		if linger == 0 || m.rng.Float64() < 0.35 { // a borrow may come back early
			end = s.flexLength(t)
			if linger > 0 {
				end = min(end, linger)
			}
		}
		s.flexPush(flexEvent{at: t.Add(end), sess: x})
		return
	}
	if tries < 2 && m.rng.Float64() < 0.6 {
		x := s.flexAdd(f, 0, u, t, n, 0, true, false)
		x.queuedRetries = tries
		wait := 3*time.Minute + time.Duration(m.rng.Int64N(int64(17*time.Minute)))
		s.flexPush(flexEvent{at: t.Add(wait), sess: x, retry: true})
	}
}

// flexFreeBlock is the first block of feature f with n seats free for a
// user on host, or -1.
func (s *Simulator) flexFreeBlock(f int, host string, n int64) int {
	feat := &flexFeatures[f]
	for bi, b := range feat.blocks {
		switch {
		case b.typ == flexUncounted:
			return bi
		case b.host != "" && b.host != host:
			continue
		}
		used := int64(0)
		for _, r := range b.reserved {
			used += r.count
		}
		for _, x := range s.flex.live {
			if x.feat == f && x.block == bi && !x.queued {
				used += x.licenses
			}
		}
		if used+n <= b.seats {
			return bi
		}
	}
	return -1
}

// flexLength draws a checkout's length: a third kept until the end of the
// working day, the rest lognormal tasks (median 70 min, 10 min to 9 h).
func (s *Simulator) flexLength(t time.Time) time.Duration {
	rng := s.flex.rng
	if rng.Float64() < 0.3 {
		lt := t.In(s.loc)
		end := time.Date(lt.Year(), lt.Month(), lt.Day(), 16, 45, 0, 0, s.loc).
			Add(time.Duration(rng.Int64N(int64(120 * time.Minute))))
		if d := end.Sub(t); d >= time.Hour {
			return d
		}
	}
	minutes := math.Exp(math.Log(70) + 0.9*rng.NormFloat64())
	return time.Duration(min(max(minutes, 10), 540) * float64(time.Minute))
}

func (s *Simulator) flexAdd(f, b int, u flexUser, t time.Time, n int64, linger time.Duration, queued, pinned bool) *flexSession {
	m := s.flex
	x := &flexSession{feat: f, block: b, user: u, handle: m.nextHandle, start: t.Truncate(time.Minute),
		licenses: n, linger: linger, queued: queued, pinned: pinned}
	m.nextHandle++
	m.live = append(m.live, x) // handles grow, so live stays sorted by handle
	return x
}

func (s *Simulator) flexRemove(x *flexSession) {
	if x.gone {
		return
	}
	x.gone = true
	m := s.flex
	if i := slices.Index(m.live, x); i >= 0 {
		m.live = slices.Delete(m.live, i, i+1)
	}
}

// flexIdleLocked ends every FlexLM checkout and queued request that is
// neither pinned nor borrowed, as load idle does for CSI.
func (s *Simulator) flexIdleLocked() {
	for _, x := range slices.Clone(s.flex.live) {
		if !x.pinned && x.linger == 0 {
			s.flexRemove(x)
		}
	}
}

// flexExpiry is lmstat's expiry of a block, e.g. "31-dec-2026".
func (s *Simulator) flexExpiry(b *flexBlock) string {
	switch b.expires {
	case -1:
		return "permanent(no expiration date)"
	case -2:
		return "1-jan-0"
	}
	d := s.start.In(s.loc).AddDate(0, 0, b.expires)
	return fmt.Sprintf("%d-%s-%d", d.Day(), strings.ToLower(d.Month().String()[:3]), d.Year())
}

// FlexLMAccount is the FlexLM account as the simulator holds it, for tests
// to compare with what lmstat printed and the exporter exported
// (GET /-/control/flexlm).
type FlexLMAccount struct {
	SimTime  string              `json:"sim_time"`
	Features []FlexLMFeature     `json:"features"`
	Sessions []FlexLMSessionInfo `json:"sessions"`
}

// FlexLMFeature is one feature's totals, as lmstat's header and the
// exporter count them.
type FlexLMFeature struct {
	Name   string `json:"name"`
	Vendor string `json:"vendor"`
	// Type is the license_type the exporter reads from lmstat's text: the
	// type of the blocks it prints (those in use, queued for or
	// reserved), "mixed" when they differ; with none printed, floating
	// (uncounted for an uncounted feature).
	Type       string `json:"type"`
	Issued     int64  `json:"issued"` // 0 for uncounted
	InUse      int64  `json:"in_use"` // checkouts' seats plus reservations
	Reserved   int64  `json:"reserved"`
	Queued     int64  `json:"queued"` // requests waiting
	CheckedOut int64  `json:"checked_out"`
}

// FlexLMSessionInfo is one checkout or queued request.
type FlexLMSessionInfo struct {
	Feature       string `json:"feature"`
	Version       string `json:"version"`
	User          string `json:"user"`
	Host          string `json:"host"`
	Display       string `json:"display"`
	Server        string `json:"server"`
	Port          string `json:"port"`
	Handle        string `json:"handle"`
	Start         string `json:"start,omitempty"` // RFC 3339; "" when queued
	Licenses      int64  `json:"licenses"`
	Borrowed      bool   `json:"borrowed"`
	LingerSeconds int64  `json:"linger_seconds,omitempty"`
	Queued        bool   `json:"queued"`
}

// flexBlockPrinted: lmstat -a prints a block only while something of it
// is checked out, queued for or reserved.
func (s *Simulator) flexBlockPrinted(fi, bi int) bool {
	if len(flexFeatures[fi].blocks[bi].reserved) > 0 {
		return true
	}
	for _, x := range s.flex.live {
		if x.feat == fi && x.block == bi {
			return true
		}
	}
	return false
}

// FlexLM reports the FlexLM account at the simulated now.
func (s *Simulator) FlexLM() FlexLMAccount {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	return s.flexAccountLocked()
}

func (s *Simulator) flexAccountLocked() FlexLMAccount {
	a := FlexLMAccount{SimTime: ts(s.simNow)}
	for fi := range flexFeatures {
		f := &flexFeatures[fi]
		ff := FlexLMFeature{Name: f.name, Vendor: flexVendors[f.vendor].name}
		for bi, b := range f.blocks {
			ff.Issued += b.seats
			for _, r := range b.reserved {
				ff.Reserved += r.count
			}
			switch {
			case !s.flexBlockPrinted(fi, bi):
			case ff.Type == "":
				ff.Type = b.typ
			case ff.Type != b.typ:
				ff.Type = "mixed"
			}
		}
		if ff.Type == "" {
			ff.Type = flexFloating
			if f.uncounted() {
				ff.Type = flexUncounted
			}
		}
		ff.InUse = ff.Reserved
		for _, x := range s.flex.live {
			if x.feat != fi {
				continue
			}
			if x.queued {
				ff.Queued++
				continue
			}
			ff.InUse += x.licenses
			if x.linger > 0 {
				ff.CheckedOut += x.licenses
			}
		}
		a.Features = append(a.Features, ff)
	}
	for _, x := range s.flex.live {
		f := &flexFeatures[x.feat]
		si := FlexLMSessionInfo{Feature: f.name, Version: f.blocks[x.block].version, User: x.user.login, Host: x.user.host,
			Display: x.user.display, Server: FlexLMServers[0], Port: FlexLMPort, Handle: fmt.Sprint(x.handle),
			Licenses: x.licenses, Borrowed: x.linger > 0, LingerSeconds: int64(x.linger / time.Second), Queued: x.queued}
		if !x.queued {
			si.Start = ts(x.start)
		}
		a.Sessions = append(a.Sessions, si)
	}
	return a
}
