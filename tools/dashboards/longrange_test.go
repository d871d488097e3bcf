//go:build longrange

package dashboards

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/testenv"
)

// TestLongRange is `make longrange`: a year of a large account's recorded
// series (about 500 licenses in 194 license types of 96 editions, 20,000
// users), generated from a load model, backfilled into Debian's prometheus
// with Debian's promtool, and every capacity-dashboard query run over it at
// $window=365d. Each must answer within the default query.max-samples, in
// at most lrBudget, with data; and the renewal table must recommend more
// seats than issued for the license types the model made run short.
//
// The model is simulated minute by minute and reduced exactly as the rules
// of alerts/rules.yml reduce it, at the times they write: hourly series at
// lrOffset past each hour, daily ones at the first of those after 00:00
// UTC, weekly ones on Mondays. Only the series the capacity dashboard reads
// are written (TestCapacityReadsHourlyAndDailyRulesOnly holds it to them).
// lrAllowedEmpty lists the capacity queries, "panel / refId", that the load
// model leaves without data, with the reason: it models a CSI account.
var lrAllowedEmpty = map[string]string{
	"In use without reservations against issued / A": "FlexLM-only; the load model is a CSI account",
	"In use without reservations against issued / B": "FlexLM-only; the load model is a CSI account",
	"Queued requests / A":                            "FlexLM-only; the load model is a CSI account",
}

func TestLongRange(t *testing.T) {
	promtool := testenv.RequireTool(t, "promtool")
	testenv.RequireTool(t, "prometheus")
	dir := t.TempDir()

	start := time.Now()
	m := newLoadModel(time.Now().UTC())
	om := filepath.Join(dir, "capacity.om")
	lines, size := m.writeOpenMetrics(t, om)
	t.Logf("generated %d samples (%.0f MB of OpenMetrics) for %d licenses, %d license types, %d editions, %d users (%d user-edition pairs) in %s",
		lines, float64(size)/1e6, m.licenses, len(m.pools), len(m.editions), lrUsers, len(m.userEditions), time.Since(start).Round(time.Second))

	// One block per promtool pass over the file: the hidden flag allows
	// blocks up to 13,122 h (Prometheus's block ranges are 2 h times powers
	// of 3), so a year is one or two blocks rather than 4,380 of 2 h.
	start = time.Now()
	data := filepath.Join(dir, "data")
	cmd := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=13122h", "--quiet", om, data)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool: %v\n%s", err, out)
	}
	backfill := time.Since(start)
	blocks, _ := filepath.Glob(filepath.Join(data, "01*"))
	t.Logf("backfilled %d blocks, %.1f MB of TSDB, in %s", len(blocks), float64(dirSize(t, data))/1e6, backfill.Round(time.Second))
	os.Remove(om)

	prom := startLongRangePrometheus(t, data)
	waitForCompaction(t, prom, len(blocks))

	vars := withVars("source", ".*", "product", ".*", "window", "365d", "horizon", "31536000",
		"__interval", "12h", "__rate_interval", "12h")
	end := m.now
	type timing struct {
		key          string
		kind         string
		first, med   time.Duration
		peak, series int
	}
	var timings []timing
	c := committedByUID(t, "license-capacity")
	for _, q := range queriesOf(c) {
		expr, err := substitute(q.Expr, vars)
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("%s / %s", q.Panel, q.Ref)
		kinds := []string{}
		if q.Instant {
			kinds = append(kinds, "instant")
		}
		if q.Range {
			kinds = append(kinds, "range")
		}
		for _, kind := range kinds {
			form := url.Values{"query": {expr}, "stats": {"all"}}
			path := "/api/v1/query"
			if kind == "instant" {
				form.Set("time", unix(end))
			} else {
				// Grafana's range and step for the panel: a year at 12 h,
				// or the panel's own relative time at its interval.
				from, step := end.Add(-365*24*time.Hour), "12h"
				if tf := panelTimeFrom(c, q.Panel); tf > 0 {
					from, step = end.Add(-tf), "1h"
				}
				path = "/api/v1/query_range"
				form.Set("start", unix(from))
				form.Set("end", unix(end))
				form.Set("step", step)
			}
			var runs []time.Duration
			var r statsResult
			for i := 0; i < 3; i++ {
				began := time.Now()
				r = statsResult{}
				if err := promAPI(prom, path, form, &r); err != nil {
					t.Errorf("%s (%s): %v\n  %s", key, kind, err, expr)
					break
				}
				runs = append(runs, time.Since(began))
			}
			if len(runs) < 3 {
				continue
			}
			sorted := slices.Clone(runs)
			slices.Sort(sorted)
			tm := timing{key, kind, runs[0], sorted[1], r.Stats.Samples.PeakSamples, len(r.Result)}
			timings = append(timings, tm)
			if tm.med > lrBudget {
				t.Errorf("%s (%s): %s (median of 3), over the %s budget", key, kind, tm.med, lrBudget)
			}
			if reason, ok := lrAllowedEmpty[key]; ok && tm.series == 0 {
				t.Logf("%s (%s): allowed to be empty (%s)", key, kind, reason)
			} else if tm.series == 0 {
				t.Errorf("%s (%s): no data\n  %s", key, kind, expr)
			}
		}
	}
	// The variables, as Grafana asks for them.
	for _, v := range variablesOf(c) {
		if v.Type != "query" {
			continue
		}
		sel, lbl, _ := variablePromQL(v.Query)
		sel, _ = substitute(sel, vars)
		began := time.Now()
		code, body := testenv.Get(t, prom.URL("/api/v1/label/"+lbl+"/values?"+url.Values{
			"match[]": {sel}, "start": {unix(end.Add(-90 * 24 * time.Hour))}, "end": {unix(end)},
		}.Encode()))
		d := time.Since(began)
		var env struct {
			Data []string `json:"data"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &env) != nil || len(env.Data) == 0 {
			t.Errorf("variable %s: HTTP %d: %.200s", v.Name, code, body)
		}
		timings = append(timings, timing{"variable " + v.Name, "labels", d, d, 0, len(env.Data)})
	}

	slowest := timings[0]
	t.Logf("%-70s %-7s %9s %9s %11s %7s", "query (window 365d)", "kind", "first", "median", "peak samp.", "series")
	for _, tm := range timings {
		t.Logf("%-70s %-7s %9s %9s %11d %7d", tm.key, tm.kind, tm.first.Round(time.Millisecond), tm.med.Round(time.Millisecond), tm.peak, tm.series)
		if tm.med > slowest.med {
			slowest = tm
		}
	}
	t.Logf("slowest: %s (%s), median %s; budget %s per query, max-samples 50,000,000 (Prometheus's default)",
		slowest.key, slowest.kind, slowest.med.Round(time.Millisecond), lrBudget)

	checkRecommendations(t, prom, m, vars)
}

// lrBudget is the time a capacity query may take at $window=365d.
const lrBudget = 5 * time.Second

// statsResult is a query answer with stats=all.
type statsResult struct {
	promResult
	Stats struct {
		Samples struct {
			PeakSamples int `json:"peakSamples"`
		} `json:"samples"`
	} `json:"stats"`
}

// panelTimeFrom is a panel's relative time ("7d"), or 0.
func panelTimeFrom(c committed, title string) time.Duration {
	for _, p := range panels(c.JSON) {
		if p["title"] == title {
			if tf := str(p, "timeFrom"); tf != "" {
				d, err := parseDays(tf)
				if err == nil {
					return d
				}
			}
		}
	}
	return 0
}

func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		return time.Duration(d) * 24 * time.Hour, err
	}
	return time.ParseDuration(s)
}

func dirSize(t *testing.T, dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}

// startLongRangePrometheus runs Debian's prometheus on the backfilled TSDB,
// with a retention that keeps the year, and no scrape at all.
func startLongRangePrometheus(t *testing.T, data string) *testenv.Process {
	t.Helper()
	cfg := testenv.WriteFile(t, "prometheus.yml", "global:\n  scrape_interval: 1m\n")
	addr := testenv.FreeAddr(t)
	p := testenv.Start(t, addr, "prometheus",
		"--config.file="+cfg, "--web.listen-address="+addr, "--log.level=warn",
		"--storage.tsdb.path="+data, "--storage.tsdb.retention.time=800d")
	testenv.WaitHTTP(t, p, p.URL("/-/ready"), 5*time.Minute)
	return p
}

// waitForCompaction waits until prometheus has loaded every block and its
// compaction counters have stood still for 10 seconds, so no compaction
// runs while queries are timed.
func waitForCompaction(t *testing.T, prom *testenv.Process, blocks int) {
	t.Helper()
	began := time.Now()
	last, still := "", 0
	testenv.Eventually(t, 5*time.Minute, time.Second, func() error {
		m, err := testenv.TryScrape(prom.URL("/metrics"))
		if err != nil {
			return err
		}
		loaded, _ := m.Get("prometheus_tsdb_blocks_loaded", nil)
		state := fmt.Sprint(loaded, m["prometheus_tsdb_compactions_total"], m["prometheus_tsdb_vertical_compactions_total"],
			m["prometheus_tsdb_compactions_triggered_total"])
		if int(loaded) < 1 {
			return fmt.Errorf("%v blocks loaded of %d", loaded, blocks)
		}
		if state != last {
			last, still = state, 0
			return fmt.Errorf("compaction state changed: %s", state)
		}
		if still++; still < 10 {
			return fmt.Errorf("compaction state unchanged for %d s", still)
		}
		return nil
	})
	t.Logf("prometheus ready, blocks loaded and compaction idle after %s", time.Since(began).Round(time.Second))
}

// checkRecommendations runs the renewal table's issued and recommended
// columns and compares them with what the model generated.
func checkRecommendations(t *testing.T, prom *testenv.Process, m *loadModel, vars map[string]string) {
	_, qs := panelByTitle(t, "license-capacity", "Seats to renew, over $window")
	values := map[string]map[string]float64{} // ref -> pool key -> value
	for _, q := range qs {
		if q.Ref != "A" && q.Ref != "I" {
			continue
		}
		expr, _ := substitute(q.Expr, vars)
		r, err := instantQuery(prom, expr, m.now)
		if err != nil {
			t.Fatal(err)
		}
		values[q.Ref] = map[string]float64{}
		for _, s := range r.Result {
			values[q.Ref][poolKey(s.Metric["product"], s.Metric["edition"], s.Metric["license_type"])] = sampleValue(t, s.Value)
		}
	}
	short, more, spare, same := 0, 0, 0, 0
	for _, pl := range m.pools {
		k := poolKey(pl.product, pl.edition, pl.ltype)
		issued, ok1 := values["A"][k]
		rec, ok2 := values["I"][k]
		if !ok1 || !ok2 {
			t.Errorf("%s: no row in the renewal table (issued %v, recommended %v)", k, ok1, ok2)
			continue
		}
		if issued != float64(pl.issued) {
			t.Errorf("%s: issued %v, the model issued %d", k, issued, pl.issued)
		}
		switch {
		case rec > issued:
			more++
		case rec < issued:
			spare++
		default:
			same++
		}
		if pl.saturates && !pl.short {
			t.Errorf("%s: the model meant it to run short, but it had denials on %.1f %% of weekdays and %.2f h a week at 100 %%", k, 100*pl.deniedShare, pl.fullPerWeek)
		}
		if pl.short {
			short++
			if rec <= issued {
				t.Errorf("%s: short (denials on %.1f %% of weekdays, %.2f h a week at 100 %%), yet recommended %v of %v issued", k, 100*pl.deniedShare, pl.fullPerWeek, rec, issued)
			}
		} else if pl.peak < pl.issued && rec > issued {
			t.Errorf("%s: never full (peak %d of %d), yet recommended %v", k, pl.peak, pl.issued, rec)
		}
	}
	t.Logf("renewal table: %d license types short in the model; recommended more than issued for %d, fewer for %d, the same for %d", short, more, spare, same)
	if short == 0 {
		t.Error("the model made no license type run short; the check above proves nothing")
	}
}

func poolKey(product, edition, ltype string) string { return product + " " + edition + " " + ltype }

// The account's size.
const (
	lrDays     = 365
	lrUsers    = 20000
	lrSource   = "acme"
	lrOffset   = 17 * time.Minute // the hourly group's offset in the hour
	lrEditions = 4                // per product
)

var (
	lrProducts = []string{"ETABS", "SAP2000", "SAFE", "CSiBridge", "CSiCol", "CSiXRevit", "Perform3D", "CSiPlant",
		"CSiDetail", "CSiLoad", "CSiCivil", "CSiFrame", "CSiWall", "CSiSlab", "CSiPile", "CSiGround",
		"CSiTower", "CSiWind", "CSiQuake", "CSiSteel", "CSiTimber", "CSiGlass", "CSiShell", "CSiLink"}
	lrEditionNames = []string{"Ultimate", "Plus", "Standard", "Nonlinear"}
	lrTypes        = []string{"cloud_sign_in", "cloud_key", "network", "standalone"}
)

// pool is one license type of one edition: the unit seats are bought in.
type pool struct {
	product, edition, ltype string
	editionIdx              int // index into loadModel.editions
	issued                  int
	expiry                  int64 // earliest expiry, Unix seconds; 0 when perpetual
	base, growth            float64
	saturates               bool // the model pushes demand past issued

	// What the simulation produced, over the last 365 days.
	peak                     int
	short                    bool
	deniedShare, fullPerWeek float64
}

// loadModel is the account and its year of use.
type loadModel struct {
	now          time.Time
	hours        []time.Time // hourly sample times, oldest first
	days         []time.Time // daily sample times (00:17 UTC), oldest first
	pools        []*pool
	editions     []string // "product\x00edition"
	licenses     int
	userEditions []userEdition
}

type userEdition struct {
	user    string
	edition int
	weight  float64
	workday float64 // probability of working on a weekday
}

func newLoadModel(now time.Time) *loadModel {
	rng := rand.New(rand.NewPCG(11, 2026))
	m := &loadModel{}
	last := now.Add(-lrOffset).Truncate(time.Hour).Add(lrOffset)
	m.now = last.Add(time.Minute)
	for h := lrDays*24 - 1; h >= 0; h-- {
		ts := last.Add(-time.Duration(h) * time.Hour)
		m.hours = append(m.hours, ts)
		if ts.Hour() == 0 {
			m.days = append(m.days, ts)
		}
	}
	for _, product := range lrProducts {
		for _, edition := range lrEditionNames[:lrEditions] {
			e := len(m.editions)
			m.editions = append(m.editions, product+"\x00"+edition)
			types := slices.Clone(lrTypes)
			rng.Shuffle(len(types), func(i, j int) { types[i], types[j] = types[j], types[i] })
			for _, ltype := range types[:1+rng.IntN(3)] {
				p := &pool{product: product, edition: edition, ltype: ltype, editionIdx: e}
				n := 1 + rng.IntN(4)
				m.licenses += n
				for range n {
					p.issued += 1 + rng.IntN(12)
					if ltype != "standalone" {
						exp := now.Add(time.Duration(10+rng.IntN(400)) * 24 * time.Hour).Unix()
						if p.expiry == 0 || exp < p.expiry {
							p.expiry = exp
						}
					}
				}
				// One license type in eight grows well past its seats over
				// the year; the others stay under them.
				if len(m.pools)%8 == 3 {
					p.saturates = true
					p.base = float64(p.issued) * (0.75 + 0.1*rng.Float64())
					p.growth = 0.5 + 0.3*rng.Float64()
				} else {
					p.base = float64(p.issued) * (0.3 + 0.45*rng.Float64())
					p.growth = -0.1 + 0.25*rng.Float64()
				}
				m.pools = append(m.pools, p)
			}
		}
	}
	// Users: about six per seat, in proportion to each edition's seats; a
	// quarter of them work in a second edition too.
	seats := make([]float64, len(m.editions))
	total := 0.0
	for _, p := range m.pools {
		seats[p.editionIdx] += float64(p.issued)
		total += float64(p.issued)
	}
	pick := func() int {
		x := rng.Float64() * total
		for e, s := range seats {
			if x -= s; x < 0 {
				return e
			}
		}
		return len(seats) - 1
	}
	for u := range lrUsers {
		name := fmt.Sprintf("u%05d@acme.example", u)
		workday := 0.3 + 0.65*rng.Float64()
		e := pick()
		m.userEditions = append(m.userEditions, userEdition{name, e, rng.ExpFloat64(), workday})
		if rng.IntN(4) == 0 {
			if e2 := pick(); e2 != e {
				m.userEditions = append(m.userEditions, userEdition{name, e2, rng.ExpFloat64(), workday})
			}
		}
	}
	return m
}

// profile is the share of a weekday's peak demand at a minute of the day
// (UTC): office hours 07:00-17:00 with a lunch dip; nights at 3 %.
var profile = func() [1440]float64 {
	var p [1440]float64
	for i := range p {
		h := float64(i) / 60
		p[i] = 0.03
		if h >= 7 && h < 17 {
			p[i] = math.Max(0.03, math.Sqrt(math.Sin(math.Pi*(h-7)/10)))
			if h >= 12 && h < 13 {
				p[i] *= 0.8
			}
		}
	}
	return p
}()

// recSeries is one recorded series: its name, labels and samples.
type recSeries struct {
	name, labels string
	times        []time.Time
	values       []float64
}

func (s *recSeries) add(ts time.Time, v float64) {
	s.times = append(s.times, ts)
	s.values = append(s.values, v)
}

// simulate runs one pool minute by minute over the year (and the day
// before it) and reduces it to the recorded series, as alerts/rules.yml
// does. It also returns the pool's seat-hours per day.
func (m *loadModel) simulate(p *pool, rng *rand.Rand) (out map[string]*recSeries, seatHours []float64) {
	labels := fmt.Sprintf(`source=%q,product=%q,edition=%q,license_type=%q`, lrSource, p.product, p.edition, p.ltype)
	out = map[string]*recSeries{}
	get := func(name, extra string) *recSeries {
		k := name + extra
		if out[k] == nil {
			l := labels
			if extra != "" {
				l += "," + extra
			}
			out[k] = &recSeries{name: name, labels: l}
		}
		return out[k]
	}
	first := m.hours[0].Add(-24 * time.Hour)
	minutes := int(m.hours[len(m.hours)-1].Sub(first) / time.Minute)
	issued := p.issued
	var (
		hourMax, dayMax, dayFull, dayHigh, dayCount int
		dayDenied, dayOther                         float64
		daySeatMinutes                              float64
		weekPeaks                                   []float64
		dayFactor                                   = 1.0
	)
	hourIdx, dayIdx := 0, 0
	window := m.now.Add(-lrDays * 24 * time.Hour)
	var weekdays, deniedDays int
	var fullHours float64
	seatHours = make([]float64, len(m.days))
	for i := 1; i <= minutes; i++ {
		ts := first.Add(time.Duration(i) * time.Minute)
		if i%1440 == 1 {
			dayFactor = 0.85 + 0.25*rng.Float64()
		}
		year := ts.Sub(m.hours[0]).Hours() / (24 * 365)
		demand := p.base * (1 + p.growth*year) * dayFactor
		mod := ts.Hour()*60 + ts.Minute()
		if wd := ts.Weekday(); wd == time.Saturday || wd == time.Sunday {
			demand *= 0.05
		} else {
			demand *= profile[mod]
		}
		want := int(math.Round(demand + 0.3*rng.NormFloat64()))
		inUse := min(max(want, 0), issued)
		if want > issued && rng.Float64() < math.Min(1, 0.1*float64(want-issued)) {
			dayDenied++
		}
		if wd := ts.Weekday(); wd != time.Saturday && wd != time.Sunday && mod == 600 && rng.IntN(50) == 0 {
			dayOther++
		}
		hourMax = max(hourMax, inUse)
		dayMax = max(dayMax, inUse)
		dayCount++
		if inUse >= issued {
			dayFull++
		}
		if float64(inUse) >= 0.9*float64(issued) {
			dayHigh++
		}
		daySeatMinutes += float64(inUse)

		if hourIdx < len(m.hours) && ts.Equal(m.hours[hourIdx]) {
			get("source_product_edition_license_type:license_seats_issued:max1h", "").add(ts, float64(issued))
			get("source_product_edition_license_type:license_seats_in_use:max1h", "").add(ts, float64(hourMax))
			if p.expiry != 0 {
				get("source_product_edition_license_type:license_expiry_timestamp_seconds:min1h", "").add(ts, float64(p.expiry))
			}
			if ts.After(window) {
				p.peak = max(p.peak, hourMax)
			}
			hourMax = 0
			hourIdx++
		}
		if dayIdx < len(m.days) && ts.Equal(m.days[dayIdx]) {
			covered := ts.Add(-time.Hour).Weekday()
			weekday := covered != time.Saturday && covered != time.Sunday
			full := float64(dayFull) / float64(dayCount) * 24
			get("source_product_edition_license_type:license_seats_in_use:max1d", "").add(ts, float64(dayMax))
			if weekday {
				get("source_product_edition_license_type:license_seats_in_use:max1d_weekdays", "").add(ts, float64(dayMax))
			}
			get("source_product_edition_license_type:license_seats_exhausted:hours1d", "").add(ts, full)
			get("source_product_edition_license_type:license_seats_saturation_high:hours1d", "").add(ts, float64(dayHigh)/float64(dayCount)*24)
			for _, r := range []struct {
				reason string
				n      float64
			}{{"no_seat_available", dayDenied}, {"not_in_license_group", dayOther}, {"other", 0}} {
				extra := fmt.Sprintf(`reason=%q`, r.reason)
				get("source_product_edition_license_type:license_denials:increase1d", extra).add(ts, r.n)
				if weekday {
					get("source_product_edition_license_type:license_denials:any1d_weekdays", extra).add(ts, b2f(r.n > 0))
				}
			}
			weekPeaks = append(weekPeaks, float64(dayMax))
			if ts.Weekday() == time.Monday && len(weekPeaks) >= 7 {
				get("source_product_edition_license_type:license_seats_in_use:max1w", "").add(ts, slices.Max(weekPeaks[len(weekPeaks)-7:]))
			}
			if ts.After(window) {
				fullHours += full
				if weekday {
					weekdays++
					if dayDenied > 0 {
						deniedDays++
					}
				}
			}
			seatHours[dayIdx] = daySeatMinutes / 60
			dayMax, dayFull, dayHigh, dayCount, dayDenied, dayOther, daySeatMinutes = 0, 0, 0, 0, 0, 0, 0
			dayIdx++
		}
	}
	p.deniedShare = float64(deniedDays) / float64(weekdays)
	p.fullPerWeek = fullHours / float64(len(m.days)) * 7
	p.short = p.deniedShare > shortDenialShare || p.fullPerWeek > shortHoursPerWeek
	return out, seatHours
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// writeOpenMetrics simulates the account and writes its recorded series as
// OpenMetrics, family by family, each series in time order. It returns the
// number of samples and bytes.
func (m *loadModel) writeOpenMetrics(t *testing.T, path string) (samples int, bytes int64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 365))
	families := map[string][]*recSeries{}
	editionSeatHours := make([][]float64, len(m.editions))
	for e := range editionSeatHours {
		editionSeatHours[e] = make([]float64, len(m.days))
	}
	for _, p := range m.pools {
		out, sh := m.simulate(p, rng)
		for _, s := range out {
			families[s.name] = append(families[s.name], s)
		}
		for d, h := range sh {
			editionSeatHours[p.editionIdx][d] += h
		}
	}
	// Each edition's seat-hours of a day go to the users of the edition who
	// worked that day, in proportion to their weights.
	byEdition := make([][]int, len(m.editions))
	for i, ue := range m.userEditions {
		byEdition[ue.edition] = append(byEdition[ue.edition], i)
	}
	userSeries := make([]*recSeries, len(m.userEditions))
	for e, users := range byEdition {
		product, edition, _ := strings.Cut(m.editions[e], "\x00")
		for d, ts := range m.days {
			covered := ts.Add(-time.Hour).Weekday()
			weekend := covered == time.Saturday || covered == time.Sunday
			var active []int
			sum := 0.0
			for _, i := range users {
				p := m.userEditions[i].workday
				if weekend {
					p *= 0.05
				}
				if rng.Float64() < p {
					active = append(active, i)
					sum += m.userEditions[i].weight
				}
			}
			if editionSeatHours[e][d] == 0 || sum == 0 {
				continue
			}
			for _, i := range active {
				if userSeries[i] == nil {
					userSeries[i] = &recSeries{
						name:   "source_product_edition_user:license_user_seat_hours:sum1d",
						labels: fmt.Sprintf(`source=%q,product=%q,edition=%q,user=%q`, lrSource, product, edition, m.userEditions[i].user),
					}
				}
				userSeries[i].add(ts, math.Round(editionSeatHours[e][d]*m.userEditions[i].weight/sum*100)/100)
			}
		}
	}
	for _, s := range userSeries {
		if s != nil {
			families[s.name] = append(families[s.name], s)
		}
	}

	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var line []byte
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range families {
			if !yield(n) {
				return
			}
		}
	}) {
		fmt.Fprintf(w, "# TYPE %s gauge\n", name)
		for _, s := range families[name] {
			for i, ts := range s.times {
				line = append(line[:0], name...)
				line = append(line, '{')
				line = append(line, s.labels...)
				line = append(line, "} "...)
				line = strconv.AppendFloat(line, s.values[i], 'g', -1, 64)
				line = append(line, ' ')
				line = strconv.AppendInt(line, ts.Unix(), 10)
				line = append(line, '\n')
				w.Write(line)
				samples++
			}
		}
	}
	w.WriteString("# EOF\n")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(path)
	return samples, info.Size()
}
