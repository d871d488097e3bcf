package collector

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/license-monitor/license-monitor/internal/config"
)

// fakeUpstream serves fixed bodies that a test can swap between polls.
type fakeUpstream struct {
	mu       sync.Mutex
	licenses string
	sessions string
	status   int
}

func (f *fakeUpstream) set(licenses, sessions string, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.licenses, f.sessions, f.status = licenses, sessions, status
}

func (f *fakeUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status != 0 {
		w.WriteHeader(f.status)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/licenses") {
		io.WriteString(w, f.licenses)
		return
	}
	io.WriteString(w, f.sessions)
}

const licensesJSON = `{"account":{"id":"A-1","name":"Acme"},"licenses":[
 {"id":"L-E1","product":"ETABS","edition":"Ultimate","version":"22","type":"cloud_sign_in","seats":10,"in_use":3,"checked_out":1,"expires_at":"2027-01-01T00:00:00Z"},
 {"id":"L-S1","product":"SAP2000","edition":"Plus","version":"26","type":"network","seats":2,"in_use":1}]}`

const sessionsJSON = `{"sessions":[
 {"id":"S1","license_id":"L-E1","user":"ann@acme.example","host":"WS-1","started_at":"2026-11-30T08:00:00Z"},
 {"id":"S2","license_id":"L-E1","user":"ann@acme.example","host":"WS-1","started_at":"2026-11-30T07:00:00Z","checked_out":true},
 {"id":"S3","license_id":"L-E1","user":"bob@acme.example","host":"WS-2","started_at":"2026-11-30T09:30:00Z"},
 {"id":"S4","license_id":"L-S1","user":"ann@acme.example","host":"WS-1","started_at":"2026-11-30T10:00:00Z"},
 {"id":"S5","license_id":"L-GONE","user":"cy@acme.example","host":"WS-3","started_at":"2026-11-30T11:00:00Z"}],
 "next_page_token":""}`

func newTestCollector(t *testing.T, up *fakeUpstream, extra string) (*Collector, *Poller) {
	t.Helper()
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	cfg, err := config.LoadExporter([]byte("sources:\n  - name: acme\n    url: "+srv.URL+"/v1\n"+extra), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := New("license_exporter/test", logger)
	p, err := NewPoller(cfg.Sources[0], "test", logger)
	if err != nil {
		t.Fatal(err)
	}
	p.now = func() time.Time { return time.Unix(1764500000, 0) }
	c.pollers = []*Poller{p}
	return c, p
}

func compare(t *testing.T, c prometheus.Collector, golden string, names ...string) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", golden))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := testutil.CollectAndCompare(c, f, names...); err != nil {
		t.Fatal(err)
	}
}

// The expected values in testdata are worked out by hand from the JSON
// above: ann holds two ETABS sessions on WS-1 (one checked out, oldest
// 07:00) and one SAP2000; S5's license is unknown.
func TestCollectSnapshot(t *testing.T) {
	up := &fakeUpstream{}
	up.set(licensesJSON, sessionsJSON, 0)
	c, p := newTestCollector(t, up, "")
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	compare(t, c, "snapshot.prom")
}

func TestUsersFalseAndFilter(t *testing.T) {
	up := &fakeUpstream{}
	up.set(licensesJSON, sessionsJSON, 0)
	c, p := newTestCollector(t, up, "    users: false\n    products: {exclude: SAP2000}\n")
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	compare(t, c, "filtered.prom", "license_seats_issued", "license_user_sessions", "license_user_checked_out_sessions", "license_user_session_start_timestamp_seconds")
}

func TestFailureKeepsLastGoodAndEndedUsersVanish(t *testing.T) {
	up := &fakeUpstream{}
	up.set(licensesJSON, sessionsJSON, 0)
	c, p := newTestCollector(t, up, "")
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	up.set("", "", http.StatusBadGateway)
	if err := p.Poll(context.Background()); err == nil {
		t.Fatal("a 502 poll must fail")
	}
	compare(t, c, "after-failure.prom", "license_up", "license_seats_in_use", "license_poll_failures_total", "license_polls_total")

	// bob logs off: his series go with the next good poll.
	up.set(licensesJSON, strings.Replace(sessionsJSON, `"user":"bob@acme.example"`, `"user":"ann@acme.example"`, 1), 0)
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(c, "license_user_sessions"); n != 4 {
		t.Errorf("%d user series, want 4", n)
	}
	var buf strings.Builder
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		buf.WriteString(mf.String())
	}
	if strings.Contains(buf.String(), "bob@acme.example") {
		t.Error("bob's series survived the end of his sessions")
	}
}

func loadConfig(t *testing.T, yaml string) *config.Exporter {
	t.Helper()
	cfg, err := config.LoadExporter([]byte(yaml), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A reload keeps unchanged sources polling undisturbed, restarts changed
// ones with their counters, and stops removed ones.
func TestApplyKeepsUnchangedSources(t *testing.T) {
	c := New("test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer c.Stop()
	// Port 1 refuses connections; polls fail fast and that is fine here.
	const a = "  - name: a\n    url: http://127.0.0.1:1/v1?key=x\n    products: {include: 'ETABS|SAFE'}\n"
	const b = "  - name: b\n    url: http://127.0.0.1:1/v1\n"
	if err := c.Apply(loadConfig(t, "sources:\n"+a+b)); err != nil {
		t.Fatal(err)
	}
	pa, pb := c.pollers[0], c.pollers[1]
	pb.stats.mu.Lock()
	pb.stats.polls = 41
	pb.stats.mu.Unlock()

	if err := c.Apply(loadConfig(t, "sources:\n"+a+b+"    poll_interval: 30s\n")); err != nil {
		t.Fatal(err)
	}
	if c.pollers[0] != pa {
		t.Error("an unchanged source was restarted by a reload")
	}
	if c.pollers[1] == pb {
		t.Error("a changed source kept its old poller")
	}
	if c.pollers[1].stats.polls < 41 {
		t.Errorf("a changed source's counters went back to %d", c.pollers[1].stats.polls)
	}
	if err := c.Apply(loadConfig(t, "sources:\n"+b)); err != nil {
		t.Fatal(err)
	}
	if len(c.pollers) != 1 || c.pollers[0].Name() != "b" {
		t.Fatalf("after removing a: %d pollers", len(c.pollers))
	}
	select {
	case <-pa.done:
	default:
		t.Error("the removed source's poller still runs")
	}
}
