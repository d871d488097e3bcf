package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/source/csi"
)

// Over a simulated day at high speed (10 simulated minutes per real
// second), every read keeps the invariants, for the demo and a churning tier.
func TestInvariantsOverSimulatedDay(t *testing.T) {
	for _, tier := range []Tier{TierDemo, TierSmall, TierLarge} {
		t.Run(string(tier), func(t *testing.T) {
			h := start(t, Options{Tier: tier, Seed: 7, Speed: 600, Start: wed11.Add(-11 * time.Hour), Churn: true})
			steps, size, step := 144, 37, time.Second
			if tier == TierLarge {
				steps, size, step = 4, 1000, 3*time.Second
			}
			changed := 0
			var prev []csi.SessionDoc
			for i := range steps {
				lic := h.licenses()
				sess := h.sessions(size, nil)
				checkInvariants(t, lic, sess, true)
				if i > 0 && !slices.EqualFunc(prev, sess, func(a, b csi.SessionDoc) bool { return a.ID == b.ID }) {
					changed++
				}
				prev = sess
				h.clock.Advance(step)
			}
			// Churn really happened, or the test proves nothing.
			if changed < steps/2 {
				t.Fatalf("sessions changed in only %d of %d steps", changed, steps)
			}
		})
	}
}

func readEverything(h *harness) [][]byte {
	var out [][]byte
	out = append(out, h.get(h.api("licenses")).body)
	tok := ""
	for {
		r := h.get(h.api("sessions") + "?page_size=7&page_token=" + tok)
		out = append(out, r.body)
		tok = decode[csi.SessionsDoc](h.t, r).NextPageToken
		if tok == "" {
			return out
		}
	}
}

func TestDeterminism(t *testing.T) {
	run := func(seed int64) [][]byte {
		h := start(t, Options{Seed: seed, Speed: 60, Start: wed11, Churn: true})
		var all [][]byte
		for range 5 {
			all = append(all, readEverything(h)...)
			h.clock.Advance(10 * time.Minute) // ten simulated hours
		}
		// A terminate and a control session are part of the same history.
		h.do(http.MethodPost, "/-/control/sessions", `{"license_id":"L-SAFE-1","user":"x@acme.example"}`)
		return append(all, readEverything(h)...)
	}
	a, b := run(42), run(42)
	if len(a) != len(b) {
		t.Fatalf("same seed: %d vs %d bodies", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("same seed, body %d differs:\n%s\n%s", i, truncate(a[i]), truncate(b[i]))
		}
	}
	c := run(43)
	if slices.EqualFunc(a, c, bytes.Equal) {
		t.Fatal("different seeds gave identical answers")
	}
}

// The clock may be advanced in any steps: the history is the same.
func TestAdvanceStepsDoNotMatter(t *testing.T) {
	coarse := start(t, Options{Seed: 3, Start: wed11, Churn: true})
	fine := start(t, Options{Seed: 3, Start: wed11, Churn: true})
	coarse.clock.Advance(6 * time.Hour)
	for range 360 {
		fine.clock.Advance(time.Minute)
		fine.sim.State() // advances
	}
	a, b := readEverything(coarse), readEverything(fine)
	if !slices.EqualFunc(a, b, bytes.Equal) {
		t.Fatal("one 6h step and 360 1min steps gave different states")
	}
}

func countAt(t *testing.T, seed int64, at time.Time, loc *time.Location) (sessions int, lic csi.LicensesDoc) {
	h := start(t, Options{Seed: seed, Start: at, Churn: true, Location: loc})
	lic = h.licenses()
	sess := h.sessions(1000, nil)
	checkInvariants(t, lic, sess, true)
	return len(sess), lic
}

func TestWorkingHoursShape(t *testing.T) {
	sunday11 := wed11.AddDate(0, 0, 4)
	for seed := int64(1); seed <= 5; seed++ {
		peak, _ := countAt(t, seed, wed11, nil)
		night, _ := countAt(t, seed, wed11.Add(-8*time.Hour), nil)
		sunday, _ := countAt(t, seed, sunday11, nil)
		t.Logf("seed %d: Wed 11:00 %d, Wed 03:00 %d, Sun 11:00 %d sessions", seed, peak, night, sunday)
		if peak <= 2*night || peak <= 2*sunday {
			t.Errorf("seed %d: Wed 11:00 has %d sessions, Wed 03:00 %d, Sun 11:00 %d", seed, peak, night, sunday)
		}
	}
}

// The account's working hours are in its time zone: 11:00 UTC is 06:00 in
// New York, before the office opens there.
func TestWorkingHoursFollowTimezone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tz database:", err)
	}
	utc, _ := countAt(t, 1, wed11, time.UTC)
	early, _ := countAt(t, 1, wed11, ny)
	late, _ := countAt(t, 1, wed11.Add(5*time.Hour), ny) // 11:00 in New York
	if !(early*2 < utc && early*2 < late) {
		t.Fatalf("11:00 UTC: %d sessions in UTC, %d in New York; 16:00 UTC in New York %d", utc, early, late)
	}
}

// Each weekday's peak hours saturate ETABS Ultimate: in_use == seats, and
// never more.
func TestSaturationAtWeekdayPeak(t *testing.T) {
	for seed := int64(1); seed <= 3; seed++ {
		mon := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
		h := start(t, Options{Seed: seed, Start: mon, Churn: true})
		for d := range 5 {
			full := 0
			for q := range 7 * 4 { // 09:00 to 16:00 each quarter hour
				lic := h.licenses()
				for _, l := range lic.Licenses {
					if l.ID == "L-ETABS-ULT-1" && *l.InUse == *l.Seats {
						full++
					}
				}
				if q < 7*4-1 {
					h.clock.Advance(15 * time.Minute)
				}
			}
			if full == 0 {
				t.Errorf("seed %d, day %d: ETABS Ultimate never full between 09:00 and 16:00", seed, d)
			}
			h.clock.Advance(17*time.Hour + 15*time.Minute)
		}
	}
}

func TestDemoAccount(t *testing.T) {
	h := start(t, Options{Seed: 1, Start: wed11, Churn: true})
	lic := h.licenses()
	if lic.Account.ID != "A-1001" || lic.Account.Name != "Acme Engineering" {
		t.Fatalf("account %+v", lic.Account)
	}
	if lic.GeneratedAt != "2026-12-02T11:00:00Z" {
		t.Fatalf("generated_at %s", lic.GeneratedAt)
	}
	types, products, perpetual := map[string]bool{}, map[string]bool{}, 0
	var minExp, maxExp time.Duration = 1 << 62, 0
	for _, l := range lic.Licenses {
		types[l.Type] = true
		products[l.Product+" "+l.Edition] = true
		if l.ExpiresAt == nil {
			perpetual++
			continue
		}
		e, err := time.Parse(time.RFC3339, *l.ExpiresAt)
		if err != nil {
			t.Fatal(err)
		}
		minExp, maxExp = min(minExp, e.Sub(wed11)), max(maxExp, e.Sub(wed11))
	}
	if len(types) != 4 {
		t.Errorf("license types %v", types)
	}
	for _, p := range []string{"ETABS Ultimate", "ETABS Plus", "ETABS Standard", "SAP2000 Ultimate", "SAP2000 Plus",
		"SAP2000 Basic", "SAFE ", "CSiBridge Advanced", "CSiBridge Plus", "CSiCol ", "Perform3D "} {
		if !products[p] {
			t.Errorf("no %q license", p)
		}
	}
	if perpetual == 0 || minExp > 40*24*time.Hour || maxExp < 300*24*time.Hour || maxExp > 366*24*time.Hour {
		t.Errorf("expiry from %v to %v, %d perpetual", minExp, maxExp, perpetual)
	}
	sess := h.sessions(0, nil)
	users, checkedOut := map[string]bool{}, 0
	for _, s := range sess {
		users[s.User] = true
		if s.CheckedOut {
			checkedOut++
		}
	}
	if checkedOut == 0 || len(users) < 15 {
		t.Errorf("%d users, %d checked out at a weekday peak", len(users), checkedOut)
	}
	// Over a week all ~60 users show up.
	for range 7 * 24 {
		h.clock.Advance(time.Hour)
		for _, s := range h.sessions(0, nil) {
			users[s.User] = true
		}
	}
	if len(users) < 55 || len(users) > 65 {
		t.Errorf("%d distinct users over a week", len(users))
	}
}

type pinned struct{ user, host, license string }

func pinnedOf(sess []csi.SessionDoc) map[pinned]csi.SessionDoc {
	out := map[pinned]csi.SessionDoc{}
	for _, s := range sess {
		if s.User == BobUser || s.User == CarolUser {
			out[pinned{s.User, s.Host, s.LicenseID}] = s
		}
	}
	return out
}

func TestPinnedDemoSessions(t *testing.T) {
	h := start(t, Options{Seed: 1, Start: wed11, Churn: true})
	want := map[pinned]bool{
		{BobUser, BobHost, "L-ETABS-ULT-1"}:       false,
		{BobUser, "LT-BOB", "L-ETABS-ULT-2"}:      true,
		{CarolUser, CarolHost, "L-SAP2000-ULT-1"}: false,
	}
	first := pinnedOf(h.sessions(0, nil))
	if len(first) != len(want) {
		t.Fatalf("pinned sessions %+v", first)
	}
	for k, co := range want {
		s, ok := first[k]
		if !ok || s.CheckedOut != co {
			t.Fatalf("want %+v checked_out=%v, got %+v", k, co, s)
		}
	}
	if s := first[pinned{BobUser, BobHost, "L-ETABS-ULT-1"}]; s.StartedAt != "2026-12-02T09:00:00Z" {
		t.Fatalf("bob's sign-in started %s", s.StartedAt)
	}
	// A simulated fortnight later, through idle and saturate, they are still there.
	for _, mode := range []string{"idle", "saturate", "normal"} {
		h.do(http.MethodPost, "/-/control/load", fmt.Sprintf(`{"mode":%q}`, mode))
		h.clock.Advance(5 * 24 * time.Hour)
		now := pinnedOf(h.sessions(0, nil))
		for k := range want {
			if now[k].ID != first[k].ID {
				t.Fatalf("after %s: pinned session %+v changed or ended", mode, k)
			}
		}
	}
}

// raceEnabled is set under the race detector, where decoding the huge
// tier over HTTP takes minutes.
var raceEnabled bool

func TestTierCounts(t *testing.T) {
	tiers := []Tier{TierSmall, TierLarge}
	if !testing.Short() {
		tiers = append(tiers, TierHuge)
	}
	for _, tier := range tiers {
		t.Run(string(tier), func(t *testing.T) {
			spec := tierSpecs[tier]
			h := start(t, Options{Tier: tier, Seed: 1, Start: wed11})
			lic := h.licenses()
			if tier == TierHuge && raceEnabled {
				checkTierInside(t, h, lic, spec)
				return
			}
			sess := h.sessions(1000, nil)
			checkInvariants(t, lic, sess, true)
			users, types, co := map[string]bool{}, map[string]bool{}, 0
			for _, s := range sess {
				users[s.User] = true
				if s.CheckedOut {
					co++
				}
			}
			for _, l := range lic.Licenses {
				types[l.Type] = true
			}
			if len(lic.Licenses) != spec.licenses || len(sess) != spec.sessions || len(users) != spec.users {
				t.Fatalf("%d licenses, %d sessions, %d users; want %+v", len(lic.Licenses), len(sess), len(users), spec)
			}
			if len(types) != 4 || co == 0 {
				t.Fatalf("types %v, %d checked out", types, co)
			}
			// Static without churn: an hour later, the same sessions.
			h.clock.Advance(time.Hour)
			again := h.sessions(1000, nil)
			if !reflect.DeepEqual(sess, again) {
				t.Fatal("a tier without churn changed")
			}
		})
	}
}

// checkTierInside checks a tier's counts from the licenses answer and the
// simulator's own state, and that the pages hold that many sessions,
// without decoding them.
func checkTierInside(t *testing.T, h *harness, lic csi.LicensesDoc, spec tierSpec) {
	var inUse int64
	for _, l := range lic.Licenses {
		inUse += *l.InUse
	}
	h.sim.mu.Lock()
	users := map[string]bool{}
	perLic := make([]int64, len(h.sim.acct.licenses))
	for _, x := range h.sim.live {
		users[x.user] = true
		perLic[x.lic]++
	}
	h.sim.mu.Unlock()
	for i, l := range lic.Licenses {
		if *l.InUse != perLic[i] {
			t.Fatalf("%s: in_use %d, %d sessions", l.ID, *l.InUse, perLic[i])
		}
	}
	pages := 0
	for tok := ""; ; pages++ {
		r := h.get(h.api("sessions") + "?page_size=1000&page_token=" + tok)
		i := bytes.LastIndex(r.body, nextTokenKey)
		rest := r.body[i+len(nextTokenKey):]
		if tok = string(rest[:bytes.IndexByte(rest, '"')]); tok == "" {
			break
		}
	}
	if len(lic.Licenses) != spec.licenses || inUse != int64(spec.sessions) || len(users) != spec.users || pages != spec.sessions/1000-1 {
		t.Fatalf("%d licenses, %d in use, %d users, %d pages; want %+v", len(lic.Licenses), inUse, len(users), pages+1, spec)
	}
}

// Churn on a tier keeps the counts exact.
func TestTierChurnKeepsCounts(t *testing.T) {
	h := start(t, Options{Tier: TierSmall, Seed: 2, Start: wed11, Churn: true})
	before := h.sessions(0, nil)
	h.clock.Advance(4 * time.Hour) // the mean lifetime
	lic := h.licenses()
	after := h.sessions(0, nil)
	checkInvariants(t, lic, after, true)
	users := map[string]bool{}
	kept := 0
	old := map[string]bool{}
	for _, s := range before {
		old[s.ID] = true
	}
	for _, s := range after {
		users[s.User] = true
		if old[s.ID] {
			kept++
		}
	}
	if len(after) != 60 || len(users) != 60 {
		t.Fatalf("%d sessions of %d users after churn", len(after), len(users))
	}
	if kept < 10 || kept > 35 { // e^-1 of 60 is 22
		t.Fatalf("%d of 60 sessions survived one mean lifetime of churn", kept)
	}
}

// One paginated read under heavy churn sees exactly the snapshot it started
// from: the in_use figures of the licenses read just before it.
func TestPagingConsistencyUnderChurn(t *testing.T) {
	h := start(t, Options{Tier: TierLarge, Seed: 5, Start: wed11, Churn: true})
	lic := h.licenses()
	mid := 0
	sess := h.sessions(500, func() {
		h.clock.Advance(30 * time.Second) // ~40 replacements per page
		if mid++; mid == 3 {
			// A fresh read in the middle makes a newer snapshot.
			h.get(h.api("sessions") + "?page_size=10")
		}
	})
	checkInvariants(t, lic, sess, true)
	fresh := h.sessions(1000, nil)
	same := 0
	old := map[string]bool{}
	for _, s := range sess {
		old[s.ID] = true
	}
	for _, s := range fresh {
		if old[s.ID] {
			same++
		}
	}
	if same == len(fresh) {
		t.Fatal("no churn happened during the read")
	}
}

func TestPageTokens(t *testing.T) {
	h := start(t, Options{Tier: TierSmall, Seed: 1, Start: wed11, Churn: true})
	first := decode[csi.SessionsDoc](t, h.get(h.api("sessions")+"?page_size=10"))
	if len(first.Sessions) != 10 || first.NextPageToken == "" {
		t.Fatalf("first page: %d sessions, token %q", len(first.Sessions), first.NextPageToken)
	}
	// The final page has an empty token.
	all := decode[csi.SessionsDoc](t, h.get(h.api("sessions")+"?page_size=1000"))
	if len(all.Sessions) != 60 || all.NextPageToken != "" {
		t.Fatalf("one page: %d sessions, token %q", len(all.Sessions), all.NextPageToken)
	}
	def := decode[csi.SessionsDoc](t, h.get(h.api("sessions")))
	if len(def.Sessions) != 60 {
		t.Fatalf("default page size gave %d", len(def.Sessions))
	}
	bad := []string{
		"page_size=0", "page_size=1001", "page_size=-1", "page_size=ten", "page_size=", "page_size=1.5",
		"page_token=nonsense", "page_token=" + first.NextPageToken[:len(first.NextPageToken)-2] + "AA",
		"page_token=" + encodeToken(99, 1, 10), // another seed's token
		"page_token=" + encodeToken(1, 1, 60),  // past the end
		"page_token=" + encodeToken(1, 999, 0), // no such version
	}
	for _, q := range bad {
		r := h.get(h.api("sessions") + "?" + q)
		e := decode[csi.ErrorDoc](t, r)
		if r.status != 400 || e.Error.Code == "" || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
	// Tokens expire once eight newer snapshots exist.
	for range keepVersions {
		h.clock.Advance(30 * time.Minute)
		h.get(h.api("sessions") + "?page_size=1")
	}
	if r := h.get(h.api("sessions") + "?page_size=10&page_token=" + first.NextPageToken); r.status != 400 {
		t.Fatalf("expired token: %d", r.status)
	}
}

// The spliced page encoding is exactly what encoding/json makes of the
// wire types.
func TestPageEncodingMatchesWireTypes(t *testing.T) {
	h := start(t, Options{Seed: 1, Start: wed11, Churn: true})
	tok := ""
	for {
		r := h.get(h.api("sessions") + "?page_size=4&page_token=" + tok)
		doc := decode[csi.SessionsDoc](t, r)
		want, _ := json.Marshal(doc)
		if !bytes.Equal(r.body, want) {
			t.Fatalf("served %s\nwire   %s", r.body, want)
		}
		if tok = doc.NextPageToken; tok == "" {
			break
		}
	}
	r := h.get(h.api("licenses"))
	want, _ := json.Marshal(decode[csi.LicensesDoc](t, r))
	if !bytes.Equal(r.body, want) {
		t.Fatalf("licenses served %s\nwire %s", r.body, want)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{{Tier: "enormous"}, {Speed: -1}, {Speed: math.Inf(1)}, {Speed: math.NaN()}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}
