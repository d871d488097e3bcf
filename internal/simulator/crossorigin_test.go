package simulator

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestControlRefusesCrossOrigin: a page on another site cannot change the
// simulator through a browser, whatever the content type; the state stays.
func TestControlRefusesCrossOrigin(t *testing.T) {
	h := start(t, Options{Tier: TierSmall, Token: "s3cret"})
	for _, hdr := range [][]string{
		{"Sec-Fetch-Site", "cross-site", "Content-Type", "text/plain"},
		{"Origin", "https://evil.example", "Content-Type", "text/plain"},
	} {
		for path, body := range map[string]string{
			"/-/control/token":        `{"token":""}`,
			"/-/control/fault":        `{"kind":"http_5xx"}`,
			"/-/control/load":         `{"mode":"idle"}`,
			"/-/control/sessions":     `{"license_id":"x","user":"u"}`,
			"/-/control/clock":        `{"paused":true}`,
			"/-/control/flexlm/fault": `{"kind":"down"}`,
		} {
			if r := h.do(http.MethodPost, path, body, hdr...); r.status != http.StatusForbidden || !strings.Contains(string(r.body), "cross_origin") {
				t.Errorf("%v %s: %d %s", hdr, path, r.status, r.body)
			}
		}
		if r := h.do(http.MethodDelete, "/-/control/sessions/x", "", hdr...); r.status != http.StatusForbidden {
			t.Errorf("%v DELETE: %d", hdr, r.status)
		}
	}
	if r := h.get(h.api("licenses")); r.status != http.StatusUnauthorized {
		t.Errorf("the token check was switched off: %d", r.status)
	}
	if st := h.sim.State(); st.Fault.Kind != FaultNone && st.Fault.Kind != "" || st.FlexLM.Fault.Kind != FlexFaultNone || st.Paused {
		t.Errorf("fault %q, FlexLM fault %q or paused %v set cross-origin", st.Fault.Kind, st.FlexLM.Fault.Kind, st.Paused)
	}
	// A program (no browser headers) and a same-origin page still can.
	if r := h.do(http.MethodPost, "/-/control/fault", `{"kind":"none"}`); r.status != http.StatusOK {
		t.Errorf("plain POST: %d %s", r.status, r.body)
	}
	if r := h.do(http.MethodPost, "/-/control/fault", `{"kind":"none"}`, "Sec-Fetch-Site", "same-origin"); r.status != http.StatusOK {
		t.Errorf("same-origin POST: %d %s", r.status, r.body)
	}
}

// TestSplitHandlers: the API handler has no control API and the control
// handler no API, so the two can listen on different addresses.
func TestSplitHandlers(t *testing.T) {
	s, err := New(Options{Tier: TierSmall, Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		h    http.Handler
		path string
		want int
	}{
		{s.APIHandler(), APIPrefix + "/licenses", 200},
		{s.APIHandler(), "/-/control", 404},
		{s.APIHandler(), "/-/healthy", 200},
		{s.ControlHandler(), "/-/control", 200},
		{s.ControlHandler(), APIPrefix + "/licenses", 404},
		{s.Handler(), "/-/control", 200},
		{s.Handler(), APIPrefix + "/licenses", 200},
		{s.APIHandler(), PathLmstat, 200},
		{s.ControlHandler(), PathLmstat, 404},
		{s.APIHandler(), "/-/control/flexlm", 404},
		{s.ControlHandler(), "/-/control/flexlm", 200},
	} {
		rec := httptest.NewRecorder()
		c.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.path, nil))
		if rec.Code != c.want {
			t.Errorf("%s: %d, want %d", c.path, rec.Code, c.want)
		}
	}
}
