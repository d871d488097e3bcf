package collector

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/license-monitor/license-monitor/source"
)

// licensesAt is licensesJSON with upstream's generated_at.
func licensesAt(generated string) string {
	return strings.Replace(licensesJSON, `"licenses":[`, `"generated_at":"`+generated+`","licenses":[`, 1)
}

func sessionsOf(lines ...string) string {
	return `{"sessions":[` + strings.Join(lines, ",") + `],"next_page_token":""}`
}

func session(id, user, host, started string) string {
	return fmt.Sprintf(`{"id":%q,"license_id":"L-E1","user":%q,"host":%q,"started_at":%q}`, id, user, host, started)
}

// countUserSeries is the number of license_user_sessions series c exports.
func countUserSeries(t *testing.T, c *Collector) int {
	t.Helper()
	n, err := testutil.GatherAndCount(registry(t, c), "license_user_sessions")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func droppedTotal(t *testing.T, c *Collector, reason string) float64 {
	t.Helper()
	mfs, err := registry(t, c).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "license_user_sessions_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no license_user_sessions_dropped_total{reason=%q}", reason)
	return 0
}

// TestStartBounds: a start more than a day after upstream's generated_at
// fails the poll as invalid, whatever this machine's clock says, and the
// last good view stays; a day of skew is accepted.
func TestStartBounds(t *testing.T) {
	up := &fakeUpstream{}
	c, p := newTestCollector(t, up, "")
	good := sessionsOf(session("S1", "ann", "WS-1", "2026-11-30T08:00:00Z"), session("S2", "bob", "WS-2", "2026-12-01T07:59:00Z"))
	up.set(licensesAt("2026-11-30T08:00:00Z"), good, 0)
	if err := p.Poll(context.Background()); err != nil {
		t.Fatalf("a start within a day of generated_at: %v", err)
	}
	for _, started := range []string{"2026-12-01T08:00:01Z", "2300-01-01T00:00:00Z"} {
		up.set(licensesAt("2026-11-30T08:00:00Z"), sessionsOf(session("S1", "ann", "WS-1", "2026-11-30T08:00:00Z"), session("S9", "eve", "WS-9", started)), 0)
		err := p.Poll(context.Background())
		if source.ReasonOf(err) != source.ReasonInvalid {
			t.Errorf("start %s: %v, want invalid", started, err)
		}
	}
	// Past what Unix nanoseconds hold, and before 2000: the source refuses
	// them even without generated_at.
	for _, started := range []string{"2300-01-01T00:00:00Z", "1600-01-01T00:00:00Z", "1999-12-31T23:59:59Z"} {
		up.set(licensesJSON, sessionsOf(session("S9", "eve", "WS-9", started)), 0)
		if err := p.Poll(context.Background()); source.ReasonOf(err) != source.ReasonInvalid {
			t.Errorf("start %s without generated_at: %v, want invalid", started, err)
		}
	}
	if n := countUserSeries(t, c); n != 2 {
		t.Errorf("%d user series after the failed polls; the good view has 2", n)
	}
}

// TestLabelTooLong: a session whose user or host is longer than
// max_label_length is left out of the user series and counted; the
// license series and the other users stay.
func TestLabelTooLong(t *testing.T) {
	up := &fakeUpstream{}
	c, p := newTestCollector(t, up, "    max_label_length: 16\n")
	long := strings.Repeat("u", 17)
	up.set(licensesJSON, sessionsOf(
		session("S1", "ann", "WS-1", "2026-11-30T08:00:00Z"),
		session("S2", long, "WS-1", "2026-11-30T08:00:00Z"),
		session("S3", "bob", long, "2026-11-30T08:00:00Z"),
		session("S4", strings.Repeat("u", 16), "WS-1", "2026-11-30T08:00:00Z"),
	), 0)
	for range 2 {
		if err := p.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := countUserSeries(t, c); n != 2 {
		t.Errorf("%d user series, want 2 (ann, and the name of exactly the limit)", n)
	}
	if got := droppedTotal(t, c, "label_too_long"); got != 4 {
		t.Errorf("label_too_long %g after two polls, want 4", got)
	}
	if n, _ := testutil.GatherAndCount(registry(t, c), "license_seats_issued"); n != 2 {
		t.Errorf("%d license series, want 2", n)
	}
}

// TestUserSeriesLimit: past max_user_series a poll exports no user series,
// keeps the license series and counts every session it left out; back
// under the limit, the user series return.
func TestUserSeriesLimit(t *testing.T) {
	up := &fakeUpstream{}
	c, p := newTestCollector(t, up, "    max_user_series: 3\n")
	var lines []string
	for i := range 4 {
		lines = append(lines, session(fmt.Sprint("S", i), fmt.Sprint("user", i), "WS-1", "2026-11-30T08:00:00Z"))
	}
	up.set(licensesJSON, sessionsOf(lines[:3]...), 0)
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countUserSeries(t, c); n != 3 {
		t.Fatalf("%d user series at the limit, want 3", n)
	}
	up.set(licensesJSON, sessionsOf(lines...), 0)
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countUserSeries(t, c); n != 0 {
		t.Errorf("%d user series past the limit, want none", n)
	}
	if got := droppedTotal(t, c, "series_limit"); got != 4 {
		t.Errorf("series_limit %g, want the poll's 4 sessions", got)
	}
	if n, _ := testutil.GatherAndCount(registry(t, c), "license_seats_issued"); n != 2 {
		t.Errorf("%d license series past the limit, want 2", n)
	}
	up.set(licensesJSON, sessionsOf(lines[:2]...), 0)
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countUserSeries(t, c); n != 2 {
		t.Errorf("%d user series back under the limit, want 2", n)
	}
}

func registry(t *testing.T, c *Collector) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	return reg
}
