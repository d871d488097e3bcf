package simulator

import (
	"bytes"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/source/csi"
)

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

type pinned struct{ user, host, license string }
