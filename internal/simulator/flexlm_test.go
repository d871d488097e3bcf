package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/source/flexlm"
)

// lmstat fetches GET /flexlm/lmstat and its exit header.
func (h *harness) lmstat() ([]byte, int) {
	h.t.Helper()
	r := h.get(PathLmstat)
	if r.status != http.StatusOK {
		h.t.Fatalf("lmstat: HTTP %d: %s", r.status, r.body)
	}
	exit, err := strconv.Atoi(r.header.Get(HeaderLmutilExit))
	if err != nil {
		h.t.Fatalf("lmstat: no exit header: %v", r.header)
	}
	return r.body, exit
}

func (h *harness) lmremove(req LmremoveRequest) (string, int) {
	h.t.Helper()
	b, _ := json.Marshal(req)
	r := h.do(http.MethodPost, PathLmremove, string(b))
	if r.status != http.StatusOK {
		h.t.Fatalf("lmremove: HTTP %d: %s", r.status, r.body)
	}
	exit, _ := strconv.Atoi(r.header.Get(HeaderLmutilExit))
	return string(r.body), exit
}

// parsedUser is a user line in comparable form.
type parsedUser struct {
	feature, version, user, host, display, server, port, handle string
	start                                                       time.Time
	licenses                                                    int64
	borrowed                                                    bool
	linger                                                      time.Duration
}

func stateUsers(t *testing.T, a FlexLMAccount, queued bool) []parsedUser {
	var out []parsedUser
	for _, x := range a.Sessions {
		if x.Queued != queued {
			continue
		}
		u := parsedUser{feature: x.Feature, version: x.Version, user: x.User, host: x.Host, display: x.Display,
			server: x.Server, port: x.Port, handle: x.Handle, licenses: x.Licenses, borrowed: x.Borrowed,
			linger: time.Duration(x.LingerSeconds) * time.Second}
		if !queued {
			st, err := time.Parse(time.RFC3339, x.Start)
			if err != nil {
				t.Fatal(err)
			}
			u.start = st
		}
		out = append(out, u)
	}
	return out
}

func parsedUsers(st *flexlm.Status, queued bool) []parsedUser {
	var out []parsedUser
	for _, f := range st.Features {
		for _, b := range f.Blocks {
			list := b.Users
			if queued {
				list = b.Queued
			}
			for _, u := range list {
				out = append(out, parsedUser{feature: f.Name, version: u.Version, user: u.Name, host: u.Host, display: u.Display,
					server: u.Server, port: u.Port, handle: u.Handle, start: u.Start.UTC(), licenses: u.Licenses,
					borrowed: u.Borrowed, linger: u.Linger})
			}
		}
	}
	return out
}

func sortUsers(us []parsedUser) {
	slices.SortFunc(us, func(a, b parsedUser) int { return strings.Compare(a.feature+" "+a.handle, b.feature+" "+b.handle) })
}

// compareParsed checks that lmstat's text, read by the exporter's parser,
// holds exactly the simulator's own account.
func compareParsed(t *testing.T, st *flexlm.Status, a FlexLMAccount, downVendor string) {
	t.Helper()
	if len(st.Errors) != 0 || st.SkippedTotal != 0 {
		t.Fatalf("errors %q, skipped %v", st.Errors, st.Skipped)
	}
	if len(st.Features) != len(a.Features) {
		t.Fatalf("%d features parsed, the account has %d", len(st.Features), len(a.Features))
	}
	for i, want := range a.Features {
		got := st.Features[i]
		if got.Name != want.Name {
			t.Fatalf("feature %d is %s, want %s", i, got.Name, want.Name)
		}
		if want.Vendor == downVendor {
			if got.Error == "" || len(got.Blocks) != 0 {
				t.Errorf("%s: its vendor is down, yet it has no error (%+v)", got.Name, got)
			}
			continue
		}
		var inUse, reserved, queued, checkedOut int64
		typ := ""
		for _, b := range got.Blocks {
			switch {
			case typ == "":
				typ = b.Type
			case typ != b.Type:
				typ = "mixed"
			}
			if b.Vendor != want.Vendor {
				t.Errorf("%s: block of vendor %q, want %q", got.Name, b.Vendor, want.Vendor)
			}
			for _, u := range b.Users {
				inUse += u.Licenses
				if u.Borrowed {
					checkedOut += u.Licenses
				}
			}
			for _, r := range b.Reservations {
				reserved += r.Count
			}
			queued += int64(len(b.Queued))
		}
		if typ == "" {
			typ = "floating"
		}
		if got.Uncounted != (want.Type == "uncounted") || typ != want.Type && !got.Uncounted {
			t.Errorf("%s: type %s, want %s", got.Name, typ, want.Type)
		}
		if got.Uncounted != (want.Type == "uncounted") {
			t.Errorf("%s: uncounted %v, type %s", got.Name, got.Uncounted, want.Type)
		}
		if got.Uncounted {
			if got.Issued != 0 || inUse != want.InUse {
				t.Errorf("%s: issued %d, checkouts' seats %d; want 0, %d", got.Name, got.Issued, inUse, want.InUse)
			}
		} else {
			if got.Issued != want.Issued || got.InUse != want.InUse || inUse+reserved != want.InUse {
				t.Errorf("%s: issued %d, in use %d (lines: %d); want %d, %d", got.Name, got.Issued, got.InUse, inUse+reserved, want.Issued, want.InUse)
			}
		}
		if reserved != want.Reserved || queued != want.Queued || checkedOut != want.CheckedOut {
			t.Errorf("%s: reserved %d, queued %d, checked out %d; want %d, %d, %d", got.Name, reserved, queued, checkedOut,
				want.Reserved, want.Queued, want.CheckedOut)
		}
	}
	for _, queued := range []bool{false, true} {
		want := stateUsers(t, a, queued)
		got := parsedUsers(st, queued)
		if downVendor != "" {
			want = slices.DeleteFunc(want, func(u parsedUser) bool {
				return flexVendors[flexFeatures[slices.IndexFunc(flexFeatures, func(f flexFeature) bool { return f.name == u.feature })].vendor].name == downVendor
			})
		}
		sortUsers(want)
		sortUsers(got)
		if !slices.Equal(got, want) {
			t.Fatalf("queued=%v: parsed users\n%+v\nwant\n%+v", queued, got, want)
		}
	}
}

// TestFlexLMTextParsesToTheAccount reads the simulator's lmstat text with
// the exporter's parser over a working day in a zone with daylight saving
// and checks it holds exactly the simulator's state each time, and that
// the day showed every kind of line.
func TestFlexLMTextParsesToTheAccount(t *testing.T) {
	loc, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Date(2026, 12, 2, 7, 0, 0, 0, loc) // a Wednesday
	h := start(t, Options{Seed: 7, Start: begin, Churn: true, Location: loc})
	seen := map[string]bool{}
	var prev []parsedUser
	changes := 0
	for step := range 40 {
		text, exit := h.lmstat()
		a := h.sim.FlexLM()
		now, _ := time.Parse(time.RFC3339, a.SimTime)
		st, err := flexlm.Parse(text, now, loc)
		if err != nil || exit != 0 {
			t.Fatalf("step %d: %v, exit %d", step, err, exit)
		}
		if len(st.Servers) != 3 || !st.Servers[0].Master || !st.Servers[0].Up || !st.Servers[1].Up || !st.Servers[2].Up || len(st.Vendors) != 3 {
			t.Fatalf("servers %+v vendors %+v", st.Servers, st.Vendors)
		}
		compareParsed(t, st, a, "")
		users := parsedUsers(st, false)
		if !slices.Equal(users, prev) {
			changes++
		}
		prev = users
		for _, f := range st.Features {
			for _, b := range f.Blocks {
				seen["type "+b.Type] = true
				if len(b.Reservations) > 0 {
					seen["reservation"] = true
				}
				if len(b.Queued) > 0 {
					seen["queued"] = true
				}
				for _, u := range b.Users {
					if u.Borrowed {
						seen["borrowed"] = true
					}
					if u.Licenses > 1 {
						seen["licenses"] = true
					}
				}
			}
			if len(f.Blocks) > 1 {
				seen["two blocks"] = true
			}
		}
		h.clock.Advance(17 * time.Minute)
	}
	for _, k := range []string{"type floating", "type nodelocked", "type uncounted", "reservation", "queued", "borrowed", "licenses", "two blocks"} {
		if !seen[k] {
			t.Errorf("a working day never showed %s", k)
		}
	}
	if changes < 30 {
		t.Errorf("the checkouts changed at %d of 40 steps; sessions should come and go", changes)
	}
}

func TestFlexLMDeterministic(t *testing.T) {
	var texts [2][]byte
	for i := range texts {
		h := start(t, Options{Seed: 3, Start: wed11, Churn: true})
		h.clock.Advance(3 * time.Hour)
		texts[i], _ = h.lmstat()
	}
	if !bytes.Equal(texts[0], texts[1]) {
		t.Fatal("the same seed and clock gave two lmstat texts")
	}
	other := start(t, Options{Seed: 4, Start: wed11, Churn: true})
	other.clock.Advance(3 * time.Hour)
	if b, _ := other.lmstat(); bytes.Equal(b, texts[0]) {
		t.Fatal("another seed gave the same text")
	}
}

func TestFlexLMFaults(t *testing.T) {
	h := start(t, Options{Seed: 1, Start: wed11, Churn: true})
	a := h.sim.FlexLM()
	now, _ := time.Parse(time.RFC3339, a.SimTime)
	parse := func(b []byte) *flexlm.Status {
		st, err := flexlm.Parse(b, now, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	normal, _ := h.lmstat()

	h.setFlexFault(`{"kind":"down"}`)
	b, exit := h.lmstat()
	if st := parse(b); exit != 1 || len(st.Errors) != 1 || !strings.HasPrefix(st.Errors[0], "Error getting status: Cannot connect") || len(st.Servers)+len(st.Features) != 0 {
		t.Errorf("down: exit %d, %+v", exit, st)
	}

	h.setFlexFault(`{"kind":"server_down"}`)
	b, exit = h.lmstat()
	st := parse(b)
	if exit != 0 || len(st.Servers) != 3 || !st.Servers[0].Up || !st.Servers[1].Up || st.Servers[2].Up || st.Servers[2].Name != "flex-c" {
		t.Errorf("server_down: exit %d, %+v", exit, st.Servers)
	}
	compareParsed(t, st, a, "")
	h.setFlexFault(`{"kind":"server_down","server":"flex-a"}`)
	b, _ = h.lmstat()
	if st := parse(b); st.Servers[0].Up || !st.Servers[1].Master {
		t.Errorf("master down: %+v", st.Servers)
	}

	h.setFlexFault(`{"kind":"vendor_down","vendor":"tidalsim"}`)
	b, exit = h.lmstat()
	st = parse(b)
	if exit != 0 || st.Vendors[1].Name != "tidalsim" || st.Vendors[1].Up || !st.Vendors[0].Up || st.Vendors[1].Detail != lmVendorDown {
		t.Errorf("vendor_down: %+v", st.Vendors)
	}
	compareParsed(t, st, a, "tidalsim")

	h.setFlexFault(`{"kind":"garbage"}`)
	b, exit = h.lmstat()
	if st := parse(b); exit != 0 || len(st.Servers)+len(st.Features)+len(st.Errors) != 0 || st.SkippedTotal == 0 {
		t.Errorf("garbage: %+v", st)
	}

	h.setFlexFault(`{"kind":"huge","huge_bytes":3000000}`)
	b, _ = h.lmstat()
	if len(b) != 3000000 || !bytes.HasPrefix(b, normal) {
		t.Errorf("huge: %d bytes", len(b))
	}
	compareParsed(t, parse(b), a, "")

	// slow: no answer while the fault lasts (an hour), until the client
	// gives up.
	h.setFlexFault(`{"kind":"slow","latency":"1h"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.URL+PathLmstat, nil)
	if resp, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow: answered: %v %v", resp, err)
	}

	h.setFlexFault(`{"kind":"none"}`)
	if b, _ := h.lmstat(); !bytes.Equal(b, normal) {
		t.Error("after the faults, lmstat differs")
	}
	for _, bad := range []string{`{"kind":"slow","vendor":"x"}`, `{"kind":"vendor_down","vendor":"nope"}`, `{"kind":"server_down","server":"lic-z"}`,
		`{"kind":"huge","huge_bytes":5}`, `{"kind":"what"}`, `{"kind":"slow","latency":"-1s"}`, `{"kind":"none","extra":1}`} {
		if r := h.do(http.MethodPost, "/-/control/flexlm/fault", bad); r.status != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d", bad, r.status)
		}
	}
}

func (h *harness) setFlexFault(body string) {
	h.t.Helper()
	if r := h.do(http.MethodPost, "/-/control/flexlm/fault", body); r.status != http.StatusOK {
		h.t.Fatalf("fault %s: HTTP %d: %s", body, r.status, r.body)
	}
}

func findFlexSession(a FlexLMAccount, feature, user string) (FlexLMSessionInfo, bool) {
	for _, x := range a.Sessions {
		if x.Feature == feature && x.User == user && !x.Queued {
			return x, true
		}
	}
	return FlexLMSessionInfo{}, false
}

func TestFlexLMLmremove(t *testing.T) {
	h := start(t, Options{Seed: 1, Start: wed11, Churn: true})
	a := h.sim.FlexLM()
	bob, ok := findFlexSession(a, "KS_SOLVER", FlexBobUser)
	borrowed, ok2 := findFlexSession(a, "TS_GIS_LINK", FlexBobUser)
	if !ok || !ok2 || !borrowed.Borrowed || bob.Host != FlexBobHost {
		t.Fatalf("bob's pinned checkouts are missing: %+v", a.Sessions)
	}
	req := LmremoveRequest{Feature: "KS_SOLVER", ServerHost: bob.Server, Port: bob.Port, Handle: bob.Handle}
	if out, exit := h.lmremove(req); exit != 0 || out != LmutilBanner+"\n" {
		t.Fatalf("lmremove bob: exit %d %q", exit, out)
	}
	if _, ok := findFlexSession(h.sim.FlexLM(), "KS_SOLVER", FlexBobUser); ok {
		t.Fatal("bob's checkout is still there")
	}
	text, _ := h.lmstat()
	if bytes.Contains(text, []byte("bob ws-bob")) {
		t.Fatal("lmstat still prints bob's checkout")
	}
	// Again: gone. The borrowed one: refused. A wrong server: not found.
	if out, exit := h.lmremove(req); exit != 1 || !strings.Contains(out, "no checkout of KS_SOLVER with handle "+bob.Handle) {
		t.Errorf("second lmremove: exit %d %q", exit, out)
	}
	breq := LmremoveRequest{Feature: "TS_GIS_LINK", ServerHost: "flex-a", Port: FlexLMPort, Handle: borrowed.Handle}
	if out, exit := h.lmremove(breq); exit != 1 || !strings.Contains(out, "borrowed") {
		t.Errorf("borrowed: exit %d %q", exit, out)
	}
	wrong := LmremoveRequest{Feature: "TS_GIS_LINK", ServerHost: "flex-b", Port: FlexLMPort, Handle: borrowed.Handle}
	if _, exit := h.lmremove(wrong); exit != 1 {
		t.Errorf("wrong server: exit %d", exit)
	}
	h.setFlexFault(`{"kind":"down"}`)
	if out, exit := h.lmremove(breq); exit != 1 || !strings.Contains(out, "Cannot connect") {
		t.Errorf("down: exit %d %q", exit, out)
	}
	calls := h.sim.State().FlexLM.Lmremove
	want := []LmremoveCall{
		{At: ts(wed11), LmremoveRequest: req, Result: LmremoveRemoved, User: FlexBobUser, Host: FlexBobHost},
		{At: ts(wed11), LmremoveRequest: req, Result: LmremoveNotFound},
		{At: ts(wed11), LmremoveRequest: breq, Result: LmremoveBorrowed, User: FlexBobUser, Host: "lt-bob"},
		{At: ts(wed11), LmremoveRequest: wrong, Result: LmremoveNotFound},
		{At: ts(wed11), LmremoveRequest: breq, Result: LmremoveServersDown, User: FlexBobUser, Host: "lt-bob"},
	}
	if !slices.Equal(calls, want) {
		t.Fatalf("recorded calls\n%+v\nwant\n%+v", calls, want)
	}
	// A browser's cross-origin post is refused and not recorded.
	r := h.do(http.MethodPost, PathLmremove, `{"feature":"KS_SOLVER","server_host":"flex-a","port":"27000","handle":"1"}`,
		"Sec-Fetch-Site", "cross-site")
	if r.status != http.StatusForbidden || len(h.sim.State().FlexLM.Lmremove) != len(want) {
		t.Errorf("cross-origin lmremove: HTTP %d", r.status)
	}
	if r := h.do(http.MethodPost, PathLmremove, `{"feature":"X","bogus":1}`); r.status != http.StatusBadRequest {
		t.Errorf("unknown field: HTTP %d", r.status)
	}
}

func TestClockControl(t *testing.T) {
	h := start(t, Options{Seed: 1, Start: wed11, Churn: true})
	h.do(http.MethodPost, "/-/control/clock", `{"paused":true}`)
	h.clock.Advance(time.Hour)
	if st := h.sim.State(); st.SimTime != ts(wed11) || !st.Paused {
		t.Fatalf("paused clock moved: %+v", st)
	}
	if r := h.do(http.MethodPost, "/-/control/clock", `{"advance":"25m"}`); r.status != http.StatusOK {
		t.Fatalf("advance: %d %s", r.status, r.body)
	}
	if st := h.sim.State(); st.SimTime != ts(wed11.Add(25*time.Minute)) {
		t.Fatalf("advanced to %s", st.SimTime)
	}
	h.do(http.MethodPost, "/-/control/clock", `{"paused":false}`)
	h.clock.Advance(time.Minute)
	if st := h.sim.State(); st.SimTime != ts(wed11.Add(26*time.Minute)) || st.Paused {
		t.Fatalf("resumed clock at %s", st.SimTime)
	}
	h.do(http.MethodPost, "/-/control/clock", `{"advance":"1h"}`)
	if st := h.sim.State(); st.SimTime != ts(wed11.Add(86*time.Minute)) {
		t.Fatalf("running clock advanced to %s", st.SimTime)
	}
	for _, bad := range []string{`{}`, `{"advance":"-1m"}`, `{"advance":"48h"}`, `{"advance":"x"}`, `{"paused":true,"x":1}`} {
		if r := h.do(http.MethodPost, "/-/control/clock", bad); r.status != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d", bad, r.status)
		}
	}
}

func FuzzFlexLMBodies(f *testing.F) {
	for _, s := range []string{`{"kind":"slow","latency":"20s"}`, `{"kind":"vendor_down","vendor":"tidalsim"}`,
		`{"kind":"server_down","server":"flex-a"}`, `{"kind":"huge","huge_bytes":2048}`, `{"kind":"down"}`, `{"kind":"garbage"}`,
		`{"kind":"none"}`, `{"paused":true,"advance":"5m"}`, `{"advance":"1e3h"}`,
		`{"feature":"KS_SOLVER","server_host":"flex-a","port":"27000","handle":"101"}`, `[1]`,
		`{"feature":"KS_VIEWER","user":"dave","host":"ws-dave","borrowed":true,"started_at":"2026-12-02T08:00:00Z"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if fault, err := ParseFlexFault(b); err == nil {
			enc, err := json.Marshal(fault)
			if err != nil {
				t.Fatal(err)
			}
			again, err := ParseFlexFault(enc)
			if err != nil || fmt.Sprint(again) != fmt.Sprint(fault) {
				t.Fatalf("%s -> %s -> %v, %v", b, enc, again, err)
			}
		}
		if p, d, err := ParseClock(b); err == nil && (d < 0 || d > maxClockAdvance || p == nil && d == 0) {
			t.Fatalf("%s: accepted %v %v", b, p, d)
		}
		var req LmremoveRequest
		_ = decodeStrict(bytes.NewReader(b), &req)
		var sreq FlexLMSessionRequest
		if decodeStrict(bytes.NewReader(b), &sreq) == nil && lmstatToken(sreq.User) && strings.ContainsAny(sreq.User, " ,()") {
			t.Fatalf("user %q passes as one lmstat field", sreq.User)
		}
	})
}

func TestFlexLMControlSessions(t *testing.T) {
	h := start(t, Options{Seed: 1, Start: wed11}) // no churn: only the control API changes checkouts
	add := func(body string) FlexLMSessionInfo {
		t.Helper()
		r := h.do(http.MethodPost, "/-/control/flexlm/sessions", body)
		if r.status != http.StatusCreated {
			t.Fatalf("%s: HTTP %d %s", body, r.status, r.body)
		}
		return decode[FlexLMSessionInfo](t, r)
	}
	dave := add(`{"feature":"KS_ACOUSTIC","user":"dave","host":"ws-dave","borrowed":true,"started_at":"2026-12-02T08:00:30Z"}`)
	view := add(`{"feature":"KS_VIEWER","user":"dave","host":"ws-dave","display":"ws-dave:0.0"}`)
	flood := add(`{"feature":"TS_FLOOD2D","version":"8.1","user":"erin","host":"eng-007","licenses":1}`)
	wait := add(`{"feature":"VX_RENDER","user":"erin","host":"eng-007","licenses":2,"queued":true}`)
	if dave.Start != "2026-12-02T08:00:00Z" || !dave.Borrowed || dave.LingerSeconds != 3*86400 || view.Display != "ws-dave:0.0" ||
		flood.Version != "8.1" || !wait.Queued || wait.Licenses != 2 || wait.Start != "" {
		t.Fatalf("added: %+v %+v %+v %+v", dave, view, flood, wait)
	}
	text, _ := h.lmstat()
	st, err := flexlm.Parse(text, wed11, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	compareParsed(t, st, h.sim.FlexLM(), "")
	if _, exit := h.lmremove(LmremoveRequest{"KS_VIEWER", "flex-a", "27000", view.Handle}); exit != 1 {
		t.Error("an uncounted checkout was removed")
	}
	if _, exit := h.lmremove(LmremoveRequest{"TS_FLOOD2D", "flex-a", "27000", flood.Handle}); exit != 0 {
		t.Error("the node-locked checkout was not removed")
	}
	if calls := h.sim.State().FlexLM.Lmremove; len(calls) != 2 || calls[0].Result != LmremoveUncounted || calls[1].Result != LmremoveRemoved || calls[1].User != "erin" {
		t.Errorf("calls %+v", calls)
	}
	for _, bad := range []string{`{"feature":"NOPE","user":"u","host":"h"}`, `{"feature":"KS_SOLVER","version":"1.0","user":"u","host":"h"}`,
		`{"feature":"KS_SOLVER","user":"a b","host":"h"}`, `{"feature":"KS_SOLVER","user":"u","host":""}`, `{"feature":"KS_SOLVER","user":"u","host":"h","licenses":-1}`,
		`{"feature":"KS_SOLVER","user":"u","host":"h","queued":true,"borrowed":true}`, `{"feature":"KS_SOLVER","user":"u","host":"h","started_at":"2030-01-01T00:00:00Z"}`,
		`{"feature":"KS_SOLVER","user":"u","host":"h","x":1}`, `{"feature":"KS_SOLVER","user":"u(1)","host":"h"}`} {
		if r := h.do(http.MethodPost, "/-/control/flexlm/sessions", bad); r.status != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d", bad, r.status)
		}
	}
}
