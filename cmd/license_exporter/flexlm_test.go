package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/license-monitor/license-monitor/collector"
	"github.com/license-monitor/license-monitor/internal/serve"
	"github.com/license-monitor/license-monitor/internal/testenv"
)

// fakeLmutil builds source/flexlm's test lmutil and makes it print
// fixture (a file of source/flexlm/testdata), copied into dir with its
// start dates moved to yesterday (testenv.DatedLmstatFixture).
func fakeLmutil(t *testing.T, dir, fixture string) string {
	t.Helper()
	bin := testenv.FakeLmutil(t)
	chicago, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	dated, _ := testenv.DatedLmstatFixture(t, dir, fixture, chicago)
	if err := os.WriteFile(bin+".mode", []byte("cat "+dated+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return bin
}

// --config.check runs flexlm.CheckLmutil for every flexlm source and
// names the source and the reason; a runnable lmutil passes.
func TestCheckConfigLmutil(t *testing.T) {
	dir := t.TempDir()
	good := fakeLmutil(t, dir, "triad.txt")
	notExec := filepath.Join(dir, "lmutil-noexec")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, lmutil, want string }{
		{"good", good, ""},
		{"missing", filepath.Join(dir, "nope"), "does not exist"},
		{"not-on-path", "lmutil-not-on-path-anywhere", "was not found on PATH"},
		{"not-executable", notExec, "is not executable"},
	}
	if lsb := testenv.LSBProgram(t, dir); lsb != "" {
		cases = append(cases, struct{ name, lmutil, want string }{"loader", lsb, "needs the ELF loader /lib64/ld-lsb-x86-64.so.3, which is missing"})
	} else {
		t.Log("no program to point at the LSB loader: the loader case is left to source/flexlm's tests")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".yml")
			cfg := "sources:\n  - name: csi\n    url: http://127.0.0.1:1/v1\n" +
				"  - name: flex\n    type: flexlm\n    license_server: 27000@lic-a\n    lmutil: " + tc.lmutil + "\n"
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := checkConfig(path, &stdout, &stderr)
			if tc.want == "" {
				if code != 0 || !strings.Contains(stdout.String(), "is valid: 2 source(s)") {
					t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
				}
				return
			}
			msg := stderr.String()
			if code != 1 || !strings.HasPrefix(msg, `config is invalid: source "flex": lmutil `) || !strings.Contains(msg, tc.want) || stdout.Len() != 0 {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", code, msg, tc.want)
			}
		})
	}
}

// licenseJSON is a CSI account of one license and no sessions.
const licenseJSON = `{"account":{"id":"A-1","name":"Acme"},"licenses":[{"id":"L-1","product":"ETABS","edition":"Ultimate","version":"22","type":"network","seats":2,"in_use":0}]}`

func csiUpstream(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/licenses"):
			io.WriteString(w, licenseJSON)
		case strings.HasSuffix(r.URL.Path, "/sessions"):
			io.WriteString(w, `{"sessions":[],"next_page_token":""}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// exporter loads cfg as run does and returns its /metrics.
func exporter(t *testing.T, cfg string, logs io.Writer) (coll *collector.Collector, scrape func() string) {
	t.Helper()
	coll, scrape, _ = reloadable(t, cfg, logs)
	return coll, scrape
}

// reloadable is exporter, with a reload to another config as POST
// /-/reload does.
func reloadable(t *testing.T, cfg string, logs io.Writer) (coll *collector.Collector, scrape func() string, reload func(cfg string) error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "license_exporter.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	coll = collector.New("license_exporter/test", logger)
	t.Cleanup(coll.Stop)
	rl := serve.NewReloader(name, logger)
	load := loader(path, coll)
	if err := rl.Apply(load); err != nil {
		t.Fatalf("the config did not load: %v", err)
	}
	h, err := newHandler("/metrics", coll, rl, load, logger)
	if err != nil {
		t.Fatal(err)
	}
	return coll, func() string {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			return w.Body.String()
		}, func(cfg string) error {
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			return rl.Apply(load)
		}
}

func sample(t *testing.T, body, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	mf, ok := mfs[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range mf.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		if m.Gauge != nil {
			return m.Gauge.GetValue(), true
		}
		return m.Counter.GetValue(), true
	}
	return 0, false
}

// A flexlm source whose lmutil is missing does not stop the config from
// loading: the other source is polled, and each of its failed polls is
// counted under http_4xx and logged once, naming the reason.
func TestBrokenLmutilStillLoads(t *testing.T) {
	var logs testenv.LockedBuffer
	// A configuration problem waits a full interval before the next poll:
	// with an hour, the test sees exactly one failed poll.
	_, scrape := exporter(t, "sources:\n  - name: csi\n    poll_interval: 1h\n    url: "+csiUpstream(t)+"/v1\n"+
		"  - name: flex\n    type: flexlm\n    poll_interval: 1h\n    license_server: 27000@lic-a\n    lmutil: /nonexistent/lmutil\n", &logs)
	testenv.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
		body := scrape()
		if v, _ := sample(t, body, "license_up", map[string]string{"source": "csi"}); v != 1 {
			return fmt.Errorf("license_up{source=csi} is not 1")
		}
		if v, _ := sample(t, body, "license_poll_failures_total", map[string]string{"source": "flex", "reason": "http_4xx"}); v != 1 {
			return fmt.Errorf("no http_4xx failure of flex yet")
		}
		return nil
	})
	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "source=flex") && strings.Contains(l, "poll failed") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%d log lines for 1 failed poll:\n%s", len(lines), logs.String())
	}
	if !strings.Contains(lines[0], "reason=http_4xx") || !strings.Contains(lines[0], "lmutil /nonexistent/lmutil does not exist") {
		t.Errorf("the log line does not say why: %s", lines[0])
	}
}

// The exposition of a flexlm source read through the fake lmutil: the
// FlexLM families and the seats, against a golden file worked out from
// triad.txt, and promtool accepts the whole of it.
func TestFlexlmExposition(t *testing.T) {
	lmutil := fakeLmutil(t, t.TempDir(), "triad.txt")
	coll, scrape := exporter(t, "sources:\n  - name: csi\n    poll_interval: 5s\n    timeout: 4s\n    url: "+csiUpstream(t)+"/v1\n"+
		"  - name: flex\n    type: flexlm\n    poll_interval: 5s\n    timeout: 4s\n    timezone: America/Chicago\n    license_server: 27000@lic-a,27000@lic-b,27000@lic-c\n    lmutil: "+lmutil+"\n", io.Discard)
	var body string
	testenv.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
		body = scrape()
		for _, src := range []string{"csi", "flex"} {
			if v, _ := sample(t, body, "license_up", map[string]string{"source": src}); v != 1 {
				return fmt.Errorf("license_up{source=%s} is not 1", src)
			}
		}
		return nil
	})
	coll.Stop()
	var got strings.Builder
	for _, line := range strings.SplitAfter(body, "\n") {
		for _, n := range []string{"license_queued_requests", "license_seats_", "license_server_up", "license_vendor_daemon_up"} {
			f := strings.Fields(line)
			if strings.HasPrefix(line, n) || len(f) > 2 && f[0] == "#" && strings.HasPrefix(f[2], n) {
				got.WriteString(line)
				break
			}
		}
	}
	golden := filepath.Join("testdata", "flexlm.prom")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		os.WriteFile(golden, []byte(got.String()), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Errorf("FlexLM exposition:\n%s\nwant (%s):\n%s", got.String(), golden, want)
	}
	promtool := testenv.RequireTool(t, "promtool")
	cmd := exec.CommandContext(context.Background(), promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// denials_log through the exporter: the first read starts at the log's
// end and sets every listed feature's counters to 0; a DENIED line
// appended later is counted once, under the feature's license labels.
func TestFlexlmDenialsLog(t *testing.T) {
	dir := t.TempDir()
	lmutil := fakeLmutil(t, dir, "triad.txt")
	log := filepath.Join(dir, "csi.log")
	appendLog := func(s string) {
		f, err := os.OpenFile(log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	appendLog("10:00:00 (csi) DENIED: \"ETABS\" old@ws-1  (Licensed number of users already reached. (-4,342))\n")
	_, scrape := exporter(t, "sources:\n  - name: flex\n    type: flexlm\n    poll_interval: 5s\n    timeout: 4s\n    timezone: UTC\n"+
		"    license_server: 27000@lic-a,27000@lic-b,27000@lic-c\n    lmutil: "+lmutil+"\n    denials_log: "+log+"\n", io.Discard)
	etabs := func(reason string) map[string]string {
		return map[string]string{"source": "flex", "product": "ETABS", "edition": "", "license_type": "floating", "reason": reason}
	}
	testenv.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
		if v, ok := sample(t, scrape(), "license_denials_total", etabs("no_seat_available")); !ok || v != 0 {
			return fmt.Errorf("license_denials_total{ETABS,no_seat_available} is %v (%v), want 0", v, ok)
		}
		return nil
	})
	clock := time.Now().UTC().Format("15:04:05")
	appendLog(clock + " (csi) DENIED: \"ETABS\" zed@ws-99  (Licensed number of users already reached. (-4,342))\r\n" +
		"(csi) DENIED: \"ETABS\" cy@ws-13  (User/host not on INCLUDE list for feature. (-39,147))\n" +
		clock + " (csi) DENIED: \"ETABS\" dan@ws-1")
	testenv.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
		body := scrape()
		seat, _ := sample(t, body, "license_denials_total", etabs("no_seat_available"))
		group, _ := sample(t, body, "license_denials_total", etabs("not_in_license_group"))
		if seat != 1 || group != 1 {
			return fmt.Errorf("no_seat_available %v, not_in_license_group %v; want 1 and 1", seat, group)
		}
		return nil
	})
	body := scrape()
	if strings.Contains(body, "zed") || strings.Contains(body, "ws-99") || strings.Contains(body, "flexlm-denial-") {
		t.Error("a user, host or denial id became a label")
	}
	if v, _ := sample(t, body, "license_denials_read_failures_total", map[string]string{"source": "flex", "reason": "http_4xx"}); v != 0 {
		t.Errorf("denials read failures: %v", v)
	}
}

// A reload that breaks a flexlm source's lmutil still loads: the source's
// polls fail as http_4xx and keep its last good data, the other source
// goes on.
func TestReloadBrokenLmutil(t *testing.T) {
	lmutil := fakeLmutil(t, t.TempDir(), "triad.txt")
	csi := "sources:\n  - name: csi\n    poll_interval: 1h\n    url: " + csiUpstream(t) + "/v1\n"
	flex := "  - name: flex\n    type: flexlm\n    poll_interval: 1h\n    license_server: 27000@lic-a,27000@lic-b,27000@lic-c\n    lmutil: "
	_, scrape, reload := reloadable(t, csi+flex+lmutil+"\n", io.Discard)
	issued := map[string]string{"source": "flex", "product": "ETABS"}
	testenv.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
		if v, _ := sample(t, scrape(), "license_seats_issued", issued); v != 10 {
			return fmt.Errorf("no ETABS seats of flex yet")
		}
		return nil
	})
	if err := reload(csi + flex + "/nonexistent/lmutil\n"); err != nil {
		t.Fatalf("a reload with a missing lmutil was refused: %v", err)
	}
	testenv.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
		body := scrape()
		if v, _ := sample(t, body, "license_poll_failures_total", map[string]string{"source": "flex", "reason": "http_4xx"}); v != 1 {
			return fmt.Errorf("no http_4xx failure of flex yet")
		}
		up, _ := sample(t, body, "license_up", map[string]string{"source": "flex"})
		seats, _ := sample(t, body, "license_seats_issued", issued)
		server, _ := sample(t, body, "license_server_up", map[string]string{"source": "flex", "server": "lic-a"})
		csiUp, _ := sample(t, body, "license_up", map[string]string{"source": "csi"})
		if up != 0 || seats != 10 || server != 1 || csiUp != 1 {
			return fmt.Errorf("flex up %v, seats %v, server %v; csi up %v: want 0, the last good 10 and 1, and 1", up, seats, server, csiUp)
		}
		return nil
	})
}
