// Package e2e tests the built programs together over real HTTP on
// loopback: the simulator, the exporter, the sidecar, and Debian's
// prometheus, promtool and alertmanager.
package e2e

import (
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/config"

	"github.com/license-monitor/license-monitor/internal/testenv"
	"github.com/license-monitor/license-monitor/source"
	"github.com/license-monitor/license-monitor/source/csi"
)

// contractMetrics is the metric table of docs/architecture.md.
var contractMetrics = []string{
	"license_seats_issued", "license_seats_in_use", "license_seats_checked_out",
	"license_expiry_timestamp_seconds", "license_info",
	"license_user_sessions", "license_user_checked_out_sessions", "license_user_session_start_timestamp_seconds",
	"license_up", "license_last_poll_success_timestamp_seconds", "license_poll_duration_seconds",
	"license_polls_total", "license_poll_failures_total", "license_exporter_build_info",
	"license_user_sessions_dropped_total", "license_exporter_http_connections_refused_total",
	"license_denials_total", "license_denials_read_failures_total",
}

var domainMetrics = []string{
	"license_seats_issued", "license_seats_in_use", "license_seats_checked_out",
	"license_expiry_timestamp_seconds", "license_info",
	"license_user_sessions", "license_user_checked_out_sessions", "license_user_session_start_timestamp_seconds",
}

// TestDemoExposesTheContract is the README's promise: the demo account's
// every contract metric, license_up 1, and an exposition promtool accepts.
func TestDemoExposesTheContract(t *testing.T) {
	sim := testenv.StartSimulator(t)
	exp := testenv.StartExporter(t, testenv.ExporterConfig("demo", sim.BaseURL, "poll_interval: 5s", "timeout: 4s"))
	var m testenv.Metrics
	testenv.Eventually(t, 45*time.Second, 100*time.Millisecond, func() error {
		var err error
		if m, err = testenv.TryScrape(exp.URL("/metrics")); err != nil {
			return err
		}
		if v, ok := m.Get("license_up", map[string]string{"source": "demo"}); !ok || v != 1 {
			return fmt.Errorf("license_up{source=demo} is not 1")
		}
		// Denials are read after the seats, so they come a moment later.
		if len(m["license_denials_total"]) == 0 {
			return fmt.Errorf("no license_denials_total yet")
		}
		return nil
	})
	for _, name := range contractMetrics {
		if len(m[name]) == 0 {
			t.Errorf("metric %s is missing", name)
		}
	}
	reasons := m.Select("license_poll_failures_total", map[string]string{"source": "demo"})
	if len(reasons) != len(source.Reasons) {
		t.Errorf("%d failure reasons exported from the start, want %d", len(reasons), len(source.Reasons))
	}
	for _, s := range m["license_info"] {
		for _, label := range []string{"source", "license_id", "product", "edition", "license_type", "version"} {
			if _, ok := s.Labels[label]; !ok {
				t.Fatalf("license_info lacks label %s: %v", label, s.Labels)
			}
		}
	}

	promtool := testenv.RequireTool(t, "promtool")
	_, body := testenv.Get(t, exp.URL("/metrics"))
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// Graceful shutdown on SIGTERM: exit 0.
	if err := exp.Stop(); err != nil {
		t.Errorf("exporter did not exit cleanly on SIGTERM: %v\n%s", err, exp.Logs())
	}
}

// expected computes, independently of the collector, what the exporter
// must show for a snapshot read from the simulator.
func expected(s *source.Snapshot) map[string]float64 {
	out := map[string]float64{}
	product := map[string][3]string{}
	for _, l := range s.Licenses {
		k := "license_id=" + l.ID + ",product=" + l.Product + ",edition=" + l.Edition + ",license_type=" + l.Type
		out["issued|"+k] = float64(l.Seats)
		out["in_use|"+k] = float64(l.InUse)
		out["checked_out|"+k] = float64(l.CheckedOut)
		if !l.ExpiresAt.IsZero() {
			out["expiry|"+k] = float64(l.ExpiresAt.Unix())
		}
		product[l.ID] = [3]string{l.Product, l.Edition, l.Type}
	}
	for _, sess := range s.Sessions {
		pe, ok := product[sess.LicenseID]
		if !ok {
			pe = [3]string{"unknown", "", ""}
		}
		k := "product=" + pe[0] + ",edition=" + pe[1] + ",license_type=" + pe[2] + ",user=" + sess.User + ",host=" + sess.Host
		out["sessions|"+k]++
		if sess.CheckedOut {
			out["user_checked_out|"+k]++
		} else if _, ok := out["user_checked_out|"+k]; !ok {
			out["user_checked_out|"+k] = 0
		}
		start := float64(sess.StartedAt.Unix())
		if old, ok := out["start|"+k]; !ok || start < old {
			out["start|"+k] = start
		}
	}
	return out
}

func observed(m testenv.Metrics, source string) map[string]float64 {
	out := map[string]float64{}
	lic := []string{"license_id", "product", "edition", "license_type"}
	usr := []string{"product", "edition", "license_type", "user", "host"}
	sel := map[string]string{"source": source}
	for prefix, name := range map[string]string{"issued": "license_seats_issued", "in_use": "license_seats_in_use", "checked_out": "license_seats_checked_out", "expiry": "license_expiry_timestamp_seconds"} {
		for _, s := range m.Select(name, sel) {
			out[prefix+"|"+testenv.Key(s.Labels, lic...)] = s.Value
		}
	}
	for prefix, name := range map[string]string{"sessions": "license_user_sessions", "user_checked_out": "license_user_checked_out_sessions", "start": "license_user_session_start_timestamp_seconds"} {
		for _, s := range m.Select(name, sel) {
			out[prefix+"|"+testenv.Key(s.Labels, usr...)] = s.Value
		}
	}
	return out
}

func diff(want, got map[string]float64) []string {
	var d []string
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			d = append(d, fmt.Sprintf("%s: want %g, got %g (present %v)", k, v, g, ok))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			d = append(d, fmt.Sprintf("%s: unexpected %g", k, v))
		}
	}
	slices.Sort(d)
	return d
}

// waitPolls waits until the exporter has finished n more polls than it
// had at the call, so the data shown was read after the call.
func waitPolls(t *testing.T, exp *testenv.Process, source string, n int) testenv.Metrics {
	t.Helper()
	base := -1.0
	var m testenv.Metrics
	testenv.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
		var err error
		if m, err = testenv.TryScrape(exp.URL("/metrics")); err != nil {
			return err
		}
		v, _ := m.Get("license_polls_total", map[string]string{"source": source})
		if base < 0 {
			base = v
		}
		if v < base+float64(n) {
			return fmt.Errorf("license_polls_total %g, waiting for %g", v, base+float64(n))
		}
		return nil
	})
	return m
}

// TestValuesMatchTheSimulator: over several polls, while sessions come and
// go, the exporter shows exactly what the simulator serves.
func TestValuesMatchTheSimulator(t *testing.T) {
	sim := testenv.StartSimulator(t, "--no-churn", "--seed=7")
	exp := testenv.StartExporter(t, testenv.ExporterConfig("acme", sim.BaseURL, "poll_interval: 5s", "timeout: 4s"))
	opts := csi.Options{HTTPClientConfig: config.DefaultHTTPClientConfig}
	licenses := sim.Read(t, opts).Licenses
	var added []csi.SessionDoc
	for round := 0; round < 3; round++ {
		switch round {
		case 1: // new users arrive, one checked out
			for i, l := range licenses[:3] {
				added = append(added, sim.AddSession(t, map[string]any{
					"license_id": l.ID, "user": "e2e-user-" + strconv.Itoa(i) + "@acme.example",
					"host": "WS-E2E", "checked_out": i == 0,
				}))
			}
		case 2: // they leave
			for _, s := range added {
				sim.EndSession(t, s.ID)
			}
		}
		want := expected(sim.Read(t, opts))
		// Two polls: the second one surely started after the change.
		m := waitPolls(t, exp, "acme", 2)
		if d := diff(want, observed(m, "acme")); len(d) > 0 {
			t.Fatalf("round %d: exporter differs from the simulator in %d series:\n%s", round, len(d), strings.Join(d[:min(len(d), 20)], "\n"))
		}
		got := observed(m, "acme")
		for i := range added {
			k := "product=" + licenses[i].Product + ",edition=" + licenses[i].Edition + ",license_type=" + licenses[i].Type + ",user=e2e-user-" + strconv.Itoa(i) + "@acme.example,host=WS-E2E"
			_, present := got["sessions|"+k]
			if present != (round == 1) {
				t.Errorf("round %d: series of e2e-user-%d present=%v", round, i, present)
			}
		}
	}
}

// goroutines reads the exporter's own go_goroutines.
func goroutines(t *testing.T, exp *testenv.Process) float64 {
	v, ok := testenv.Scrape(t, exp.URL("/metrics")).Get("go_goroutines", nil)
	if !ok {
		t.Fatal("no go_goroutines")
	}
	return v
}

// TestFaults switches each fault of the simulator on and off: the exporter
// keeps the last good domain series, reports license_up 0, counts the right
// reason, and recovers without restart.
func TestFaults(t *testing.T) {
	tokenFile := testenv.WriteFile(t, "token", "right-token\n")
	sim := testenv.StartSimulator(t, "--no-churn", "--token-file="+tokenFile)
	exp := testenv.StartExporter(t, testenv.ExporterConfig("acme", sim.BaseURL,
		"poll_interval: 5s", "timeout: 2s", "max_response_bytes: 1048576",
		"http_client_config: {authorization: {type: Bearer, credentials_file: "+tokenFile+"}}"))

	waitUp := func(want float64) testenv.Metrics {
		var m testenv.Metrics
		testenv.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
			var err error
			if m, err = testenv.TryScrape(exp.URL("/metrics")); err != nil {
				return err
			}
			if v, _ := m.Get("license_up", map[string]string{"source": "acme"}); v != want {
				return fmt.Errorf("license_up is %g, want %g", v, want)
			}
			return nil
		})
		return m
	}
	good := waitUp(1).Series(domainMetrics...)
	if len(good) == 0 {
		t.Fatal("no domain series before the faults")
	}
	goroutinesBefore := goroutines(t, exp)

	faults := []struct {
		name   string
		on     func()
		reason string
	}{
		{"hang beyond the timeout", func() { sim.SetFault(t, map[string]any{"kind": "hang"}) }, "timeout"},
		{"500", func() { sim.SetFault(t, map[string]any{"kind": "http_5xx", "status": 500}) }, "http_5xx"},
		{"429 with Retry-After", func() { sim.SetFault(t, map[string]any{"kind": "rate_limit", "retry_after": 4}) }, "rate_limited"},
		{"malformed body", func() { sim.SetFault(t, map[string]any{"kind": "malformed"}) }, "decode"},
		{"truncated body", func() { sim.SetFault(t, map[string]any{"kind": "truncated"}) }, "decode"},
		{"oversized body", func() { sim.SetFault(t, map[string]any{"kind": "huge", "huge_bytes": 4 << 20}) }, "too_large"},
		{"endless pagination", func() { sim.SetFault(t, map[string]any{"kind": "endless_pages"}) }, "invalid"},
		{"wrong token", func() { sim.Control(t, "/token", map[string]any{"token": "rotated-token"}) }, "http_4xx"},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			sel := map[string]string{"source": "acme", "reason": f.reason}
			before, _ := testenv.Scrape(t, exp.URL("/metrics")).Get("license_poll_failures_total", sel)
			f.on()
			var m testenv.Metrics
			testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
				var err error
				if m, err = testenv.TryScrape(exp.URL("/metrics")); err != nil {
					return err
				}
				if v, _ := m.Get("license_poll_failures_total", sel); v <= before {
					return fmt.Errorf("no %s failure counted yet", f.reason)
				}
				return nil
			})
			if v, _ := m.Get("license_up", map[string]string{"source": "acme"}); v != 0 {
				t.Errorf("license_up = %g during the fault", v)
			}
			if got := m.Series(domainMetrics...); !slices.Equal(got, good) {
				t.Errorf("the last good domain series were not kept during the fault (%d series, want %d)", len(got), len(good))
			}
			if f.reason == "rate_limited" {
				// The failure was counted at most ~100ms after the 429;
				// Retry-After is 4s, the first retry without it 1s.
				n := sim.Requests(t)["licenses"]
				time.Sleep(2500 * time.Millisecond)
				if n2 := sim.Requests(t)["licenses"]; n2 != n {
					t.Errorf("%d requests before Retry-After passed", n2-n)
				}
			}
			if f.reason == "http_4xx" {
				sim.Control(t, "/token", map[string]any{"token": "right-token"})
			} else {
				sim.ClearFault(t)
			}
			waitUp(1)
		})
	}
	// Let the connections of the faults close before counting.
	testenv.Eventually(t, 45*time.Second, 500*time.Millisecond, func() error {
		if after := goroutines(t, exp); after > goroutinesBefore+4 {
			return fmt.Errorf("goroutines grew from %g to %g", goroutinesBefore, after)
		}
		return nil
	})
}

// TestSecretsNeverShown runs polls that succeed and fail with a bearer
// token and a secret link, and looks for both everywhere the exporter
// writes.
func TestSecretsNeverShown(t *testing.T) {
	const token, key = "tok-e2e-5ecr3t", "key-e2e-l1nk"
	tokenFile := testenv.WriteFile(t, "token", token)
	keyFile := testenv.WriteFile(t, "key", key)
	sim := testenv.StartSimulator(t, "--no-churn", "--token-file="+tokenFile, "--api-key-file="+keyFile)
	exp := testenv.StartExporter(t, testenv.ExporterConfig("acme", sim.BaseURL+"?key="+key,
		"poll_interval: 5s", "timeout: 2s",
		"http_client_config: {authorization: {type: Bearer, credentials_file: "+tokenFile+"}}"),
		"--log.level=debug")
	waitPolls(t, exp, "acme", 1)
	for _, fault := range []map[string]any{{"kind": "http_5xx"}, {"kind": "malformed"}, {"kind": "unauthorized"}, {"kind": "hang"}} {
		sim.SetFault(t, fault)
		waitPolls(t, exp, "acme", 1)
	}
	sim.ClearFault(t)
	waitPolls(t, exp, "acme", 1)
	if v, _ := testenv.Scrape(t, exp.URL("/metrics")).Get("license_up", map[string]string{"source": "acme"}); v != 1 {
		t.Fatalf("license_up = %g after the faults cleared", v)
	}
	var pages strings.Builder
	for _, p := range []string{"/", "/metrics", "/-/healthy", "/-/ready"} {
		_, body := testenv.Get(t, exp.URL(p))
		pages.WriteString(body)
	}
	resp, err := httpPost(exp.URL("/-/reload"))
	if err != nil {
		t.Fatal(err)
	}
	pages.WriteString(resp)
	if err := exp.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	for _, secret := range []string{token, key} {
		if strings.Contains(exp.Logs(), secret) {
			t.Errorf("the logs contain the secret %q", secret)
		}
		if strings.Contains(pages.String(), secret) {
			t.Errorf("a response contains the secret %q", secret)
		}
	}
	if !strings.Contains(exp.Logs(), "poll failed") {
		t.Error("the failed polls were not logged; the check above saw nothing")
	}
}
