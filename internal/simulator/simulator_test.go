package simulator

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
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

// raceEnabled is set under the race detector, where decoding the huge
// tier over HTTP takes minutes.
var raceEnabled bool

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
