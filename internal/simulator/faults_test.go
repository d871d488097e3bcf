package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/source/csi"
)

// normal reads the endpoints' normal answers (terminate on a session
// that does not exist, so nothing changes).
func (h *harness) normal() map[string]response {
	return map[string]response{
		EndpointLicenses:  h.get(h.api("licenses")),
		EndpointSessions:  h.get(h.api("sessions") + "?page_size=5"),
		EndpointTerminate: h.do(http.MethodPost, h.api("sessions/S-none/terminate"), ""),
		EndpointDenials:   h.get(h.api("denials") + "?page_size=5"),
	}
}

func (h *harness) hit(ep string) response {
	switch ep {
	case EndpointLicenses:
		return h.get(h.api("licenses"))
	case EndpointSessions:
		return h.get(h.api("sessions") + "?page_size=5")
	case EndpointDenials:
		return h.get(h.api("denials") + "?page_size=5")
	}
	return h.do(http.MethodPost, h.api("sessions/S-none/terminate"), "")
}

func wantJSONType(t *testing.T, r response) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}

// Every fault kind, on every endpoint it touches, then cleared: the wire
// behaviour described in the package doc, and the normal answers again.
func TestFaults(t *testing.T) {
	type check func(t *testing.T, ep string, got, normal response)
	status := func(code int) check {
		return func(t *testing.T, ep string, got, _ response) {
			if got.status != code {
				t.Fatalf("status %d, want %d: %s", got.status, code, got.body)
			}
			wantJSONType(t, got)
			if e := decode[csi.ErrorDoc](t, got); e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("error body %s", got.body)
			}
		}
	}
	unchanged := func(t *testing.T, ep string, got, normal response) {
		if got.status != normal.status || !bytes.Equal(got.body, normal.body) {
			t.Fatalf("%s changed: %d %s", ep, got.status, truncate(got.body))
		}
	}
	cases := []struct {
		body string
		eps  []string // endpoints the fault changes; the others are unchanged
		want check
	}{
		{`{"kind":"http_5xx"}`, allEndpoints, status(500)},
		{`{"kind":"http_5xx","status":503}`, allEndpoints, status(503)},
		{`{"kind":"rate_limit","retry_after":7}`, allEndpoints, func(t *testing.T, ep string, got, n response) {
			status(429)(t, ep, got, n)
			if got.header.Get("Retry-After") != "7" {
				t.Fatalf("Retry-After %q", got.header.Get("Retry-After"))
			}
		}},
		{`{"kind":"rate_limit"}`, allEndpoints, func(t *testing.T, ep string, got, n response) {
			if got.status != 429 || got.header.Get("Retry-After") != "1" {
				t.Fatalf("%d Retry-After %q", got.status, got.header.Get("Retry-After"))
			}
		}},
		{`{"kind":"unauthorized"}`, allEndpoints, status(401)},
		{`{"kind":"malformed"}`, allEndpoints, func(t *testing.T, ep string, got, n response) {
			if got.status != n.status || json.Valid(got.body) || len(got.body) == 0 {
				t.Fatalf("%d %q", got.status, got.body)
			}
		}},
		{`{"kind":"truncated"}`, allEndpoints, func(t *testing.T, ep string, got, n response) {
			if got.status != n.status || len(got.body) != len(n.body)/2 || !bytes.HasPrefix(n.body, got.body) || json.Valid(got.body) {
				t.Fatalf("%d %q of %q", got.status, got.body, truncate(n.body))
			}
		}},
		{`{"kind":"wrong_shape"}`, allEndpoints, func(t *testing.T, ep string, got, n response) {
			if got.status != n.status || !json.Valid(got.body) {
				t.Fatalf("%d %q", got.status, got.body)
			}
			var target any = &csi.LicensesDoc{}
			switch ep {
			case EndpointSessions:
				target = &csi.SessionsDoc{}
			case EndpointTerminate:
				target = &csi.ErrorDoc{}
			case EndpointDenials:
				target = &csi.DenialsDoc{}
			}
			var te *json.UnmarshalTypeError
			if err := json.Unmarshal(got.body, target); !errors.As(err, &te) {
				t.Fatalf("decoding %s into the wire type: %v", got.body, err)
			}
		}},
		{`{"kind":"huge","huge_bytes":300000}`, allEndpoints, func(t *testing.T, ep string, got, n response) {
			if got.status != n.status || len(got.body) != 300000 || !json.Valid(got.body) {
				t.Fatalf("%d, %d bytes, valid %v", got.status, len(got.body), json.Valid(got.body))
			}
			switch ep {
			case EndpointLicenses:
				if d := decode[csi.LicensesDoc](t, got); len(d.Licenses) < 100 {
					t.Fatalf("%d licenses", len(d.Licenses))
				}
			case EndpointSessions:
				if d := decode[csi.SessionsDoc](t, got); len(d.Sessions) < 100 || d.NextPageToken != "" {
					t.Fatalf("%d sessions", len(d.Sessions))
				}
			}
		}},
		{`{"kind":"long_names","name_bytes":5000}`, []string{EndpointSessions}, func(t *testing.T, ep string, got, n response) {
			d, nd := decode[csi.SessionsDoc](t, got), decode[csi.SessionsDoc](t, n)
			users := map[string]bool{}
			for i, s := range d.Sessions {
				if len(s.User) != 5000 || !strings.HasPrefix(s.User, nd.Sessions[i].User) {
					t.Fatalf("user of %d bytes, not %q padded", len(s.User), nd.Sessions[i].User)
				}
				users[s.User] = true
			}
			if len(users) < 2 {
				t.Fatal("long names are not distinct")
			}
		}},
		{`{"kind":"future_start"}`, []string{EndpointSessions}, func(t *testing.T, ep string, got, n response) {
			d := decode[csi.SessionsDoc](t, got)
			if d.Sessions[0].StartedAt != FutureStart || d.Sessions[1].StartedAt == FutureStart {
				t.Fatalf("starts %q, %q", d.Sessions[0].StartedAt, d.Sessions[1].StartedAt)
			}
		}},
		{`{"kind":"negative"}`, []string{EndpointLicenses}, func(t *testing.T, ep string, got, n response) {
			d := decode[csi.LicensesDoc](t, got)
			if *d.Licenses[0].Seats != -3 {
				t.Fatalf("seats %d", *d.Licenses[0].Seats)
			}
		}},
		{`{"kind":"non_integer"}`, []string{EndpointLicenses}, func(t *testing.T, ep string, got, n response) {
			var te *json.UnmarshalTypeError
			if err := json.Unmarshal(got.body, &csi.LicensesDoc{}); !errors.As(err, &te) || !bytes.Contains(got.body, []byte(":2.5,")) {
				t.Fatalf("%v: %s", err, truncate(got.body))
			}
			// Everything but that number is the normal body.
			if !bytes.Equal(bytes.Replace(got.body, []byte(":2.5,"), []byte(":7,"), 1), n.body) {
				t.Fatalf("more than the seat count changed:\n%s\n%s", got.body, n.body)
			}
		}},
		{`{"kind":"duplicate_ids"}`, []string{EndpointLicenses, EndpointSessions, EndpointDenials}, func(t *testing.T, ep string, got, n response) {
			var ids []string
			switch ep {
			case EndpointLicenses:
				for _, l := range decode[csi.LicensesDoc](t, got).Licenses {
					ids = append(ids, l.ID)
				}
			case EndpointDenials:
				// The same event once more, at the end: a repeat, which the
				// API allows.
				d := decode[csi.DenialsDoc](t, got)
				if len(d.Denials) < 2 || d.Denials[len(d.Denials)-1] != d.Denials[0] {
					t.Fatalf("denials %v", d.Denials)
				}
				return
			default:
				d := decode[csi.SessionsDoc](t, got)
				if d.NextPageToken == "" {
					t.Fatal("duplicate_ids lost the next page token")
				}
				for _, s := range d.Sessions {
					ids = append(ids, s.ID)
				}
			}
			if len(ids) < 2 || ids[0] != ids[1] {
				t.Fatalf("ids %v", ids)
			}
		}},
		{`{"kind":"http_5xx","endpoints":["sessions"]}`, []string{EndpointSessions}, status(500)},
		{`{"kind":"malformed","endpoints":["licenses","terminate"]}`, []string{EndpointLicenses, EndpointTerminate}, func(t *testing.T, ep string, got, n response) {
			if json.Valid(got.body) {
				t.Fatal("valid JSON")
			}
		}},
		{`{"kind":"latency","latency":"1ms"}`, nil, nil},
		{`{"kind":"endless_pages"}`, nil, nil},
		{`{"kind":"repeat_token"}`, nil, nil},
	}
	h := start(t, Options{Seed: 1, Start: wed11, Churn: true})
	normal := h.normal()
	if *decode[csi.LicensesDoc](t, normal[EndpointLicenses]).Licenses[0].Seats != 7 {
		t.Fatal("the non_integer check assumes the first license has 7 seats")
	}
	for _, c := range cases {
		t.Run(c.body, func(t *testing.T) {
			h.setFault(c.body)
			for _, ep := range allEndpoints {
				got := h.hit(ep)
				affected := false
				for _, e := range c.eps {
					affected = affected || e == ep
				}
				if affected {
					c.want(t, ep, got, normal[ep])
				} else if c.body != `{"kind":"endless_pages"}` && c.body != `{"kind":"repeat_token"}` || ep != EndpointSessions && ep != EndpointDenials {
					unchanged(t, ep, got, normal[ep])
				}
			}
			h.setFault(`{"kind":"none"}`)
			for ep, n := range h.normal() {
				unchanged(t, ep, n, normal[ep])
			}
		})
	}
}

func TestFaultEndlessPages(t *testing.T) {
	h := start(t, Options{Tier: TierSmall, Seed: 1, Start: wed11})
	h.setFault(`{"kind":"endless_pages","endpoints":["sessions"]}`)
	seen := map[string]bool{}
	tok := ""
	for range 50 { // far past the 6 real pages
		d := decode[csi.SessionsDoc](t, h.get(h.api("sessions")+"?page_size=10&page_token="+tok))
		if d.NextPageToken == "" || seen[d.NextPageToken] || len(d.Sessions) != 10 {
			t.Fatalf("page: %d sessions, token %q (seen %v)", len(d.Sessions), d.NextPageToken, seen[d.NextPageToken])
		}
		seen[d.NextPageToken] = true
		tok = d.NextPageToken
	}
	h.setFault(`{"kind":"none"}`)
	if len(h.sessions(10, nil)) != 60 {
		t.Fatal("pages did not end after clearing")
	}
}

func TestFaultRepeatToken(t *testing.T) {
	h := start(t, Options{Tier: TierSmall, Seed: 1, Start: wed11})
	h.setFault(`{"kind":"repeat_token"}`)
	first := decode[csi.SessionsDoc](t, h.get(h.api("sessions")+"?page_size=10"))
	if first.NextPageToken == "" {
		t.Fatal("no token")
	}
	for range 3 {
		d := decode[csi.SessionsDoc](t, h.get(h.api("sessions")+"?page_size=10&page_token="+first.NextPageToken))
		if d.NextPageToken != first.NextPageToken {
			t.Fatalf("token %q, then %q", first.NextPageToken, d.NextPageToken)
		}
	}
}

// A latency longer than the client waits makes the request time out; a
// short one answers normally.
func TestFaultLatency(t *testing.T) {
	h := start(t, Options{Seed: 1, Start: wed11})
	h.setFault(`{"kind":"latency","latency":"1h"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"licenses", nil)
	if resp, err := h.srv.Client().Do(req); !errors.Is(err, context.DeadlineExceeded) {
		if err == nil {
			resp.Body.Close()
		}
		t.Fatalf("got %v, want a timeout", err)
	}
	h.setFault(`{"kind":"latency","latency":"5ms"}`)
	if r := h.get(h.api("licenses")); r.status != 200 {
		t.Fatalf("%d", r.status)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("gave up waiting for %s", what)
}

// hang holds requests until the client leaves, the fault clears or the
// simulator closes; none of them leaves a handler behind.
func TestFaultHang(t *testing.T) {
	h := start(t, Options{Seed: 1, Start: wed11})
	h.setFault(`{"kind":"hang","endpoints":["sessions"]}`)
	if r := h.get(h.api("licenses")); r.status != 200 {
		t.Fatalf("licenses under a sessions hang: %d", r.status)
	}

	// Cleared: the held request gets the normal answer.
	got := make(chan response, 1)
	go func() { got <- h.get(h.api("sessions")) }()
	waitFor(t, "the request to hang", func() bool { return h.sim.hanging.Load() == 1 })
	h.setFault(`{"kind":"none"}`)
	if r := <-got; r.status != 200 || !json.Valid(r.body) {
		t.Fatalf("after clearing: %d %s", r.status, r.body)
	}

	// The client goes away: the handler returns.
	h.setFault(`{"kind":"hang"}`)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"sessions", nil)
		resp, err := h.srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitFor(t, "the request to hang", func() bool { return h.sim.hanging.Load() == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v", err)
	}
	waitFor(t, "the handler to return", func() bool { return h.sim.hanging.Load() == 0 })

	// Close releases a held request with 503.
	go func() { got <- h.get(h.api("licenses")) }()
	waitFor(t, "the request to hang", func() bool { return h.sim.hanging.Load() == 1 })
	h.sim.Close()
	if r := <-got; r.status != 503 {
		t.Fatalf("after Close: %d %s", r.status, r.body)
	}
	if h.sim.hanging.Load() != 0 {
		t.Fatal("handler still held")
	}
}

// The huge body is streamed: serving 256 MiB allocates a small fraction
// of that.
func TestFaultHugeIsStreamed(t *testing.T) {
	h := start(t, Options{Tier: TierSmall, Seed: 1, Start: wed11})
	const size = 256 << 20
	h.setFault(`{"kind":"huge","huge_bytes":` + strconv.Itoa(size) + `,"endpoints":["sessions"]}`)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	resp, err := h.srv.Client().Get(h.base + "sessions")
	if err != nil {
		t.Fatal(err)
	}
	// Count the bytes and keep only the tail; TestFaults checks that a
	// smaller huge body is valid JSON.
	tail := &tailWriter{}
	n, err := io.Copy(tail, resp.Body)
	resp.Body.Close()
	runtime.ReadMemStats(&after)
	if err != nil || n != size {
		t.Fatalf("%d bytes (%v), want %d", n, err, size)
	}
	if !bytes.HasSuffix(tail.b, []byte(`],"next_page_token":""}`)) {
		t.Fatalf("ends %q", tail.b)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	if alloc > 8<<20 { // the body is 256 MiB
		t.Fatalf("serving and reading %d bytes allocated %d", size, alloc)
	}
	t.Logf("serving and reading %d MiB allocated %.1f MiB", size>>20, float64(alloc)/(1<<20))
}

type tailWriter struct{ b []byte }

func (w *tailWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	if len(w.b) > 64 {
		w.b = append(w.b[:0], w.b[len(w.b)-64:]...)
	}
	return len(p), nil
}

func TestFaultValidation(t *testing.T) {
	h := start(t, Options{Seed: 1, Start: wed11})
	bad := []string{
		`{}`, `{"kind":"explode"}`, `{"kind":"latency","latency":"soon"}`, `{"kind":"latency","latency":"-1s"}`,
		`{"kind":"http_5xx","status":404}`, `{"kind":"http_5xx","status":600}`, `{"kind":"rate_limit","retry_after":-1}`,
		`{"kind":"huge","huge_bytes":10}`, `{"kind":"http_5xx","endpoints":["metrics"]}`, `{"kind":"hang","latency":"1s"}`,
		`{"kind":"none","endpoints":["sessions"]}`, `{"kind":"hang","color":"red"}`, `{"kind":"hang"} {}`, `[]`, ``, `null`,
	}
	for _, b := range bad {
		r := h.do(http.MethodPost, "/-/control/fault", b)
		if r.status != 400 || decode[csi.ErrorDoc](t, r).Error.Message == "" {
			t.Errorf("%s: %d %s", b, r.status, r.body)
		}
	}
	if st := h.sim.State(); st.Fault.Kind != FaultNone {
		t.Fatalf("a refused fault was set: %+v", st.Fault)
	}
	// The answer is the new state, with defaults filled in.
	r := h.do(http.MethodPost, "/-/control/fault", `{"kind":"huge"}`)
	if st := decode[ControlState](t, r); st.Fault.HugeBytes != DefaultFaultHugeBytes || st.Fault.Kind != FaultHuge {
		t.Fatalf("%s", r.body)
	}
	r = h.do(http.MethodPost, "/-/control/fault", `{"kind":"latency","latency":"1500ms","endpoints":["sessions","sessions"]}`)
	if !strings.Contains(string(r.body), `"fault":{"kind":"latency","endpoints":["sessions"],"latency":"1.5s"}`) {
		t.Fatalf("%s", r.body)
	}
	if err := h.sim.SetFault(Fault{Kind: "bogus"}); err == nil {
		t.Fatal("SetFault accepted a bogus kind")
	}
	if err := h.sim.SetFault(Fault{Kind: FaultLatency, Latency: time.Second, Endpoints: []string{EndpointTerminate}}); err != nil {
		t.Fatal(err)
	}
	// The zero Fault clears, from Go.
	if err := h.sim.SetFault(Fault{}); err != nil || h.sim.State().Fault.Kind != FaultNone {
		t.Fatalf("zero Fault: %v, %+v", err, h.sim.State().Fault)
	}
}
