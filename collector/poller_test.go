package collector

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/license-monitor/license-monitor/source"
)

// fakeSource is a source held in memory, to drive the poller without
// HTTP. It is also registered as type "fake" below, to show that a new
// source is a package plus one registration.
type fakeSource struct {
	snap     source.Snapshot
	sessions []source.Session
	licErr   error
	sessErr  error
	// hold, when set, keeps Licenses waiting until EachSession has sent
	// every session, so sessions arrive before the licenses; EachSession
	// waits for Licenses to begin (asked), so the two overlap.
	hold     chan struct{}
	holdOnce sync.Once
	asked    chan struct{}

	mu          sync.Mutex
	calls       []string // "licenses" and "sessions", in the order they began
	inFlight    int
	maxInFlight int
}

func (f *fakeSource) enter(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
}

func (f *fakeSource) leave() {
	f.mu.Lock()
	f.inFlight--
	f.mu.Unlock()
}

func (f *fakeSource) Licenses(ctx context.Context) (*source.Snapshot, error) {
	f.enter("licenses")
	defer f.leave()
	if f.hold != nil {
		close(f.asked)
		select {
		case <-f.hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.licErr != nil {
		return nil, f.licErr
	}
	s := f.snap
	s.Licenses = slices.Clone(f.snap.Licenses)
	return &s, nil
}

func (f *fakeSource) EachSession(ctx context.Context, visit func(*source.Session)) error {
	f.enter("sessions")
	defer f.leave()
	if f.hold != nil {
		select {
		case <-f.asked:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for i := range f.sessions {
		if err := ctx.Err(); err != nil {
			return err
		}
		s := f.sessions[i] // a copy: visit may only keep what it copies
		visit(&s)
	}
	if f.hold != nil {
		f.holdOnce.Do(func() { close(f.hold) })
	}
	return f.sessErr
}

func (f *fakeSource) Host() string { return "fake" }

// fakeKeys are the fake type's keys in a source block.
type fakeKeys struct {
	Product string   `yaml:"product"`
	Seats   int64    `yaml:"seats"`
	Holders []string `yaml:"holders"`
}

func (k *fakeKeys) Validate(string) error {
	if k.Product == "" {
		return errors.New("product is required")
	}
	return nil
}

func init() {
	source.Register("fake", source.Factory{
		NewConfig: func() source.Config { return &fakeKeys{Seats: 1} },
		New: func(c source.Config, _ source.Options) (source.Source, error) {
			k := c.(*fakeKeys)
			f := &fakeSource{snap: source.Snapshot{Licenses: []source.License{
				{ID: "F-1", Product: k.Product, Type: "floating", Seats: k.Seats, InUse: int64(len(k.Holders))},
			}}}
			for i, u := range k.Holders {
				f.sessions = append(f.sessions, source.Session{ID: "s" + u, LicenseID: "F-1", User: u, Host: "lab-" + u,
					StartedAt: time.Unix(1764500000+int64(i), 0)})
			}
			return f, nil
		},
	})
}

// acme is the fake source's account: ann holds two ETABS sessions (one
// checked out), bob one SAP2000, and cy one of a license not listed.
func acme() *fakeSource {
	at := func(h int) time.Time { return time.Date(2026, 11, 30, h, 0, 0, 0, time.UTC) }
	return &fakeSource{
		snap: source.Snapshot{AccountID: "A-1", Licenses: []source.License{
			{ID: "L-E1", Product: "ETABS", Edition: "Ultimate", Type: "cloud_sign_in", Seats: 10, InUse: 3},
			{ID: "L-S1", Product: "SAP2000", Edition: "Plus", Type: "network", Seats: 2, InUse: 1},
		}},
		sessions: []source.Session{
			{ID: "S1", LicenseID: "L-E1", User: "ann", Host: "WS-1", StartedAt: at(8)},
			{ID: "S2", LicenseID: "L-E1", User: "ann", Host: "WS-1", StartedAt: at(7), CheckedOut: true},
			{ID: "S3", LicenseID: "L-S1", User: "bob", Host: "WS-2", StartedAt: at(9)},
			{ID: "S4", LicenseID: "L-GONE", User: "cy", Host: "WS-3", StartedAt: at(10)},
		},
	}
}

// fakePoller polls f under a config loaded as the exporter loads it.
func fakePoller(t *testing.T, f *fakeSource) *Poller {
	t.Helper()
	cfg := loadConfig(t, "sources:\n  - name: acme\n    type: fake\n    product: unused\n")
	p, err := NewPoller(cfg.Sources[0], "test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p.src = f
	return p
}

// wantAcme checks the view of acme(): the users aggregated per product,
// edition, user and host, the unlisted license's session under "unknown".
func wantAcme(t *testing.T, p *Poller) {
	t.Helper()
	v := p.view.Load()
	if v == nil {
		t.Fatal("no view after a good poll")
	}
	if len(v.licenses) != 2 {
		t.Errorf("%d licenses, want 2", len(v.licenses))
	}
	got := map[string]userSeries{}
	for _, u := range v.users {
		got[u.product+"/"+u.user] = u
	}
	ann := got["ETABS/ann"]
	if len(got) != 3 || ann.sessions != 2 || ann.checkedOut != 1 || ann.oldestStart != time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC).UnixNano() ||
		got["SAP2000/bob"].sessions != 1 || got[source.UnknownProduct+"/cy"].sessions != 1 {
		t.Errorf("user series: %+v", v.users)
	}
}

func failures(p *Poller) map[source.Reason]uint64 {
	p.stats.mu.Lock()
	defer p.stats.mu.Unlock()
	out := map[source.Reason]uint64{}
	for r, n := range p.stats.failures {
		if n > 0 {
			out[r] = n
		}
	}
	return out
}

func TestPollBuildsTheView(t *testing.T) {
	p := fakePoller(t, acme())
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantAcme(t, p)
	if !p.stats.up || p.stats.polls != 1 || len(failures(p)) != 0 {
		t.Errorf("stats after a good poll: up %v, polls %d, failures %v", p.stats.up, p.stats.polls, failures(p))
	}
}

// Sessions that arrive before the licenses wait, and count all the same.
func TestPollSessionsBeforeLicenses(t *testing.T) {
	f := acme()
	f.hold, f.asked = make(chan struct{}), make(chan struct{})
	p := fakePoller(t, f)
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantAcme(t, p)
	if f.maxInFlight != 2 {
		t.Errorf("%d reads at once, want the licenses and the sessions together", f.maxInFlight)
	}
}

// After a failed poll the licenses are read first and alone, so a
// struggling source is not sent two requests at once.
func TestPollAfterFailureReadsInTurn(t *testing.T) {
	f := acme()
	f.licErr = &source.Error{Reason: source.ReasonHTTP5xx, Op: "test"}
	p := fakePoller(t, f)
	if err := p.Poll(context.Background()); err == nil {
		t.Fatal("the poll succeeded")
	}
	f.licErr = nil
	f.mu.Lock()
	f.calls, f.maxInFlight = nil, 0
	f.mu.Unlock()
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantAcme(t, p)
	if f.maxInFlight != 1 || !slices.Equal(f.calls, []string{"licenses", "sessions"}) {
		t.Errorf("calls %v, %d at once; want licenses then sessions, one at a time", f.calls, f.maxInFlight)
	}
}

// A failed poll is counted by its reason and keeps the last good view; a
// failure the source did not classify counts as connection; when both
// reads fail, the licenses' reason is the poll's.
func TestPollFailureReasons(t *testing.T) {
	f := acme()
	p := fakePoller(t, f)
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	good := p.view.Load()

	f.licErr = &source.Error{Reason: source.ReasonHTTP5xx, Op: "test"}
	f.sessErr = &source.Error{Reason: source.ReasonDecode, Op: "test"}
	if err := p.Poll(context.Background()); source.ReasonOf(err) != source.ReasonHTTP5xx {
		t.Errorf("both failed: %v, want the licenses' http_5xx", err)
	}
	f.licErr = nil
	if err := p.Poll(context.Background()); source.ReasonOf(err) != source.ReasonDecode {
		t.Errorf("sessions failed: %v, want decode", err)
	}
	f.sessErr = errors.New("no reason given")
	if err := p.Poll(context.Background()); err == nil {
		t.Error("an unclassified failure passed")
	}
	want := map[source.Reason]uint64{source.ReasonHTTP5xx: 1, source.ReasonDecode: 1, source.ReasonConnection: 1}
	if got := failures(p); len(got) != len(want) || got[source.ReasonHTTP5xx] != 1 || got[source.ReasonDecode] != 1 || got[source.ReasonConnection] != 1 {
		t.Errorf("failures %v, want %v", got, want)
	}
	if p.view.Load() != good || p.stats.up || p.stats.polls != 4 {
		t.Errorf("after failures: view kept %v, up %v, polls %d", p.view.Load() == good, p.stats.up, p.stats.polls)
	}
}

// A poll cut short by shutdown is not a failure of the source.
func TestPollCancelledIsNotAFailure(t *testing.T) {
	p := fakePoller(t, acme())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Poll(ctx); err == nil {
		t.Fatal("a cancelled poll succeeded")
	}
	if p.stats.polls != 0 || len(failures(p)) != 0 {
		t.Errorf("a cancelled poll counted: polls %d, failures %v", p.stats.polls, failures(p))
	}
}

func TestRetryDelay(t *testing.T) {
	interval := time.Minute
	cases := []struct {
		err  error
		n    int
		want time.Duration
	}{
		{errReason("http_5xx", 0), 1, time.Second},
		{errReason("http_5xx", 0), 3, 4 * time.Second},
		{errReason("timeout", 0), 10, time.Minute},
		{errReason("rate_limited", 30*time.Second), 1, 30 * time.Second},
		{errReason("rate_limited", 5*time.Minute), 1, 5 * time.Minute},
		{errReason("http_4xx", 0), 1, time.Minute},
	}
	for _, tc := range cases {
		if got := retryDelay(tc.err, tc.n, interval); got != tc.want {
			t.Errorf("retryDelay(%v, %d) = %v, want %v", tc.err, tc.n, got, tc.want)
		}
	}
}

// Adding a source is a package plus one registration: the fake type,
// registered above, is selected by `type:` in the config, its own keys
// sit flat in the block, and the real collector polls it in the
// background and serves its series on /metrics.
func TestRegisteredSourceReachesMetrics(t *testing.T) {
	c := New("test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer c.Stop()
	cfg := loadConfig(t, "sources:\n  - name: lab\n    type: fake\n    product: FakeCAD\n    seats: 7\n    holders: [dee, eve]\n    poll_interval: 5s\n    timeout: 1s\n")
	if err := c.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	h := c.Handler(nil, HandlerOpts{})
	var got map[string]float64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		// A scrape takes the views before it gathers the health, so one
		// that races the first poll may show up 1 without the seats yet.
		if got = samples(t, rec.Body.String()); got[`license_up{source="lab"}`] == 1 && strings.Contains(rec.Body.String(), "license_seats_issued{") {
			break
		}
	}
	for series, want := range map[string]float64{
		`license_up{source="lab"}`: 1,
		`license_seats_issued{edition="",license_id="F-1",license_type="floating",product="FakeCAD",source="lab"}`:           7,
		`license_seats_in_use{edition="",license_id="F-1",license_type="floating",product="FakeCAD",source="lab"}`:           2,
		`license_user_sessions{edition="",host="lab-eve",license_type="floating",product="FakeCAD",source="lab",user="eve"}`: 1,
	} {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
}

// samples parses an exposition into series (labels sorted) and values.
func samples(t *testing.T, text string) map[string]float64 {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	out := map[string]float64{}
	for name, mf := range mfs {
		for _, m := range mf.Metric {
			var ls []string
			for _, l := range m.Label {
				ls = append(ls, l.GetName()+"="+strconv.Quote(l.GetValue()))
			}
			slices.Sort(ls)
			var v float64
			switch {
			case m.Gauge != nil:
				v = m.Gauge.GetValue()
			case m.Counter != nil:
				v = m.Counter.GetValue()
			}
			out[name+"{"+strings.Join(ls, ",")+"}"] = v
		}
	}
	return out
}
