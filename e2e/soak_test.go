//go:build soak

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/testenv"
)

// The soak of issue 7, run by `make soak` (not part of `make test`).
const (
	soakScrapesPerSecond = 20
	// Each scraper keeps one connection, as a Prometheus server does, and
	// scrapes once a second. With few connections the exporter's own
	// goroutines are so few that its upstream connection, closed by a
	// timed-out poll in the hang, alone moves the count by over 10%.
	soakScrapers    = 20
	soakSampleEvery = 10 * time.Second
	soakSettle      = 2 * time.Minute // the values at this point are the reference
	soakTolerance   = 0.10
	soakFaultCycle  = time.Minute
	soakFaultPhase  = 10 * time.Second // 5xx, hang, malformed, then recovery
)

// soakDuration is 10 minutes; SOAK_DURATION (a Go duration) shortens it
// for trying the soak itself out.
func soakDuration(t *testing.T) time.Duration {
	if s := os.Getenv("SOAK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= soakSettle {
			t.Fatalf("SOAK_DURATION %q must be a duration above %s", s, soakSettle)
		}
		return d
	}
	return 10 * time.Minute
}

type soakSample struct {
	at                time.Duration
	rss               int64 // bytes
	goroutines, fds   int
	scrapes, failures int64
	phase             string
}

// TestSoak runs the exporter against the large tier with sessions
// churning, scrapes it 20 times a second, and cycles upstream through
// 5xx, a hang and a malformed body every minute. Every 10 seconds it
// samples the exporter's RSS, goroutines and open file descriptors; after
// the first two minutes each must stay within 10% of its value at two
// minutes.
func TestSoak(t *testing.T) {
	duration := soakDuration(t)
	// --speed=60: the large tier replaces about 80 sessions a second, so
	// every poll reads a changed account.
	sim := testenv.StartSimulator(t, "--scale=large", "--churn", "--speed=60")
	exp := testenv.StartExporter(t, testenv.ExporterConfig("soak", sim.BaseURL, "poll_interval: 5s", "timeout: 4s"))
	testenv.Eventually(t, 60*time.Second, 200*time.Millisecond, func() error {
		if v, _ := scrapeLine(exp.URL("/metrics"), `license_up{source="soak"}`); v != 1 {
			return fmt.Errorf("license_up is %g", v)
		}
		return nil
	})

	var (
		scrapes, failures atomic.Int64
		// Scrapers hold it for reading during each scrape; the sampler
		// takes it to sample between scrapes, so the goroutines of
		// requests in flight are not counted as growth.
		pause sync.RWMutex
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	every := time.Second * soakScrapers / soakScrapesPerSecond
	for i := range soakScrapers {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 10 * time.Second}
		defer client.CloseIdleConnections()
		wg.Go(func() {
			// Staggered, so the scrapes are spread evenly over each second
			// rather than arriving together.
			if !sleepOrStop(stop, every*time.Duration(i)/soakScrapers) {
				return
			}
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				pause.RLock()
				ok := scrapeOnce(client, exp.URL("/metrics"))
				pause.RUnlock()
				scrapes.Add(1)
				if !ok {
					failures.Add(1)
				}
			}
		})
	}

	faults := []struct {
		name  string
		fault map[string]any
	}{
		{"5xx", map[string]any{"kind": "http_5xx", "status": 503}},
		{"hang", map[string]any{"kind": "hang"}},
		{"malformed", map[string]any{"kind": "malformed"}},
	}
	phase := atomic.Value{}
	phase.Store("recovery")
	var faultErrs atomic.Int64
	setFault := func(f map[string]any) {
		if err := postJSON(sim.URL("/-/control/fault"), f); err != nil {
			faultErrs.Add(1)
		}
	}
	wg.Go(func() {
		// Half a sample interval late, so that samples fall mid-phase.
		if !sleepOrStop(stop, soakSampleEvery/2) {
			return
		}
		for {
			for _, f := range faults {
				setFault(f.fault)
				phase.Store(f.name)
				if !sleepOrStop(stop, soakFaultPhase) {
					return
				}
			}
			setFault(map[string]any{"kind": "none"})
			phase.Store("recovery")
			if !sleepOrStop(stop, soakFaultCycle-soakFaultPhase*time.Duration(len(faults))) {
				return
			}
		}
	})

	sampler := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer sampler.CloseIdleConnections()
	start := time.Now()
	var samples []soakSample
	for at := soakSampleEvery; at <= duration; at += soakSampleEvery {
		time.Sleep(time.Until(start.Add(at)))
		pause.Lock()
		s := soakSample{at: at, phase: phase.Load().(string), scrapes: scrapes.Load(), failures: failures.Load()}
		s.rss, s.fds = procStatus(t, exp.Pid())
		g, _ := scrapeLineWith(sampler, exp.URL("/metrics"), "go_goroutines")
		s.goroutines = int(g)
		pause.Unlock()
		samples = append(samples, s)
		t.Logf("%5s %-9s rss %6.1f MiB, %3d goroutines, %3d fds, %d scrapes", at, s.phase, float64(s.rss)/(1<<20), s.goroutines, s.fds, s.scrapes)
	}
	close(stop)
	wg.Wait()
	sim.ClearFault(t)

	// The report: one row a sample, each value against the reference.
	var ref soakSample
	for _, s := range samples {
		if s.at == soakSettle {
			ref = s
		}
	}
	within := func(v, base float64) bool { return v >= base*(1-soakTolerance) && v <= base*(1+soakTolerance) }
	var b strings.Builder
	fmt.Fprintf(&b, "\n%7s  %-9s  %9s  %10s  %4s  %9s  %s\n", "time", "upstream", "RSS MiB", "goroutines", "fds", "scrapes/s", "")
	var broken []string
	prev := soakSample{}
	for _, s := range samples {
		mark := ""
		if s.at > soakSettle {
			for _, c := range []struct {
				name    string
				v, base float64
			}{
				{"RSS", float64(s.rss), float64(ref.rss)},
				{"goroutines", float64(s.goroutines), float64(ref.goroutines)},
				{"fds", float64(s.fds), float64(ref.fds)},
			} {
				if !within(c.v, c.base) {
					mark += " " + c.name + " out of bounds"
					broken = append(broken, fmt.Sprintf("%s at %s: %g, reference %g", c.name, s.at, c.v, c.base))
				}
			}
		} else if s.at == soakSettle {
			mark = " reference"
		}
		rate := float64(s.scrapes-prev.scrapes) / (s.at - prev.at).Seconds()
		fmt.Fprintf(&b, "%7s  %-9s  %9.1f  %10d  %4d  %9.1f %s\n", s.at, s.phase, float64(s.rss)/(1<<20), s.goroutines, s.fds, rate, mark)
		prev = s
	}
	last := samples[len(samples)-1]
	fmt.Fprintf(&b, "%d scrapes in %s (%.1f/s), %d failed; bounds: within %.0f%% of the values at %s\n",
		last.scrapes, last.at, float64(last.scrapes)/last.at.Seconds(), last.failures, soakTolerance*100, soakSettle)
	fmt.Print(b.String())

	if n := faultErrs.Load(); n > 0 {
		t.Errorf("%d fault switches failed", n)
	}
	if last.failures > 0 {
		t.Errorf("%d scrapes failed", last.failures)
	}
	if rate := float64(last.scrapes) / last.at.Seconds(); rate < soakScrapesPerSecond*0.9 {
		t.Errorf("%.1f scrapes a second, want %d", rate, soakScrapesPerSecond)
	}
	for _, s := range broken {
		t.Error(s)
	}
}

func postJSON(url string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

func sleepOrStop(stop <-chan struct{}, d time.Duration) bool {
	select {
	case <-stop:
		return false
	case <-time.After(d):
		return true
	}
}

// scrapeOnce reads /metrics as Prometheus does (gzip) to the end.
func scrapeOnce(client *http.Client, url string) bool {
	resp, err := client.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	return err == nil && resp.StatusCode == http.StatusOK && n > 0
}

// procStatus reads a process's resident memory and open descriptors.
func procStatus(t *testing.T, pid int) (rss int64, fds int) {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			rss = kb << 10
		}
	}
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return rss, len(entries)
}

func scrapeLine(url, series string) (float64, bool) {
	return scrapeLineWith(http.DefaultClient, url, series)
}

// scrapeLineWith finds one sample in a scrape without parsing all of it.
func scrapeLineWith(client *http.Client, url, series string) (float64, bool) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	v, found := 0.0, false
	for sc.Scan() {
		if line := sc.Bytes(); bytes.HasPrefix(line, []byte(series+" ")) {
			v, _ = strconv.ParseFloat(string(line[len(series)+1:]), 64)
			found = true
		}
	}
	return v, found
}
