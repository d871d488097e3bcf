package simulator

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/source/csi"
)

// denials reads every page of GET denials from since.
func (h *harness) denials(since time.Time, pageSize int) []csi.DenialDoc {
	h.t.Helper()
	var all []csi.DenialDoc
	tok := ""
	for range 1000 {
		q := url.Values{"page_size": {strconv.Itoa(pageSize)}}
		if !since.IsZero() {
			q.Set("since", ts(since))
		}
		if tok != "" {
			q.Set("page_token", tok)
		}
		r := h.get(h.api("denials") + "?" + q.Encode())
		if r.status != http.StatusOK {
			h.t.Fatalf("denials: %d %s", r.status, r.body)
		}
		d := decode[csi.DenialsDoc](h.t, r)
		all = append(all, d.Denials...)
		if tok = d.NextPageToken; tok == "" {
			return all
		}
	}
	h.t.Fatal("denials pages never ended")
	return nil
}

// A working day of the demo account refuses some requests, at its peaks,
// and every refusal names a listed license and a known reason.
func TestDemoWorkdayRefusesSome(t *testing.T) {
	h := start(t, Options{Seed: 1, Start: wed11.Add(-4 * time.Hour), Churn: true}) // Wednesday 07:00
	before := h.denials(time.Time{}, 7)
	h.clock.Advance(12 * time.Hour)
	all := h.denials(time.Time{}, 7)
	today := h.denials(wed11.Add(-4*time.Hour), 1000)
	if len(today) == 0 || len(all) != len(before)+len(today) {
		t.Fatalf("%d denials over the day (%d before, %d in all)", len(today), len(before), len(all))
	}
	listed := map[[3]string]bool{}
	for _, l := range h.licenses().Licenses {
		listed[[3]string{l.Product, l.Edition, l.Type}] = true
	}
	ids := map[string]bool{}
	var last time.Time
	for _, d := range all {
		at, err := time.Parse(time.RFC3339, d.At)
		if err != nil || at.Before(last) {
			t.Fatalf("denial %+v: not RFC 3339 or out of order", d)
		}
		last = at
		if ids[d.ID] || !listed[[3]string{d.Product, d.Edition, d.LicenseType}] || d.User == "" ||
			(d.Reason != csi.DenialNoSeatAvailable && d.Reason != csi.DenialNotInLicenseGroup) {
			t.Fatalf("denial %+v: repeated id, unlisted license or unknown reason", d)
		}
		ids[d.ID] = true
	}
}

// The load model's refusals draw nothing from the generator: the same
// seed gives the same sessions as before denials were recorded, and the
// same denials every run.
func TestDenialsDeterministic(t *testing.T) {
	a := start(t, Options{Seed: 3, Start: wed11, Churn: true})
	b := start(t, Options{Seed: 3, Start: wed11, Churn: true})
	da, db := a.denials(time.Time{}, 1000), b.denials(time.Time{}, 1000)
	if len(da) == 0 || len(da) != len(db) || da[0] != db[0] || da[len(da)-1] != db[len(db)-1] {
		t.Fatalf("two runs of seed 3: %d and %d denials", len(da), len(db))
	}
}

func TestInjectedDenials(t *testing.T) {
	h := start(t, Options{Seed: 1, Start: wed11})
	now := wed11
	post := func(body string) csi.DenialDoc {
		t.Helper()
		r := h.do(http.MethodPost, "/-/control/denials", body)
		if r.status != http.StatusCreated {
			t.Fatalf("%s: %d %s", body, r.status, r.body)
		}
		return decode[csi.DenialDoc](t, r)
	}
	a := post(`{"license_id":"L-ETABS-ULT-1","user":"e2e@acme.example","host":"WS-1"}`)
	if a.At != ts(now) || a.Product != "ETABS" || a.Edition != "Ultimate" || a.LicenseType != csi.TypeCloudSignIn || a.Reason != csi.DenialNoSeatAvailable || a.ID == "" {
		t.Fatalf("injected %+v", a)
	}
	late := post(`{"product":"SAFE","edition":"Post Tensioning","license_type":"network","user":"x","reason":"license_server_down","at":"` + ts(now.Add(-30*time.Minute)) + `"}`)
	again := post(`{"id":"` + a.ID + `"}`)
	if again != a {
		t.Fatalf("a repeat is the same event: %+v", again)
	}
	var got []csi.DenialDoc
	for _, d := range h.denials(now.Add(-time.Hour), 1) {
		if d.User == "x" || d.User == "e2e@acme.example" { // not the warm-up's
			got = append(got, d)
		}
	}
	if len(got) != 3 || got[0] != late || got[1] != a || got[2] != a {
		t.Fatalf("since 1h ago, oldest first, the repeat listed twice: %+v", got)
	}
	if got := h.denials(now, 1000); len(got) != 2 || got[0] != a || got[1] != a {
		t.Fatalf("since is inclusive and filters: %+v", got)
	}
	for _, bad := range []string{`{"user":"x"}`, `{"license_id":"L-NONE","user":"x"}`, `{"product":"P","license_id":"L-ETABS-ULT-1","user":"x"}`, `{"product":"P","user":"x","at":"noon"}`, `{"product":"P","user":"x","extra":1}`, `{"id":"D-unknown"}`} {
		if r := h.do(http.MethodPost, "/-/control/denials", bad); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d", bad, r.status)
		}
	}
	if r := h.get(h.api("denials") + "?since=yesterday"); r.status != http.StatusBadRequest {
		t.Errorf("bad since: %d", r.status)
	}
}

func TestDenialsEndpointOff(t *testing.T) {
	h := start(t, Options{Seed: 1, Start: wed11})
	if r := h.do(http.MethodPost, "/-/control/denials/endpoint", `{"enabled":false}`); r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := h.get(h.api("denials")); r.status != http.StatusNotFound {
		t.Fatalf("an account without denials: %d", r.status)
	}
	if st := h.sim.State(); st.DenialsEndpoint {
		t.Error("state says the endpoint is on")
	}
	if r := h.get(h.api("licenses")); r.status != http.StatusOK {
		t.Fatalf("licenses: %d", r.status)
	}
	h.do(http.MethodPost, "/-/control/denials/endpoint", `{"enabled":true}`)
	if r := h.get(h.api("denials")); r.status != http.StatusOK {
		t.Fatalf("back on: %d", r.status)
	}
	if r := h.do(http.MethodPost, "/-/control/denials/endpoint", `{}`); r.status != http.StatusBadRequest {
		t.Errorf("no enabled: %d", r.status)
	}
}
