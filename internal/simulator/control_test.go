package simulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/source/csi"
)

func TestControlState(t *testing.T) {
	h := start(t, Options{Seed: 1, Speed: 60, Start: wed11})
	h.get(h.api("licenses"))
	h.get(h.api("sessions"))
	h.get(h.api("sessions"))
	h.clock.Advance(time.Minute)
	r := h.get("/-/control")
	wantJSONType(t, r)
	st := decode[ControlState](t, r)
	if st.Fault.Kind != FaultNone || st.Load != LoadNormal || st.SimTime != "2026-12-02T12:00:00Z" || st.StartTime != "2026-12-02T11:00:00Z" ||
		st.Requests[EndpointLicenses] != 1 || st.Requests[EndpointSessions] != 2 || st.Requests[EndpointTerminate] != 0 ||
		st.Sessions != len(h.sessions(0, nil)) {
		t.Fatalf("%s", r.body)
	}
}

func TestControlSessions(t *testing.T) {
	h := start(t, Options{Seed: 1, Speed: 3600, Start: wed11, Churn: true})
	r := h.do(http.MethodPost, "/-/control/sessions",
		`{"license_id":"L-CSICOL-1","user":"dave@acme.example","display_name":"Dave","host":"WS-DAVE","started_at":"2026-12-02T08:00:00Z"}`)
	wantJSONType(t, r)
	d := decode[csi.SessionDoc](t, r)
	if r.status != 201 || d.ID == "" || d.LicenseID != "L-CSICOL-1" || d.User != "dave@acme.example" ||
		d.DisplayName != "Dave" || d.Host != "WS-DAVE" || d.StartedAt != "2026-12-02T08:00:00Z" || d.CheckedOut {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// The load model never ends it: three simulated days later it is there.
	h.clock.Advance(72 * time.Second)
	listed, ok := findSession(h.sessions(0, nil), func(s csi.SessionDoc) bool { return s.ID == d.ID })
	if !ok || listed != d {
		t.Fatalf("control session after 3 days: %+v", listed)
	}
	// Over seats is reported as it is (overdraft); the invariants still hold.
	for range 3 {
		h.do(http.MethodPost, "/-/control/sessions", `{"license_id":"L-CSICOL-1","user":"x@acme.example","checked_out":true}`)
	}
	checkInvariants(t, h.licenses(), h.sessions(0, nil), false)

	if r := h.do(http.MethodDelete, "/-/control/sessions/"+d.ID, ""); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if _, ok := findSession(h.sessions(0, nil), func(s csi.SessionDoc) bool { return s.ID == d.ID }); ok {
		t.Fatal("deleted session still listed")
	}
	if r := h.do(http.MethodDelete, "/-/control/sessions/"+d.ID, ""); r.status != 404 {
		t.Fatalf("delete again: %d", r.status)
	}
	for _, b := range []string{
		`{"license_id":"L-NOPE","user":"x"}`, `{"user":"x"}`, `{"license_id":"L-SAFE-1"}`,
		`{"license_id":"L-SAFE-1","user":"x","started_at":"yesterday"}`, `{"license_id":"L-SAFE-1","user":"x","extra":1}`,
		`{"license_id":"L-SAFE-1","user":"x","checked_out":"yes"}`, `not json`,
	} {
		if r := h.do(http.MethodPost, "/-/control/sessions", b); r.status != 400 {
			t.Errorf("%s: %d %s", b, r.status, r.body)
		}
	}
}

func TestLoadSaturate(t *testing.T) {
	sunday3 := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC) // the quietest time
	for _, tier := range []Tier{TierDemo, TierSmall} {
		t.Run(string(tier), func(t *testing.T) {
			h := start(t, Options{Tier: tier, Seed: 1, Speed: 600, Start: sunday3, Churn: true})
			r := h.do(http.MethodPost, "/-/control/load", `{"mode":"saturate"}`)
			if st := decode[ControlState](t, r); r.status != 200 || st.Load != LoadSaturate {
				t.Fatalf("%d %s", r.status, r.body)
			}
			for step := range 20 { // 20 x 10 simulated minutes
				lic := h.licenses()
				checkInvariants(t, lic, h.sessions(0, nil), true)
				n := 0
				for _, l := range lic.Licenses {
					if l.Product == "ETABS" && (l.Type == csi.TypeCloudSignIn || l.Type == csi.TypeCloudKey) {
						n++
						if *l.InUse != *l.Seats {
							t.Fatalf("step %d: %s in_use %d of %d", step, l.ID, *l.InUse, *l.Seats)
						}
					}
				}
				if n == 0 {
					t.Fatal("no ETABS cloud pools")
				}
				h.clock.Advance(time.Second)
			}
			h.do(http.MethodPost, "/-/control/load", `{"mode":"normal"}`)
			if tier == TierDemo {
				// Back to a quiet Sunday night: the pools drain.
				h.clock.Advance(60 * time.Second)
				for _, l := range h.licenses().Licenses {
					if l.ID == "L-ETABS-ULT-1" && *l.InUse == *l.Seats {
						t.Fatal("still saturated ten simulated hours after normal")
					}
				}
			}
		})
	}
}

func TestLoadIdle(t *testing.T) {
	h := start(t, Options{Seed: 1, Speed: 600, Start: wed11, Churn: true})
	extra := decode[csi.SessionDoc](t, h.do(http.MethodPost, "/-/control/sessions", `{"license_id":"L-SAFE-1","user":"x@acme.example"}`))
	h.do(http.MethodPost, "/-/control/load", `{"mode":"idle"}`)
	for range 6 { // an hour, at the busiest time of the week
		sess := h.sessions(0, nil)
		checkInvariants(t, h.licenses(), sess, false)
		for _, s := range sess {
			pinned := s.User == BobUser || s.User == CarolUser || s.ID == extra.ID
			if !pinned && !s.CheckedOut {
				t.Fatalf("idle, yet %+v", s)
			}
		}
		h.clock.Advance(time.Second)
	}
	h.do(http.MethodPost, "/-/control/load", `{"mode":"normal"}`)
	h.clock.Advance(12 * time.Second) // two simulated hours of a weekday
	if n := len(h.sessions(0, nil)); n < 10 {
		t.Fatalf("arrivals did not resume: %d sessions", n)
	}
	if r := h.do(http.MethodPost, "/-/control/load", `{"mode":"panic"}`); r.status != 400 {
		t.Fatalf("bad mode: %d", r.status)
	}
	if r := h.do(http.MethodPost, "/-/control/load", `{"mode":"idle","x":1}`); r.status != 400 {
		t.Fatalf("unknown field: %d", r.status)
	}
}

// fuzzSim is shared by the fuzz inputs: the control bodies change its state,
// which is fine, as nothing reads the API meanwhile.
func newFuzzSim(f *testing.F) http.Handler {
	clock := newClock()
	s, err := New(Options{Tier: TierSmall, Seed: 1, Start: wed11, Now: clock.Now})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(s.Close)
	return s.Handler()
}

var controlPaths = []string{"/-/control/fault", "/-/control/load", "/-/control/token", "/-/control/sessions", "/-/control/denials", "/-/control/denials/endpoint"}

func FuzzControlBodies(f *testing.F) {
	seeds := []struct {
		path uint8
		body string
	}{
		{0, `{"kind":"latency","latency":"2s","endpoints":["licenses"]}`},
		{0, `{"kind":"http_5xx","status":503}`},
		{0, `{"kind":"rate_limit","retry_after":5}`},
		{0, `{"kind":"huge","huge_bytes":104857600}`},
		{0, `{"kind":"long_names","name_bytes":2048}`},
		{0, `{"kind":"future_start"}`},
		{0, `{"kind":"none"}`},
		{0, `{"kind":"extra_fields","endpoints":["sessions"]}`},
		{0, `{"kind":"echo_credentials"}`},
		{0, `{"kind":"hang","endpoints":[]}`},
		{0, `{"kind":"latency","latency":"1e3h"}`},
		{0, `{"kind":"x","kind":"none"}`},
		{1, `{"mode":"saturate"}`},
		{1, `{"mode":"idle"}`},
		{1, `{"mode":"normal"}`},
		{2, `{"token":"abc"}`},
		{2, `{"token":null}`},
		{3, `{"license_id":"L-ETABS-ULT-1","user":"u@x","checked_out":true,"started_at":"2026-01-01T00:00:00Z"}`},
		{3, `{"license_id":"L-ETABS-ULT-1","user":"u@x","started_at":"2026-01-01T00:00:00+25:00"}`},
		{3, `{"license_id":"L-ETABS-ULT-1","user":"\u0000"}`},
		{3, `[1,2]`},
		{0, `{"kind":"latency"}garbage`},
		{4, `{"license_id":"L-ETABS-ULT-1","user":"u@x","at":"2026-12-02T09:00:00Z","reason":"other"}`},
		{4, `{"id":"D-1","product":"P","user":"u"}`},
		{5, `{"enabled":false}`},
	}
	for _, s := range seeds {
		f.Add(s.path, []byte(s.body))
	}
	h := newFuzzSim(f)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		// The decoders alone: a fault that parses is stable through its JSON.
		if fault, err := ParseFault(body); err == nil {
			b, err := json.Marshal(fault)
			if err != nil {
				t.Fatal(err)
			}
			again, err := ParseFault(b)
			if err != nil || !reflect.DeepEqual(fault, again) {
				t.Fatalf("%s -> %+v -> %s -> %+v, %v", body, fault, b, again, err)
			}
		}
		_, _ = decodeLoadBody(bytes.NewReader(body))
		_, _ = decodeTokenBody(bytes.NewReader(body))
		_, _, _ = decodeSessionBody(bytes.NewReader(body))
		_, _, _ = decodeDenialBody(bytes.NewReader(body))

		// Through the handler: a JSON answer of 200/201 or 400, never a crash.
		path := controlPaths[int(which)%len(controlPaths)]
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)))
		if rec.Code != 200 && rec.Code != 201 && rec.Code != 400 {
			t.Fatalf("%s %q: %d %s", path, body, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) || rec.Header().Get("Content-Type") != contentTypeJSON {
			t.Fatalf("%s %q: answer %q", path, body, rec.Body)
		}
	})
}
