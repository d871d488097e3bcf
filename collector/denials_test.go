package collector

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/license-monitor/license-monitor/source"
)

// denialSource is acme() with denials: each read hands out events, and
// records the since it was asked for.
type denialSource struct {
	*fakeSource
	events []source.Denial
	err    error
	asked  []time.Time
}

func (d *denialSource) EachDenial(ctx context.Context, since time.Time, visit func(*source.Denial)) error {
	d.asked = append(d.asked, since)
	for i := range d.events {
		e := d.events[i]
		if e.Time.Before(since) {
			continue // as upstream filters
		}
		visit(&e)
	}
	return d.err
}

var t0 = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

func denial(id string, at time.Time, product, edition, typ string, r source.DenialReason) source.Denial {
	return source.Denial{ID: id, Time: at, Product: product, Edition: edition, LicenseType: typ, User: "u", Host: "h", Reason: r}
}

// denialPoller polls acme() with the snapshot's clock at genAt, then
// reads denials as run does after a good poll.
func denialPoller(t *testing.T, extra ...string) (*Poller, *denialSource) {
	t.Helper()
	f := acme()
	d := &denialSource{fakeSource: f}
	cfg := loadConfig(t, "sources:\n  - name: acme\n    type: fake\n    product: unused\n"+strings.Join(extra, ""))
	p, err := NewPoller(cfg.Sources[0], "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p.src = d
	p.now = func() time.Time { return time.Unix(1764500000, 0) }
	return p, d
}

func pollBoth(t *testing.T, p *Poller, genAt time.Time) {
	t.Helper()
	p.src.(*denialSource).snap.GeneratedAt = genAt
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.pollDenials(context.Background(), p.view.Load())
}

// denialCounts gathers license_denials_total through the registry.
func denialCounts(t *testing.T, p *Poller) map[string]float64 {
	t.Helper()
	c := New("test", slog.New(slog.DiscardHandler))
	c.pollers = []*Poller{p}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "license_denials_total" {
			continue
		}
		for _, m := range mf.Metric {
			var k []string
			for _, l := range m.Label {
				if l.GetName() != "source" {
					k = append(k, l.GetValue())
				}
			}
			out[strings.Join(k, "/")] = m.GetCounter().GetValue()
		}
	}
	return out
}

func readFailures(p *Poller) map[source.Reason]uint64 {
	p.stats.mu.Lock()
	defer p.stats.mu.Unlock()
	out := map[source.Reason]uint64{}
	for r, n := range p.stats.denials.failures {
		if n > 0 {
			out[r] = n
		}
	}
	return out
}

func TestDenialsCountedOnceFromZero(t *testing.T) {
	p, d := denialPoller(t)
	// Recorded before the exporter looked: remembered, not counted.
	d.events = []source.Denial{denial("D-old", t0.Add(-10*time.Minute), "ETABS", "Ultimate", "cloud_sign_in", source.DenialNoSeat)}
	pollBoth(t, p, t0)
	got := denialCounts(t, p)
	// Keys are edition/license_type/product/reason (labels sorted by name).
	if len(got) != 2*len(source.DenialReasons) || got["Ultimate/cloud_sign_in/ETABS/no_seat_available"] != 0 || got["Plus/network/SAP2000/other"] != 0 {
		t.Fatalf("after the first read every listed license and reason is 0: %v", got)
	}
	if want := t0.Add(-time.Hour); !d.asked[0].Equal(want) {
		t.Errorf("first since %v, want generated_at - 1h = %v", d.asked[0], want)
	}

	// New, repeated, and late events; one of a product the licenses
	// don't list, which appears without a zero.
	d.events = append(d.events,
		denial("D-1", t0.Add(2*time.Minute), "ETABS", "Ultimate", "cloud_sign_in", source.DenialNoSeat),
		denial("D-1", t0.Add(2*time.Minute), "ETABS", "Ultimate", "cloud_sign_in", source.DenialNoSeat),
		denial("D-2", t0.Add(3*time.Minute), "SAP2000", "Plus", "network", source.DenialNotInGroup),
		denial("D-3", t0.Add(4*time.Minute), "SAFE", "", "network", source.DenialOther),
	)
	pollBoth(t, p, t0.Add(5*time.Minute))
	d.events = append(d.events, denial("D-late", t0.Add(time.Minute), "ETABS", "Ultimate", "cloud_sign_in", source.DenialNoSeat))
	pollBoth(t, p, t0.Add(10*time.Minute))
	pollBoth(t, p, t0.Add(15*time.Minute)) // everything again
	got = denialCounts(t, p)
	for k, want := range map[string]float64{
		"Ultimate/cloud_sign_in/ETABS/no_seat_available":    2,
		"Ultimate/cloud_sign_in/ETABS/not_in_license_group": 0,
		"Plus/network/SAP2000/not_in_license_group":         1,
		"/network/SAFE/other":                               1,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], want, got)
		}
	}
	// since follows the newest event (D-3 at +4m, before generated_at),
	// minus the overlap: upstream's clock only.
	if want := t0.Add(4*time.Minute - time.Hour); !d.asked[3].Equal(want) {
		t.Errorf("since %v, want newest - 1h = %v", d.asked[3], want)
	}
}

func TestDenialsSinceNeverFromTheFuture(t *testing.T) {
	gen := t0
	for _, tc := range []struct {
		newest, gen, want time.Time
	}{
		{time.Time{}, gen, gen.Add(-time.Hour)},
		{gen.Add(-time.Minute), gen, gen.Add(-time.Minute - time.Hour)},
		{gen.Add(time.Hour), gen, gen.Add(-time.Hour)}, // an event stamped ahead
		{gen.Add(-time.Minute), time.Time{}, gen.Add(-time.Minute - time.Hour)},
		{time.Time{}, time.Time{}, time.Time{}},
	} {
		if got := denialsSince(tc.newest, tc.gen, time.Hour); !got.Equal(tc.want) {
			t.Errorf("denialsSince(%v, %v) = %v, want %v", tc.newest, tc.gen, got, tc.want)
		}
	}
}

func TestDenialsFailureLeavesSeatsUp(t *testing.T) {
	p, d := denialPoller(t)
	pollBoth(t, p, t0)
	d.events = []source.Denial{denial("D-1", t0.Add(time.Minute), "ETABS", "Ultimate", "cloud_sign_in", source.DenialNoSeat)}
	d.err = &source.Error{Reason: source.ReasonHTTP5xx, Op: "GET denials page 2", RetryAfter: time.Minute}
	pollBoth(t, p, t0.Add(time.Minute))
	if f := readFailures(p); f[source.ReasonHTTP5xx] != 1 || len(f) != 1 {
		t.Errorf("read failures %v, want one http_5xx", f)
	}
	if !p.stats.up || len(failures(p)) != 0 {
		t.Errorf("a failed denials read touched the poll's health: up=%v failures=%v", p.stats.up, failures(p))
	}
	// What was read before the failure counts.
	if got := denialCounts(t, p); got["Ultimate/cloud_sign_in/ETABS/no_seat_available"] != 1 {
		t.Errorf("events read before the failure: %v", got)
	}
	// Retry-After holds the next read back.
	n := len(d.asked)
	pollBoth(t, p, t0.Add(2*time.Minute))
	if len(d.asked) != n {
		t.Error("denials read again before Retry-After passed")
	}
	p.now = func() time.Time { return time.Unix(1764500000, 0).Add(2 * time.Minute) }
	d.err = nil
	pollBoth(t, p, t0.Add(3*time.Minute))
	if len(d.asked) != n+1 {
		t.Error("denials not read after Retry-After passed")
	}
}

func TestDenialsNotSupported(t *testing.T) {
	p, d := denialPoller(t)
	pollBoth(t, p, t0)
	d.err = source.ErrNotSupported
	pollBoth(t, p, t0.Add(time.Minute))
	if got := denialCounts(t, p); len(got) != 0 {
		t.Errorf("an account without denials exports none: %v", got)
	}
	if f := readFailures(p); len(f) != 0 || !p.stats.up {
		t.Errorf("404 is not a failure: %v, up=%v", f, p.stats.up)
	}
	d.err = nil
	pollBoth(t, p, t0.Add(2*time.Minute))
	if got := denialCounts(t, p); len(got) != 2*len(source.DenialReasons) {
		t.Errorf("the endpoint back: %v", got)
	}
}

func TestDenialsFilteredProducts(t *testing.T) {
	p, d := denialPoller(t, "    products: {exclude: SAP.*}\n")
	pollBoth(t, p, t0)
	d.events = []source.Denial{denial("D-1", t0.Add(time.Minute), "SAP2000", "Plus", "network", source.DenialNoSeat)}
	pollBoth(t, p, t0.Add(time.Minute))
	for k := range denialCounts(t, p) {
		if strings.Contains(k, "SAP2000") {
			t.Errorf("a filtered product's denials are exported: %s", k)
		}
	}
}

func TestDenialIDsBounded(t *testing.T) {
	d := newDenialState()
	for i := range maxDenialIDs + 1 {
		d.seen[uint64(i)] = t0.Add(time.Duration(i) * time.Millisecond).UnixNano()
	}
	d.trim()
	if len(d.seen) > maxDenialIDs || len(d.seen) < maxDenialIDs*3/4 {
		t.Fatalf("%d ids kept", len(d.seen))
	}
	// The forgotten ones are older than floor, so never counted again.
	for _, at := range d.seen {
		if at < d.floor.UnixNano() {
			t.Fatal("an id older than floor was kept")
		}
	}
	if _, kept := d.seen[0]; kept || d.floor.IsZero() {
		t.Errorf("the oldest id kept, or no floor: %v", d.floor)
	}
}

// The exposition of the denial families, as promtool reads them.
func TestDenialsExposition(t *testing.T) {
	p, d := denialPoller(t)
	pollBoth(t, p, t0)
	d.events = []source.Denial{denial("D-1", t0.Add(time.Minute), "ETABS", "Ultimate", "cloud_sign_in", source.DenialNotInGroup)}
	pollBoth(t, p, t0.Add(time.Minute))
	c := New("test", slog.New(slog.DiscardHandler))
	c.pollers = []*Poller{p}
	want := `# HELP license_denials_total License requests the source refused, by the license they asked for and the reason; counted from the exporter's first read of the source's denials.
# TYPE license_denials_total counter
license_denials_total{edition="Ultimate",license_type="cloud_sign_in",product="ETABS",reason="no_seat_available",source="acme"} 0
license_denials_total{edition="Ultimate",license_type="cloud_sign_in",product="ETABS",reason="not_in_license_group",source="acme"} 1
license_denials_total{edition="Ultimate",license_type="cloud_sign_in",product="ETABS",reason="other",source="acme"} 0
license_denials_total{edition="Plus",license_type="network",product="SAP2000",reason="no_seat_available",source="acme"} 0
license_denials_total{edition="Plus",license_type="network",product="SAP2000",reason="not_in_license_group",source="acme"} 0
license_denials_total{edition="Plus",license_type="network",product="SAP2000",reason="other",source="acme"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "license_denials_total"); err != nil {
		t.Fatal(err)
	}
}

// A read cut short by a shutdown (a reload hands the state to the next
// poller) counts what it remembered, and is no failure.
func TestDenialsShutdownKeepsCounts(t *testing.T) {
	p, d := denialPoller(t)
	pollBoth(t, p, t0)
	d.events = []source.Denial{denial("D-1", t0.Add(time.Minute), "ETABS", "Ultimate", "cloud_sign_in", source.DenialNoSeat)}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d.err = context.Canceled
	p.pollDenials(ctx, p.view.Load())
	if got := denialCounts(t, p); got["Ultimate/cloud_sign_in/ETABS/no_seat_available"] != 1 {
		t.Errorf("a denial remembered in a cut-short read was not counted: %v", got)
	}
	if f := readFailures(p); len(f) != 0 {
		t.Errorf("a shutdown counted as a failure: %v", f)
	}
}
