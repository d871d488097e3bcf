package simulator

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/source/csi"
)

// fakeClock is the real clock the tests inject: it moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// A Wednesday, 11:00 UTC.
var wed11 = time.Date(2026, 12, 2, 11, 0, 0, 0, time.UTC)

type harness struct {
	t     testing.TB
	sim   *Simulator
	srv   *httptest.Server
	clock *fakeClock
	base  string
}

// start runs a simulator behind a real HTTP server on loopback, with an
// injected clock unless opts.Now is set.
func start(t testing.TB, opts Options) *harness {
	t.Helper()
	clock := newClock()
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		s.Close()
		srv.Close()
	})
	return &harness{t: t, sim: s, srv: srv, clock: clock, base: srv.URL + APIPrefix + "/"}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (h *harness) do(method, path string, body string, hdr ...string) response {
	h.t.Helper()
	u := path
	if !strings.HasPrefix(u, "http") {
		u = h.srv.URL + path
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func (h *harness) get(path string, hdr ...string) response {
	h.t.Helper()
	return h.do(http.MethodGet, path, "", hdr...)
}

func (h *harness) api(rel string) string { return APIPrefix + "/" + rel }

func decode[T any](t testing.TB, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decoding %d %q: %v", r.status, truncate(r.body), err)
	}
	return v
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

func (h *harness) licenses() csi.LicensesDoc {
	h.t.Helper()
	r := h.get(h.api("licenses"))
	if r.status != 200 {
		h.t.Fatalf("licenses: %d %s", r.status, r.body)
	}
	return decode[csi.LicensesDoc](h.t, r)
}

// sessions reads every page; between runs after each page (to let churn
// happen mid-read). It fails on a duplicate id.
func (h *harness) sessions(pageSize int, between func()) []csi.SessionDoc {
	h.t.Helper()
	var all []csi.SessionDoc
	seen := map[string]bool{}
	tok := ""
	for pages := 0; ; pages++ {
		if pages > 10000 {
			h.t.Fatal("too many pages")
		}
		q := url.Values{}
		if pageSize > 0 {
			q.Set("page_size", strconv.Itoa(pageSize))
		}
		if tok != "" {
			q.Set("page_token", tok)
		}
		r := h.get(h.api("sessions") + "?" + q.Encode())
		if r.status != 200 {
			h.t.Fatalf("sessions page %d: %d %s", pages, r.status, r.body)
		}
		doc := decode[csi.SessionsDoc](h.t, r)
		if pageSize > 0 && len(doc.Sessions) > pageSize {
			h.t.Fatalf("page of %d sessions for page_size %d", len(doc.Sessions), pageSize)
		}
		for _, s := range doc.Sessions {
			if seen[s.ID] {
				h.t.Fatalf("session %s seen twice in one paginated read", s.ID)
			}
			seen[s.ID] = true
		}
		all = append(all, doc.Sessions...)
		if doc.NextPageToken == "" {
			return all
		}
		tok = doc.NextPageToken
		if between != nil {
			between()
		}
	}
}

// checkInvariants checks the no-fault invariants of one consistent read.
func checkInvariants(t testing.TB, lic csi.LicensesDoc, sess []csi.SessionDoc, loadOnly bool) {
	t.Helper()
	byID := map[string]csi.LicenseDoc{}
	for _, l := range lic.Licenses {
		if _, dup := byID[l.ID]; dup {
			t.Fatalf("license id %s twice", l.ID)
		}
		if l.Seats == nil || l.InUse == nil || *l.Seats < 0 || *l.InUse < 0 || l.CheckedOut < 0 {
			t.Fatalf("license %s: bad numbers", l.ID)
		}
		byID[l.ID] = l
	}
	inUse := map[string]int64{}
	co := map[string]int64{}
	ids := map[string]bool{}
	for _, s := range sess {
		if ids[s.ID] {
			t.Fatalf("session id %s twice", s.ID)
		}
		ids[s.ID] = true
		if _, ok := byID[s.LicenseID]; !ok {
			t.Fatalf("session %s: license %s not listed", s.ID, s.LicenseID)
		}
		if s.ID == "" || s.User == "" || s.StartedAt == "" {
			t.Fatalf("session %+v lacks a required field", s)
		}
		if _, err := time.Parse(time.RFC3339, s.StartedAt); err != nil {
			t.Fatalf("session %s: started_at: %v", s.ID, err)
		}
		if s.CheckedOut != (s.CheckoutExpiresAt != nil) {
			t.Fatalf("session %s: checked_out %v but checkout_expires_at %v", s.ID, s.CheckedOut, s.CheckoutExpiresAt)
		}
		inUse[s.LicenseID]++
		if s.CheckedOut {
			co[s.LicenseID]++
		}
	}
	for id, l := range byID {
		if *l.InUse != inUse[id] || l.CheckedOut != co[id] {
			t.Fatalf("license %s: in_use %d checked_out %d, but %d sessions, %d checked out", id, *l.InUse, l.CheckedOut, inUse[id], co[id])
		}
		if loadOnly && *l.InUse > *l.Seats {
			t.Fatalf("license %s: in_use %d > seats %d from load alone", id, *l.InUse, *l.Seats)
		}
	}
}

func (h *harness) setFault(body string) {
	h.t.Helper()
	if r := h.do(http.MethodPost, "/-/control/fault", body); r.status != 200 {
		h.t.Fatalf("set fault %s: %d %s", body, r.status, r.body)
	}
}
