package collector

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/license-monitor/license-monitor/internal/testenv"
	"github.com/license-monitor/license-monitor/source"
)

// extraSource is acme() with series of its own, as FlexLM has.
type extraSource struct {
	*fakeSource
	mu     sync.Mutex
	series []source.Series
	err    error
	calls  int
}

func (e *extraSource) Extra(ctx context.Context) ([]source.Series, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls++
	return e.series, e.err
}

func lic(id, product, typ string) []source.Label {
	return []source.Label{{Name: "license_type", Value: typ}, {Name: "product", Value: product}, {Name: "edition"}, {Name: "license_id", Value: id}}
}

func acmeExtras() []source.Series {
	return []source.Series{
		{Name: "license_server_up", Labels: []source.Label{{Name: "server", Value: "lic-b"}}, Value: 1},
		{Name: "license_server_up", Labels: []source.Label{{Name: "server", Value: "lic-a"}}, Value: 0},
		{Name: "license_server_up", Labels: []source.Label{{Name: "server", Value: "lic-a"}}, Value: 1}, // a repeat: the first stays
		{Name: "license_vendor_daemon_up", Labels: []source.Label{{Name: "vendor", Value: "csi"}}, Value: 1},
		{Name: "license_seats_reserved", Labels: lic("csi:ETABS", "ETABS", "floating"), Value: 2},
		{Name: "license_seats_reserved", Labels: lic("csi:SAP2000", "SAP2000", "floating"), Value: 1},
		{Name: "license_queued_requests", Labels: lic("csi:ETABS", "ETABS", "floating"), Value: 3},
		{Name: "license_made_up", Labels: []source.Label{{Name: "x", Value: "1"}}, Value: 7},
		{Name: "license_made_up", Value: 8},
		{Name: "license_server_up", Labels: []source.Label{{Name: "host", Value: "lic-c"}}, Value: 1}, // wrong label
		{Name: "license_server_up", Labels: []source.Label{{Name: "server", Value: strings.Repeat("s", 300)}}, Value: 1},
		{Name: "license_vendor_daemon_up", Labels: []source.Label{{Name: "vendor", Value: "bad\xff"}}, Value: 1},
	}
}

// logBuffer is a logger whose lines a test reads.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func extraPoller(t *testing.T, products string) (*Poller, *extraSource, *logBuffer) {
	t.Helper()
	cfg := loadConfig(t, "sources:\n  - name: acme\n    type: fake\n    product: unused\n"+products)
	logs := &logBuffer{}
	p, err := NewPoller(cfg.Sources[0], "test", slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e := &extraSource{fakeSource: acme(), series: acmeExtras()}
	p.src = e
	return p, e, logs
}

const wantExtras = `# HELP license_queued_requests Checkout requests of this license waiting in the queue.
# TYPE license_queued_requests gauge
license_queued_requests{edition="",license_id="csi:ETABS",license_type="floating",product="ETABS",source="acme"} 3
# HELP license_seats_reserved Seats of this license held by reservations; they are counted in license_seats_in_use too.
# TYPE license_seats_reserved gauge
license_seats_reserved{edition="",license_id="csi:ETABS",license_type="floating",product="ETABS",source="acme"} 2
license_seats_reserved{edition="",license_id="csi:SAP2000",license_type="floating",product="SAP2000",source="acme"} 1
# HELP license_server_up 1 if the license manager reported this license server up, 0 if not.
# TYPE license_server_up gauge
license_server_up{server="lic-a",source="acme"} 0
license_server_up{server="lic-b",source="acme"} 1
# HELP license_vendor_daemon_up 1 if the license manager reported this vendor daemon up, 0 if not.
# TYPE license_vendor_daemon_up gauge
license_vendor_daemon_up{source="acme",vendor="csi"} 1
`

// extraText is the extra families of an exposition, in its order.
func extraText(body []byte) string {
	var out strings.Builder
	for _, line := range strings.SplitAfter(string(body), "\n") {
		for _, n := range []string{"license_queued_requests", "license_seats_reserved", "license_server_up", "license_vendor_daemon_up"} {
			f := strings.Fields(line)
			if strings.HasPrefix(line, n+"{") || len(f) > 2 && f[0] == "#" && f[2] == n {
				out.WriteString(line)
			}
		}
	}
	return out.String()
}

// A source's own series are served under the contract's table: help from
// it, names outside it dropped with one warning a poll, long or non-UTF-8
// labels dropped, and the output is promhttp's byte for byte.
func TestExtraSeriesServed(t *testing.T) {
	p, e, logs := extraPoller(t, "")
	c := New("test", slog.New(slog.DiscardHandler))
	c.pollers = []*Poller{p}
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e.calls != 1 {
		t.Fatalf("Extra called %d times in a poll, want 1", e.calls)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	_, want := get(t, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), false)
	_, got := get(t, c.Handler(nil, HandlerOpts{}), false)
	if !bytes.Equal(got, want) {
		t.Fatalf("handler output differs from promhttp's:\n--- promhttp\n%s\n--- handler\n%s", want, got)
	}
	if gz := testenv.GunzipOne(t, func() []byte { _, b := get(t, c.Handler(nil, HandlerOpts{}), true); return b }()); !bytes.Equal(gz, want) {
		t.Fatal("gzip output differs from promhttp's")
	}
	if x := extraText(got); x != wantExtras {
		t.Fatalf("extra families:\n%s\nwant:\n%s", x, wantExtras)
	}
	if bytes.Contains(got, []byte("made_up")) || bytes.Contains(got, []byte("lic-c")) {
		t.Error("a series outside the table was served")
	}
	l := logs.String()
	if strings.Count(l, "the metric contract does not have") != 1 || !strings.Contains(l, "series=3") || !strings.Contains(l, "license_made_up") {
		t.Errorf("want one warning for the 3 unknown series:\n%s", l)
	}
	if strings.Count(l, "longer than max_label_length") != 1 {
		t.Errorf("want one warning for the 2 long or invalid labels:\n%s", l)
	}

	// A failed poll keeps the last good extras.
	e.err = &source.Error{Reason: source.ReasonTimeout, Op: "lmstat", Detail: "slow"}
	if err := p.Poll(context.Background()); err == nil {
		t.Fatal("a failing Extra did not fail the poll")
	}
	if f := failures(p); f[source.ReasonTimeout] != 1 {
		t.Errorf("failures %v", f)
	}
	_, got = get(t, c.Handler(nil, HandlerOpts{}), false)
	if x := extraText(got); x != wantExtras {
		t.Fatalf("after a failed poll:\n%s", x)
	}
}

// The products filter leaves filtered products' reserved and queued
// series out; the server and vendor series stay.
func TestExtraSeriesFiltered(t *testing.T) {
	p, _, _ := extraPoller(t, "    products: {exclude: ETABS}\n")
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := New("test", slog.New(slog.DiscardHandler))
	c.pollers = []*Poller{p}
	_, got := get(t, c.Handler(nil, HandlerOpts{}), false)
	want := `# HELP license_seats_reserved Seats of this license held by reservations; they are counted in license_seats_in_use too.
# TYPE license_seats_reserved gauge
license_seats_reserved{edition="",license_id="csi:SAP2000",license_type="floating",product="SAP2000",source="acme"} 1
`
	x := extraText(got)
	if !strings.Contains(x, want) || strings.Contains(x, "ETABS") || !strings.Contains(x, `license_server_up{server="lic-b",source="acme"} 1`) {
		t.Fatalf("filtered extras:\n%s", x)
	}
}

// A source without extra series (CSI) serves none of the families, not
// even their HELP lines.
func TestNoExtraSeriesNoFamilies(t *testing.T) {
	up := &fakeUpstream{}
	up.set(licensesJSON, sessionsJSON, 0)
	c, p := newTestCollector(t, up, "")
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, gz := range []bool{false, true} {
		_, b := get(t, c.Handler(nil, HandlerOpts{}), gz)
		if gz {
			b = testenv.GunzipOne(t, b)
		}
		if x := extraText(b); x != "" || !bytes.Contains(b, []byte("license_seats_issued")) {
			t.Errorf("gzip=%v: a CSI source served extra families:\n%s", gz, x)
		}
	}
	if _, ok := p.src.(source.ExtraSeries); ok {
		t.Fatal("CSI gained extra series: this test no longer tests their absence")
	}
}

// closingSource counts its Close calls.
type closingSource struct {
	*fakeSource
	closed atomic.Int32
}

func (c *closingSource) Close() error {
	c.closed.Add(1)
	return nil
}

// Stop closes a source that holds something open (FlexLM's denials_log),
// once, after its polls have ended.
func TestStopClosesTheSource(t *testing.T) {
	p := fakePoller(t, acme())
	c := &closingSource{fakeSource: acme()}
	p.src = c
	p.Start()
	p.Stop()
	if n := c.closed.Load(); n != 1 {
		t.Fatalf("closed %d times, want 1", n)
	}
}
