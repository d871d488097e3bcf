//go:build bench

package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/bench/lmstat"
	"github.com/license-monitor/license-monitor/internal/bench/rounds"
	"github.com/license-monitor/license-monitor/internal/simulator"
	"github.com/license-monitor/license-monitor/internal/testenv"
)

// The budgets of issue 7.
const (
	maxRatio   = 1.5
	maxPeakRSS = 300 << 20
)

// TestReport is `make bench`: every tier's poll and scrape next to their
// floors, the ratios, and the peak RSS of the exporter holding the huge
// tier and the FlexLM tier. It fails when a budget is broken. The FlexLM
// tier's parse and poll are measured by source/flexlm's TestReport, which
// `make bench` runs after this one. BENCH_TIERS limits the tiers
// (rounds.Selected).
func TestReport(t *testing.T) {
	rounds.Machine()
	var rows []rounds.Row
	for _, tier := range Tiers {
		if rounds.Selected(string(tier)) {
			rows = append(rows, measureTier(t, tier)...)
		}
	}
	failed := false
	if len(rows) > 0 {
		failed = rounds.Print(rows)
		fmt.Printf("budget: each median ratio at most %.1fx\n\n", maxRatio)
	}

	check := func(what string, peak int64, series int) {
		mark := ""
		if peak > maxPeakRSS {
			mark, failed = "  OVER BUDGET", true
		}
		fmt.Printf("license_exporter holding %s, %d series: peak RSS (VmHWM) %.1f MiB, budget %d MiB%s\n",
			what, series, float64(peak)/(1<<20), maxPeakRSS>>20, mark)
	}
	if rounds.Selected(string(simulator.TierHuge)) {
		sim := testenv.StartSimulator(t, "--scale=huge", "--seed=1")
		exp := testenv.StartExporter(t, testenv.ExporterConfig("huge", sim.BaseURL,
			"poll_interval: 10s", "timeout: 9s", "max_response_bytes: 268435456"))
		peak, series := peakRSS(t, exp, "huge")
		check("the huge tier", peak, series)
		// Stopped now, not at the test's end: they would poll and hold
		// memory beside the next measure.
		_ = exp.Stop()
		_ = sim.Stop()
	}
	if rounds.Selected("flexlm") {
		exp, what := startFlexLM(t)
		peak, series := peakRSS(t, exp, "flexlm")
		check(what, peak, series)
	}
	if failed {
		t.Error("a budget is broken; see the table above")
	}
}

func measureTier(t *testing.T, tier simulator.Tier) []rounds.Row {
	u, err := StartUpstream(tier)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	l, err := Load(u)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	b, err := u.Fetch()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("%s tier: %d pages, %s of JSON a poll, %d series a scrape\n", tier, len(b.Pages)+1, rounds.FmtBytes(float64(b.Size())), l.Series)
	return rounds.Measure(t, string(tier), []rounds.Pair{
		{Name: "poll", Measure: func(b *testing.B) { Poll(b, u) }, Floor: func(b *testing.B) { PollFloor(b, u) }, Budget: maxRatio},
		{Name: "scrape text", Measure: func(b *testing.B) { Scrape(b, l, false) }, Floor: func(b *testing.B) { ScrapeFloor(b, l, false) }, Budget: maxRatio},
		{Name: "scrape gzip", Measure: func(b *testing.B) { Scrape(b, l, true) }, Floor: func(b *testing.B) { ScrapeFloor(b, l, true) }, Budget: maxRatio},
	})
}

// startFlexLM starts the built exporter with one flexlm source whose
// lmutil is source/flexlm's fake printing the FlexLM tier's output
// (internal/bench/lmstat), dated now, since the exporter parses with the
// wall clock.
func startFlexLM(t *testing.T) (*testenv.Process, string) {
	dir := t.TempDir()
	out, counts := lmstat.Generate(lmstat.FlexLM, time.Now().UTC())
	file := filepath.Join(dir, "lmstat.txt")
	if err := os.WriteFile(file, out, 0o600); err != nil {
		t.Fatal(err)
	}
	lmutil := filepath.Join(dir, "lmutil")
	cmd := exec.Command("go", "build", "-o", lmutil, "./source/flexlm/testdata/fakelmutil")
	cmd.Dir = testenv.RepoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the fake lmutil: %v\n%s", err, b)
	}
	if err := os.WriteFile(lmutil+".mode", []byte("cat "+file), 0o600); err != nil {
		t.Fatal(err)
	}
	exp := testenv.StartExporter(t, fmt.Sprintf("sources:\n  - name: flexlm\n    type: flexlm\n    license_server: %q\n    lmutil: %q\n    timezone: UTC\n    poll_interval: 5s\n    timeout: 4s\n",
		lmstat.Server, lmutil))
	return exp, fmt.Sprintf("the flexlm tier (%d features, %d user lines)", counts.Features, counts.Checkouts+counts.Queued)
}

// peakRSS scrapes exp, which polls source every 5 or 10 s, in text and
// gzip from two clients through three polls once it is up, and reads the
// exporter's VmHWM.
func peakRSS(t *testing.T, exp *testenv.Process, source string) (peak int64, series int) {
	polls := func() float64 {
		v, _ := scrapeValue(exp.URL("/metrics"), `license_polls_total{source="`+source+`"}`)
		return v
	}
	testenv.Eventually(t, 2*time.Minute, 200*time.Millisecond, func() error {
		if v, _ := scrapeValue(exp.URL("/metrics"), `license_up{source="`+source+`"}`); v != 1 {
			return fmt.Errorf("license_up is %g", v)
		}
		return nil
	})
	start := polls()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, gz := range []bool{false, true} {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = get(exp.URL("/metrics"), gz)
			}
		})
	}
	testenv.Eventually(t, 2*time.Minute, time.Second, func() error {
		if p := polls(); p < start+3 {
			return fmt.Errorf("%g polls so far", p-start)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	_, series = scrapeValue(exp.URL("/metrics"), "")
	peak, err := rounds.PeakRSS(exp.Pid())
	if err != nil {
		t.Fatal(err)
	}
	return peak, series
}

// get reads url to the end and returns the body's size.
func get(url string, gz bool) (int64, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return io.Copy(io.Discard, resp.Body)
}

// scrapeValue scans a text exposition for the sample whose name and
// labels are exactly series, and counts the samples, without parsing the
// whole of a huge scrape.
func scrapeValue(url, series string) (float64, int) {
	resp, err := http.Get(url)
	if err != nil {
		return -1, 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	value, n := -1.0, 0
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		n++
		if series != "" && bytes.HasPrefix(line, []byte(series+" ")) {
			value, _ = strconv.ParseFloat(string(line[len(series)+1:]), 64)
		}
	}
	return value, n
}
