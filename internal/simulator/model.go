package simulator

import (
	"container/heap"
	"math"
	"slices"
	"time"

	"github.com/license-monitor/license-monitor/source/csi"
)

// The demo load model: an account-wide arrival process whose rate follows
// the working week in the account's time zone (thinned Poisson), users who
// take the best free pool their work allows ("highest level first", as
// CSI's default license group does), wait and retry a couple of times when
// every such pool is full, and sessions whose lengths mix short lognormal
// tasks with day-long ones. Check-outs run as a separate, rarer process on
// cloud key pools and last days. Events are processed strictly in simulated
// time order and only they draw from the seeded generator, so the result
// does not depend on when requests happen to advance the clock.

const (
	warmStart = 7 * 24 * time.Hour
	// arrivalsPerUserHour is the arrival rate per user at the busiest hour.
	arrivalsPerUserHour = 0.5
	// checkoutsPerHour is the account's check-out rate at the busiest hour.
	checkoutsPerHour = 0.25
	maxRetries       = 2
)

// hourShape is the relative arrival rate by local hour on a working day:
// a morning start, a lunch dip, a long afternoon tail, quiet nights.
var hourShape = [24]float64{
	0.01, 0.01, 0.01, 0.01, 0.01, 0.02, 0.05, 0.35,
	1.00, 0.95, 0.80, 0.65, 0.25, 0.85, 0.70, 0.50,
	0.35, 0.22, 0.10, 0.06, 0.04, 0.03, 0.02, 0.01,
}

func (s *Simulator) shape(t time.Time) float64 {
	lt := t.In(s.loc)
	f := hourShape[lt.Hour()]
	switch lt.Weekday() {
	case time.Saturday, time.Sunday:
		f *= 0.05
	case time.Friday:
		if lt.Hour() >= 12 {
			f *= 0.7
		}
	}
	return f
}

type eventKind uint8

const (
	evDepart eventKind = iota
	evRetry
)

type event struct {
	at    time.Time
	seq   uint64
	kind  eventKind
	sess  *session
	user  int
	prod  int
	tries int
}

type eventHeap []event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

type demoModel struct {
	events       eventHeap
	evSeq        uint64
	nextArrival  time.Time
	nextCheckout time.Time
	holds        [][]int // user x product: live sessions
	pools        [][]int // product -> shared pools, best first
}

func (s *Simulator) warmStartDemo() {
	a := s.acct
	m := &demoModel{holds: make([][]int, len(a.users)), pools: make([][]int, len(products))}
	for i := range m.holds {
		m.holds[i] = make([]int, len(products))
	}
	typeOrder := map[string]int{csi.TypeCloudSignIn: 0, csi.TypeCloudKey: 1, csi.TypeNetwork: 2}
	for i, l := range a.licenses {
		if l.typ != csi.TypeStandalone {
			m.pools[l.prod] = append(m.pools[l.prod], i)
		}
	}
	for _, p := range m.pools {
		slices.SortStableFunc(p, func(x, y int) int {
			lx, ly := a.licenses[x], a.licenses[y]
			if lx.rank != ly.rank {
				return ly.rank - lx.rank
			}
			if lx.version != ly.version {
				return compareVersions(ly.version, lx.version)
			}
			return typeOrder[lx.typ] - typeOrder[ly.typ]
		})
	}
	s.demo = m

	// The pinned sessions exist through the whole warm-up, so they never
	// push a pool over its seats, and show their documented start times.
	from := s.start.Add(-warmStart)
	s.simNow = from
	s.addLocked(a.byID[bobSignInLic], -1, BobUser, "Bob Builder", BobHost, s.start.Add(-2*time.Hour), false, nil, true)
	s.addLocked(a.byID[bobCheckoutLic], -1, BobUser, "Bob Builder", bobCheckoutHost, s.start.Add(-26*time.Hour), true,
		csi.String(ts(s.start.Add(14*24*time.Hour))), true)
	s.addLocked(a.byID[carolSignInLic], -1, CarolUser, "Carol Chen", CarolHost, s.start.Add(-45*time.Minute), false, nil, true)

	m.nextArrival = from.Add(s.expGap(s.arrivalPeak()))
	m.nextCheckout = from.Add(s.expGap(checkoutsPerHour))
	s.advanceDemo(s.start)
	s.simNow = s.start
}

func compareVersions(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *Simulator) arrivalPeak() float64 { return arrivalsPerUserHour * float64(len(s.acct.users)) }

// expGap draws the gap to the next candidate of a Poisson process with the
// given peak rate per hour.
func (s *Simulator) expGap(perHour float64) time.Duration {
	return time.Duration(s.rng.ExpFloat64() / perHour * float64(time.Hour))
}

func (s *Simulator) push(e event) {
	s.demo.evSeq++
	e.seq = s.demo.evSeq
	heap.Push(&s.demo.events, e)
}

// advanceDemo processes every event up to and including time to.
func (s *Simulator) advanceDemo(to time.Time) {
	m := s.demo
	for {
		var next time.Time
		which := 0 // 0 event, 1 arrival, 2 checkout
		if len(m.events) > 0 {
			next = m.events[0].at
		}
		if next.IsZero() || m.nextArrival.Before(next) {
			next, which = m.nextArrival, 1
		}
		if m.nextCheckout.Before(next) {
			next, which = m.nextCheckout, 2
		}
		if next.After(to) {
			return
		}
		switch which {
		case 0:
			e := heap.Pop(&m.events).(event)
			switch e.kind {
			case evDepart:
				s.removeLocked(e.sess)
			case evRetry:
				if s.mode != LoadIdle {
					s.tryStart(e.at, e.user, e.prod, e.tries)
				}
			}
		case 1:
			t := next
			m.nextArrival = t.Add(s.expGap(s.arrivalPeak()))
			if s.rng.Float64() >= s.shape(t) {
				continue
			}
			u := s.rng.IntN(len(s.acct.users))
			p := s.acct.users[u].primary
			if s.rng.Float64() < 0.2 {
				p = s.acct.users[u].secondary
			}
			if s.mode != LoadIdle {
				s.tryStart(t, u, p, 0)
			}
		case 2:
			t := next
			m.nextCheckout = t.Add(s.expGap(checkoutsPerHour))
			if s.rng.Float64() >= s.shape(t) {
				continue
			}
			u := s.rng.IntN(len(s.acct.users))
			if s.mode != LoadIdle {
				s.tryCheckout(t, u)
			}
		}
	}
}

// tryStart has user u open product p at time t.
func (s *Simulator) tryStart(t time.Time, u, p, tries int) {
	if s.demo.holds[u][p] > 0 {
		return // already running it
	}
	lic := s.findPool(u, p)
	if lic < 0 {
		// Every pool is full: upstream records the refusal; the user
		// waits a while and tries again, or gives up.
		s.refuseLocked(t, u, p)
		if tries < maxRetries && s.rng.Float64() < 0.7 {
			wait := 5*time.Minute + time.Duration(s.rng.Int64N(int64(15*time.Minute)))
			s.push(event{at: t.Add(wait), kind: evRetry, user: u, prod: p, tries: tries + 1})
		}
		return
	}
	us := &s.acct.users[u]
	x := s.addLocked(lic, u, us.email, us.name, us.host, t, false, nil, false)
	s.push(event{at: t.Add(s.sessionLength(t)), kind: evDepart, sess: x})
}

// findPool returns the license user u gets for product p, or -1 when
// every pool the user may use is full. The user's own standalone seat
// comes first, then shared pools best first.
func (s *Simulator) findPool(u, p int) int {
	a := s.acct
	for i, l := range a.licenses {
		if l.owner == u && l.prod == p && s.inUse[i] < l.seats {
			return i
		}
	}
	need := 1
	if p == a.users[u].primary {
		need = a.users[u].minRank
	}
	pools := s.demo.pools[p]
	if a.users[u].exact {
		// A license group that hands out the user's own level first.
		for _, i := range pools {
			if l := &a.licenses[i]; l.rank == need && s.inUse[i] < l.seats {
				return i
			}
		}
	}
	for _, i := range pools {
		l := &a.licenses[i]
		if (l.rank == 0 || l.rank >= need) && s.inUse[i] < l.seats {
			return i
		}
	}
	return -1
}

// sessionLength draws how long a session opened at t lasts: a third are
// kept open until the end of the working day (16:30 to 19:00 local), the
// rest are lognormal tasks (median 55 min, 10 min to 9 h).
func (s *Simulator) sessionLength(t time.Time) time.Duration {
	if s.rng.Float64() < 0.3 {
		lt := t.In(s.loc)
		end := time.Date(lt.Year(), lt.Month(), lt.Day(), 16, 30, 0, 0, s.loc).
			Add(time.Duration(s.rng.Int64N(int64(150 * time.Minute))))
		if d := end.Sub(t); d >= time.Hour {
			return d
		}
	}
	minutes := math.Exp(math.Log(55) + 0.9*s.rng.NormFloat64())
	minutes = min(max(minutes, 10), 540)
	return time.Duration(minutes * float64(time.Minute))
}

// tryCheckout has user u check a cloud key seat of their product out to
// their laptop for one to five days.
func (s *Simulator) tryCheckout(t time.Time, u int) {
	us := &s.acct.users[u]
	if s.demo.holds[u][us.primary] > 0 {
		return
	}
	lic := -1
	for _, i := range s.demo.pools[us.primary] {
		l := &s.acct.licenses[i]
		if l.typ == csi.TypeCloudKey && s.inUse[i] < l.seats {
			lic = i
			break
		}
	}
	if lic < 0 {
		return
	}
	period := 24*time.Hour + time.Duration(s.rng.Int64N(int64(4*24*time.Hour)))
	end := period
	if s.rng.Float64() < 0.35 { // checked back in early
		end = time.Duration(float64(period) * (0.2 + 0.7*s.rng.Float64()))
	}
	x := s.addLocked(lic, u, us.email, us.name, us.laptop, t, true, csi.String(ts(t.Add(period))), false)
	s.push(event{at: t.Add(end), kind: evDepart, sess: x})
}

// refillLocked keeps the busiest product's cloud pools full while the load
// mode is saturate.
func (s *Simulator) refillLocked() {
	if s.mode != LoadSaturate {
		return
	}
	a := s.acct
	t := s.simNow
	for i, l := range a.licenses {
		if l.prod != s.busiest || (l.typ != csi.TypeCloudSignIn && l.typ != csi.TypeCloudKey) {
			continue
		}
		for s.inUse[i] < l.seats {
			u := s.nextSaturateUser(l.prod)
			us := &a.users[u]
			x := s.addLocked(i, u, us.email, us.name, us.host, t, false, nil, false)
			if s.demo != nil {
				s.push(event{at: t.Add(s.sessionLength(t)), kind: evDepart, sess: x})
			}
		}
	}
}

// nextSaturateUser picks users round robin, preferring one not already
// running the product.
func (s *Simulator) nextSaturateUser(p int) int {
	n := len(s.acct.users)
	for range n {
		u := s.satNext % n
		s.satNext++
		if s.demo == nil || s.demo.holds[u][p] == 0 {
			return u
		}
	}
	u := s.satNext % n
	s.satNext++
	return u
}

// The tiers: a fixed population, optionally churned at a steady rate.

// tierTurnover is the mean simulated lifetime of a tier session under churn.
const tierTurnover = 4 * time.Hour

type tierModel struct {
	interval time.Duration
	next     time.Time
}

func newTierModel(start time.Time, n int) *tierModel {
	iv := tierTurnover / time.Duration(max(n, 1))
	return &tierModel{interval: iv, next: start.Add(iv)}
}

// advance replaces one random session per interval with a new one of the
// same user, license and kind, so the counts stay exact.
func (m *tierModel) advance(s *Simulator, to time.Time) {
	if s.mode == LoadIdle {
		if !m.next.After(to) {
			k := to.Sub(m.next)/m.interval + 1
			m.next = m.next.Add(k * m.interval)
		}
		return
	}
	for !m.next.After(to) {
		t := m.next
		m.next = t.Add(m.interval)
		if len(s.live) == 0 {
			continue
		}
		x := s.live[s.rng.IntN(len(s.live))]
		if x.pinned {
			continue
		}
		s.removeLocked(x)
		var co *string
		if x.checkedOut {
			co = csi.String(ts(t.Add(3 * 24 * time.Hour)))
		}
		s.addLocked(x.lic, x.userIdx, x.user, x.displayName, x.host, t, x.checkedOut, co, false)
	}
}

// fillTier creates the tier's sessions: counts[i] on license i, users
// dealt round robin so every user holds sessions.
func (s *Simulator) fillTier(counts []int) {
	var slots []int
	for i, c := range counts {
		for range c {
			slots = append(slots, i)
		}
	}
	s.rng.Shuffle(len(slots), func(i, j int) { slots[i], slots[j] = slots[j], slots[i] })
	users := s.acct.users
	s.live = make([]*session, 0, len(slots))
	for k, lic := range slots {
		u := k % len(users)
		started := s.start.Add(-time.Duration(s.rng.Int64N(int64(10 * time.Hour))))
		l := &s.acct.licenses[lic]
		co := l.typ == csi.TypeCloudKey && s.rng.IntN(100) < 15
		host := users[u].host
		var exp *string
		if co {
			host = users[u].laptop
			exp = csi.String(ts(started.Add(time.Duration(1+s.rng.IntN(7)) * 24 * time.Hour)))
		}
		s.addLocked(lic, u, users[u].email, users[u].name, host, started, co, exp, false)
	}
}
