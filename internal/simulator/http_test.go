package simulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/license-monitor/license-monitor/source/csi"
)

func findSession(sess []csi.SessionDoc, pred func(csi.SessionDoc) bool) (csi.SessionDoc, bool) {
	i := slices.IndexFunc(sess, pred)
	if i < 0 {
		return csi.SessionDoc{}, false
	}
	return sess[i], true
}

func TestTerminate(t *testing.T) {
	h := start(t, Options{Seed: 1, Start: wed11, Churn: true})
	lic := h.licenses()
	typ := map[string]string{}
	for _, l := range lic.Licenses {
		typ[l.ID] = l.Type
	}
	sess := h.sessions(0, nil)
	terminate := func(id string) response {
		return h.do(http.MethodPost, h.api("sessions/"+id+"/terminate"), "")
	}

	signIn, ok := findSession(sess, func(s csi.SessionDoc) bool { return s.User == BobUser && s.Host == BobHost })
	if !ok {
		t.Fatal("no bob sign-in session")
	}
	r := terminate(signIn.ID)
	wantJSONType(t, r)
	if d := decode[csi.TerminateDoc](t, r); r.status != 202 || d.SessionID != signIn.ID || d.Status != csi.TerminateStatusTerminating {
		t.Fatalf("%d %s", r.status, r.body)
	}
	after := h.sessions(0, nil)
	if _, still := findSession(after, func(s csi.SessionDoc) bool { return s.ID == signIn.ID }); still {
		t.Fatal("terminated session still listed")
	}
	checkInvariants(t, h.licenses(), after, true)
	if r := terminate(signIn.ID); r.status != 404 || decode[csi.ErrorDoc](t, r).Error.Code != "not_found" {
		t.Fatalf("again: %d %s", r.status, r.body)
	}

	checkedOut, _ := findSession(sess, func(s csi.SessionDoc) bool { return s.CheckedOut })
	if r := terminate(checkedOut.ID); r.status != 409 || decode[csi.ErrorDoc](t, r).Error.Code != csi.CodeCheckedOut {
		t.Fatalf("checked out: %d %s", r.status, r.body)
	}
	for _, ty := range []string{csi.TypeCloudKey, csi.TypeNetwork, csi.TypeStandalone} {
		s, ok := findSession(h.sessions(0, nil), func(s csi.SessionDoc) bool { return !s.CheckedOut && typ[s.LicenseID] == ty })
		if !ok {
			// Make one: a control session on a license of that type.
			var id string
			for _, l := range lic.Licenses {
				if l.Type == ty {
					id = l.ID
				}
			}
			s = decode[csi.SessionDoc](t, h.do(http.MethodPost, "/-/control/sessions", `{"license_id":"`+id+`","user":"t@acme.example"}`))
		}
		if r := terminate(s.ID); r.status != 409 || decode[csi.ErrorDoc](t, r).Error.Code != csi.CodeNotTerminable {
			t.Fatalf("%s: %d %s", ty, r.status, r.body)
		}
	}
	if got := h.sim.Requests()[EndpointTerminate]; got != 6 {
		t.Fatalf("terminate requests %d, want 6", got)
	}
	// A checked-out cloud sign-in session: checked_out wins.
	co := decode[csi.SessionDoc](t, h.do(http.MethodPost, "/-/control/sessions", `{"license_id":"L-ETABS-PLS-1","user":"t@acme.example","checked_out":true}`))
	if r := terminate(co.ID); decode[csi.ErrorDoc](t, r).Error.Code != csi.CodeCheckedOut {
		t.Fatalf("%s", r.body)
	}
}

func TestRouting(t *testing.T) {
	h := start(t, Options{Seed: 1, Start: wed11})
	cases := []struct {
		method, path string
		status       int
	}{
		{"POST", h.api("licenses"), 405},
		{"DELETE", h.api("sessions"), 405},
		{"GET", h.api("sessions/S-1/terminate"), 405},
		{"PUT", h.api("sessions/S-1/terminate"), 405},
		{"GET", h.api("nothing"), 404},
		{"GET", h.api("licenses/extra"), 404},
		{"POST", h.api("sessions//terminate"), 404},
		{"POST", h.api("sessions/a/b/terminate"), 404},
		{"GET", "/", 404},
		{"GET", APIPrefix, 404},
		{"PUT", "/-/control", 405},
		{"GET", "/-/control/fault", 405},
		{"GET", "/-/control/nothing", 404},
		{"POST", "/-/control/sessions/S-1", 405},
	}
	for _, c := range cases {
		r := h.do(c.method, c.path, "")
		wantJSONType(t, r)
		if e := decode[csi.ErrorDoc](t, r); r.status != c.status || e.Error.Code == "" {
			t.Errorf("%s %s: %d %s", c.method, c.path, r.status, r.body)
		}
		if c.status == 405 && r.header.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", c.method, c.path)
		}
	}
	if r := h.get("/-/healthy"); r.status != 200 {
		t.Fatalf("healthy: %d", r.status)
	}
	// Routing mistakes are not counted as API requests.
	if n := h.sim.Requests(); n[EndpointLicenses]+n[EndpointSessions]+n[EndpointTerminate] != 0 {
		t.Fatalf("requests %v", n)
	}
}

func TestAuth(t *testing.T) {
	h := start(t, Options{Seed: 1, Start: wed11, Token: "s3cret-token", APIKey: "link-key"})
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	check := func(name string, r response, want int) {
		t.Helper()
		if r.status != want {
			t.Fatalf("%s: %d %s", name, r.status, r.body)
		}
		if want == 401 {
			wantJSONType(t, r)
			if e := decode[csi.ErrorDoc](t, r); e.Error.Code != "unauthorized" {
				t.Fatalf("%s: %s", name, r.body)
			}
			if bytes.Contains(r.body, []byte("s3cret")) || bytes.Contains(r.body, []byte("link-key")) {
				t.Fatalf("%s: secret in the answer", name)
			}
		}
	}
	lic := h.api("licenses")
	check("nothing", h.get(lic), 401)
	check("token only", h.get(lic, bearer("s3cret-token")...), 401)
	check("key only", h.get(lic+"?key=link-key"), 401)
	check("wrong token", h.get(lic+"?key=link-key", bearer("s3cret-tokeN")...), 401)
	check("wrong key", h.get(lic+"?key=link-kez", bearer("s3cret-token")...), 401)
	check("basic", h.get(lic+"?key=link-key", "Authorization", "Basic czNjcmV0LXRva2Vu"), 401)
	check("both", h.get(lic+"?key=link-key", bearer("s3cret-token")...), 200)
	check("scheme case", h.get(lic+"?key=link-key", "Authorization", "bearer s3cret-token"), 200)
	check("sessions", h.get(h.api("sessions")+"?key=link-key&page_size=3", bearer("s3cret-token")...), 200)
	check("terminate", h.do(http.MethodPost, h.api("sessions/S-x/terminate"), ""), 401)
	// The control API needs neither; it swaps the token at run time.
	if r := h.do(http.MethodPost, "/-/control/token", `{"token":"next"}`); r.status != 200 {
		t.Fatalf("control token: %d", r.status)
	}
	check("old token", h.get(lic+"?key=link-key", bearer("s3cret-token")...), 401)
	check("new token", h.get(lic+"?key=link-key", bearer("next")...), 200)
	h.do(http.MethodPost, "/-/control/token", `{"token":""}`)
	check("no token needed", h.get(lic+"?key=link-key"), 200)
	if r := h.do(http.MethodPost, "/-/control/token", `{}`); r.status != 400 {
		t.Fatalf("token body without token: %d", r.status)
	}
	// Unauthorized requests count: a client hammering with a bad token shows.
	if n := h.sim.Requests()[EndpointLicenses]; n != 11 {
		t.Fatalf("licenses requests %d", n)
	}
	if r := h.get("/-/control"); strings.Contains(string(r.body), "next") || strings.Contains(string(r.body), "link-key") {
		t.Fatalf("control state shows a secret: %s", r.body)
	}
}

// BenchmarkServeSessions reads all 200,000 sessions of the huge tier over
// loopback, 1,000 a page. "bytes" only moves the cached bytes (the
// simulator's cost), "cold" first builds every page, and "decode" also
// decodes them into the wire types: the floor an exporter's poll can reach.
func BenchmarkServeSessions(b *testing.B) {
	h := start(b, Options{Tier: TierHuge, Seed: 1, Start: wed11})
	client := h.srv.Client()
	fetch := func(b *testing.B, decode bool) (int64, int) {
		var total int64
		n := 0
		tok := ""
		var buf bytes.Buffer
		for {
			resp, err := client.Get(h.base + "sessions?page_size=1000&page_token=" + tok)
			if err != nil {
				b.Fatal(err)
			}
			buf.Reset()
			m, err := io.Copy(&buf, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("%d %v", resp.StatusCode, err)
			}
			total += m
			body := buf.Bytes()
			if decode {
				var doc csi.SessionsDoc
				if err := json.Unmarshal(body, &doc); err != nil {
					b.Fatal(err)
				}
				n += len(doc.Sessions)
				tok = doc.NextPageToken
			} else {
				i := bytes.LastIndex(body, nextTokenKey)
				if i < 0 {
					b.Fatal("no next_page_token")
				}
				rest := body[i+len(nextTokenKey):]
				tok = string(rest[:bytes.IndexByte(rest, '"')])
				n += 1000
			}
			if tok == "" {
				return total, n
			}
		}
	}
	report := func(b *testing.B, size int64) {
		b.SetBytes(size)
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/200_000, "ns/session")
	}
	// cold: every read starts a new snapshot version, so every page is
	// assembled from the sessions' stored encodings (a poll under churn).
	b.Run("cold", func(b *testing.B) {
		var size int64
		for b.Loop() {
			h.sim.mu.Lock()
			h.sim.dirty = true
			h.sim.mu.Unlock()
			size, _ = fetch(b, false)
		}
		report(b, size)
	})
	fetch(b, false) // fill the page cache, as the first poll does
	for _, decode := range []bool{false, true} {
		name := "bytes"
		if decode {
			name = "decode"
		}
		b.Run(name, func(b *testing.B) {
			var size int64
			for b.Loop() {
				size, _ = fetch(b, decode)
			}
			report(b, size)
		})
	}
}

var nextTokenKey = []byte(`"next_page_token":"`)
