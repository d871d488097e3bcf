package e2e

import (
	"cmp"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/testenv"
)

// raceEnabled is set under the race detector (race_test.go): the load
// tests here measure time and memory, which it distorts, so they skip.
var raceEnabled bool

func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("a load test: timing and memory are not meaningful under the race detector")
	}
}

// clientFrom is an HTTP client whose connections leave from local, a
// loopback address, so the exporter's per-client limit tells clients
// apart.
func clientFrom(local string, timeout time.Duration) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: d.DialContext}}
}

// nonReaders open n connections from local, each sending a scrape in the
// text format (several MB for the large tier, more than the socket
// buffers take) and never reading the answer. They stay open until the
// test ends.
func nonReaders(t *testing.T, local, addr string, n int) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second,
		// A small fixed receive buffer, as a client that never reads
		// ends up with: Linux would otherwise grow it to tens of MB on
		// loopback (net.ipv4.tcp_rmem) and take the whole answer.
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
			return cmp.Or(err, serr)
		}}
	for range n {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		// A refused connection is closed by the server: the write may fail.
		_, _ = io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: exporter\r\n\r\n")
	}
}

// waitStuck waits until n of the exporter's connections to 127.0.0.2
// have answer bytes queued that the client does not read: n scrapes stuck
// in their writes, each holding an in-flight slot (/proc/net/tcp).
func waitStuck(t *testing.T, addr string, n int) {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	local := fmt.Sprintf("0100007F:%04X", p)
	testenv.Eventually(t, 45*time.Second, 50*time.Millisecond, func() error {
		b, err := os.ReadFile("/proc/net/tcp")
		if err != nil {
			t.Skipf("no /proc/net/tcp: %v", err)
		}
		stuck := 0
		for line := range strings.SplitSeq(string(b), "\n") {
			f := strings.Fields(line)
			// sl local rem st tx_queue:rx_queue ...
			if len(f) > 4 && f[1] == local && strings.HasPrefix(f[2], "0200007F:") {
				if tx, _, _ := strings.Cut(f[4], ":"); strings.Trim(tx, "0") != "" {
					stuck++
				}
			}
		}
		if stuck < n {
			return fmt.Errorf("%d scrapes stuck writing to 127.0.0.2, want %d", stuck, n)
		}
		return nil
	})
}

// scrapeStatus scrapes with c and reads the whole answer; it returns the
// status, or 0 when the scrape failed or took longer than c allows.
func scrapeStatus(c *http.Client, url string, gzip bool) (int, time.Duration) {
	start := time.Now()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if !gzip {
		req.Header.Set("Accept-Encoding", "identity")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, time.Since(start)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, time.Since(start)
	}
	return resp.StatusCode, time.Since(start)
}

func waitUp(t *testing.T, exp *testenv.Process, source string, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, timeout, 100*time.Millisecond, func() error {
		if v, _ := testenv.Scrape(t, exp.URL("/metrics")).Get("license_up", map[string]string{"source": source}); v != 1 {
			return fmt.Errorf("license_up{source=%q} is %g", source, v)
		}
		return nil
	})
}

// TestSlowReadersDoNotStarveScrapes: 20 clients that send a scrape of the
// large tier and never read it. Without the per-client connection limit
// they hold all 10 in-flight slots and the real scraper gets 503 (the
// first exporter shows the attack works); with the default limit, the
// scraper, from another address, gets 200 within 2 s, again and again.
func TestSlowReadersDoNotStarveScrapes(t *testing.T) {
	skipUnderRace(t)
	const attackers = 20
	sim := testenv.StartSimulator(t, "--scale=large")
	cfg := testenv.ExporterConfig("large", sim.BaseURL, "poll_interval: 60s", "timeout: 30s")
	scraper := clientFrom("127.0.0.1", 2*time.Second)

	t.Run("without the limit", func(t *testing.T) {
		exp := testenv.StartExporter(t, cfg, "--web.max-connections-per-client=0")
		waitUp(t, exp, "large", time.Minute)
		nonReaders(t, "127.0.0.2", exp.Addr, attackers)
		waitStuck(t, exp.Addr, 10)
		testenv.Eventually(t, 45*time.Second, 50*time.Millisecond, func() error {
			if code, _ := scrapeStatus(scraper, exp.URL("/metrics"), true); code != http.StatusServiceUnavailable {
				return fmt.Errorf("HTTP %d while 20 clients hold the slots; the attack should starve scrapes here", code)
			}
			return nil
		})
	})

	t.Run("with the default limit", func(t *testing.T) {
		exp := testenv.StartExporter(t, cfg)
		waitUp(t, exp, "large", time.Minute)
		nonReaders(t, "127.0.0.2", exp.Addr, attackers)
		waitStuck(t, exp.Addr, 8)
		testenv.Eventually(t, 45*time.Second, 50*time.Millisecond, func() error {
			v, _ := testenv.Scrape(t, exp.URL("/metrics")).Get("license_exporter_http_connections_refused_total", nil)
			if v < attackers-8 {
				return fmt.Errorf("%g connections refused", v)
			}
			return nil
		})
		for i := range 6 {
			code, took := scrapeStatus(scraper, exp.URL("/metrics"), i%2 == 0)
			t.Logf("scrape %d (gzip %v) under %d non-readers: HTTP %d in %s", i, i%2 == 0, attackers, code, took.Round(time.Millisecond))
			if code != http.StatusOK {
				t.Fatalf("scrape %d: HTTP %d after %s, want 200 within 2 s", i, code, took)
			}
		}
	})
}

// TestFarFutureStartsNeverExported: a session that starts in 2300 (past
// what Unix nanoseconds hold) fails the poll as invalid; the exporter
// never shows it, neither as a start time nor as a user.
func TestFarFutureStartsNeverExported(t *testing.T) {
	sim := testenv.StartSimulator(t, "--scale=small", "--fault=future_start")
	exp := testenv.StartExporter(t, testenv.ExporterConfig("acme", sim.BaseURL, "poll_interval: 5s", "timeout: 4s"))
	invalid := func() float64 {
		v, _ := testenv.Scrape(t, exp.URL("/metrics")).Get("license_poll_failures_total", map[string]string{"source": "acme", "reason": "invalid"})
		return v
	}
	testenv.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
		if v := invalid(); v < 1 {
			return fmt.Errorf("%g invalid polls", v)
		}
		return nil
	})
	if n := len(testenv.Scrape(t, exp.URL("/metrics")).Select("license_user_session_start_timestamp_seconds", nil)); n != 0 {
		t.Fatalf("%d start series from a poll that should have failed", n)
	}

	sim.ClearFault(t)
	waitUp(t, exp, "acme", 30*time.Second)
	checkStarts := func() {
		t.Helper()
		m := testenv.Scrape(t, exp.URL("/metrics"))
		starts := m.Select("license_user_session_start_timestamp_seconds", nil)
		if len(starts) == 0 {
			t.Fatal("no start series")
		}
		min, max := float64(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()), float64(time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
		for _, s := range starts {
			if s.Value < min || s.Value > max {
				t.Errorf("start %g exported for %v", s.Value, s.Labels)
			}
		}
	}
	checkStarts()

	before := invalid()
	sim.SetFault(t, map[string]any{"kind": "future_start"})
	testenv.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
		if v := invalid(); v <= before {
			return fmt.Errorf("%g invalid polls", v)
		}
		return nil
	})
	checkStarts() // the last good data, unchanged
}

// vmHWM is a process's peak resident set, from /proc/<pid>/status.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// TestLongNamesBoundMemory: the large tier with every user name padded to
// 100 KiB, 2 GB of names a poll in pages of 100 MB. max_response_bytes is
// raised to 128 MiB so the pages are read rather than refused as too
// large. The names pass max_label_length and are dropped, so the
// exporter's peak RSS stays within the bound docs/architecture.md states:
// 4 × max_response_bytes + 128 MiB (a page read, its decoded strings,
// and the previous page's, not yet collected: 3.8–4.0 × measured).
func TestLongNamesBoundMemory(t *testing.T) {
	skipUnderRace(t)
	const maxResponse = 128 << 20
	sim := testenv.StartSimulator(t, "--scale=large", `--fault={"kind":"long_names","name_bytes":102400}`)
	exp := testenv.StartExporter(t, testenv.ExporterConfig("large", sim.BaseURL,
		"poll_interval: 5m", "timeout: 4m", "max_response_bytes: "+strconv.Itoa(maxResponse)))
	waitUp(t, exp, "large", 4*time.Minute)
	m := testenv.Scrape(t, exp.URL("/metrics"))
	dropped, _ := m.Get("license_user_sessions_dropped_total", map[string]string{"source": "large", "reason": "label_too_long"})
	sessions, _ := sim.State(t)["sessions"].(float64)
	if dropped != sessions || sessions < 10_000 {
		t.Errorf("%g sessions dropped for long labels, the simulator has %g", dropped, sessions)
	}
	if n := len(m.Select("license_user_sessions", nil)); n != 0 {
		t.Errorf("%d user series with 100 KiB names", n)
	}
	if n := len(m.Select("license_seats_issued", nil)); n == 0 {
		t.Error("the license series are gone")
	}
	peak := vmHWM(t, exp.Pid())
	bound := int64(4*maxResponse + 128<<20)
	t.Logf("peak RSS polling 100 KiB names: %.1f MiB; max_response_bytes %d MiB, bound %d MiB", float64(peak)/(1<<20), maxResponse>>20, bound>>20)
	if peak > bound {
		t.Errorf("peak RSS %d MiB over the bound %d MiB", peak>>20, bound>>20)
	}
}

// TestReloadRefusesCrossSiteAndHidesValues: a browser on another site
// cannot make the exporter reload, and a refused config's error names the
// key but never the value, in the answer and in the log.
func TestReloadRefusesCrossSiteAndHidesValues(t *testing.T) {
	const secret = "csi-tok-9d1f2a7be35c"
	sim := testenv.StartSimulator(t, "--scale=small")
	good := testenv.ExporterConfig("acme", sim.BaseURL)
	exp := testenv.StartExporter(t, good)
	cfgPath := ""
	for _, a := range exp.Args() {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			cfgPath = v
		}
	}
	post := func(hdr ...string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, exp.URL("/-/reload"), strings.NewReader("reload"))
		req.Header.Set("Content-Type", "text/plain")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// A token pasted as the poll interval.
	if err := os.WriteFile(cfgPath, []byte(good+"    poll_interval: "+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, hdr := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "https://evil.example"}} {
		if code, body := post(hdr...); code != http.StatusForbidden {
			t.Errorf("%v: HTTP %d %s, want 403", hdr, code, body)
		}
	}
	if v, _ := testenv.Scrape(t, exp.URL("/metrics")).Get("license_exporter_config_last_reload_successful", nil); v != 1 {
		t.Error("a refused cross-site request reloaded the config")
	}
	code, body := post()
	if code != http.StatusInternalServerError || !strings.Contains(body, "poll_interval") || strings.Contains(body, secret[:8]) {
		t.Errorf("HTTP %d %q: want 500 naming poll_interval, without the value", code, body)
	}
	if strings.Contains(exp.Logs(), secret[:8]) {
		t.Error("the log shows the value")
	}
	if code, _ := testenv.Get(t, exp.URL("/-/reload")); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload: %d, want 405", code)
	}
}

// TestSimulatorControlRefusesCrossSite: a page on another site cannot
// switch the simulator's token check off through a browser.
func TestSimulatorControlRefusesCrossSite(t *testing.T) {
	token := testenv.WriteFile(t, "token", "sim-token-42\n")
	sim := testenv.StartSimulator(t, "--scale=small", "--token-file="+token)
	req, _ := http.NewRequest(http.MethodPost, sim.URL("/-/control/token"), strings.NewReader(`{"token":""}`))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site token change: HTTP %d, want 403", resp.StatusCode)
	}
	if code, _ := testenv.Get(t, sim.BaseURL+"/licenses"); code != http.StatusUnauthorized {
		t.Errorf("without the token the API answers %d: the check was switched off", code)
	}
}

// TestNoDirectoryListings: neither the exporter nor the simulator lists
// a directory, or serves a file, at any path.
func TestNoDirectoryListings(t *testing.T) {
	sim := testenv.StartSimulator(t, "--scale=small")
	exp := testenv.StartExporter(t, testenv.ExporterConfig("acme", sim.BaseURL))
	paths := []string{"/static/", "/-/", "/metrics/", "/api/", "/api/license-monitor/v1/", "/.git/", "/etc/", "/%2e%2e/"}
	for _, p := range []*testenv.Process{exp, sim.Process} {
		for _, path := range paths {
			code, body := testenv.Get(t, p.URL(path))
			if code == http.StatusOK || strings.Contains(body, "<pre>") || strings.Contains(strings.ToLower(body), "index of") {
				t.Errorf("%s %s: HTTP %d %.200q", p.Name, path, code, body)
			}
		}
	}
}
