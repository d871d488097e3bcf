package e2e

import (
	"fmt"
	"html"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/config"

	"github.com/license-monitor/license-monitor/internal/sidecar/sidecartest"
	"github.com/license-monitor/license-monitor/internal/testenv"
	"github.com/license-monitor/license-monitor/source"
	"github.com/license-monitor/license-monitor/source/csi"
)

var denialLabels = []string{"product", "edition", "license_type", "reason"}

// observedDenials is license_denials_total of source, by denialLabels.
func observedDenials(m testenv.Metrics, src string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range m.Select("license_denials_total", map[string]string{"source": src}) {
		out[testenv.Key(s.Labels, denialLabels...)] = s.Value
	}
	return out
}

// expectedDenials works out, independently of the collector, what the
// exporter must count: a 0 for every listed license and reason, plus each
// distinct denial the simulator serves that was not there before the
// exporter's first read (baseline).
func expectedDenials(snap *source.Snapshot, all []source.Denial, baseline map[string]bool) map[string]float64 {
	out := map[string]float64{}
	key := func(product, edition, typ, reason string) string {
		return testenv.Key(map[string]string{"product": product, "edition": edition, "license_type": typ, "reason": reason}, denialLabels...)
	}
	for _, l := range snap.Licenses {
		for _, r := range []string{"no_seat_available", "not_in_license_group", "other"} {
			out[key(l.Product, l.Edition, l.Type, r)] = 0
		}
	}
	seen := map[string]bool{}
	for _, d := range all {
		if baseline[d.ID] || seen[d.ID] {
			continue
		}
		seen[d.ID] = true
		out[key(d.Product, d.Edition, d.LicenseType, string(d.Reason))]++
	}
	return out
}

// waitDenialsRead waits for the exporter's first denials read of source:
// license_denials_total appears only then.
func waitDenialsRead(t *testing.T, exp *testenv.Process, src string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
		m, err := testenv.TryScrape(exp.URL("/metrics"))
		if err != nil {
			return err
		}
		if len(observedDenials(m, src)) == 0 {
			return fmt.Errorf("no license_denials_total{source=%q} yet", src)
		}
		return nil
	})
}

// TestDenialsMatchTheSimulator: over several polls, with new, repeated,
// late and unlisted denials injected, the exporter counts exactly the
// simulator's distinct events per product, edition, type and reason.
func TestDenialsMatchTheSimulator(t *testing.T) {
	// No churn: only the control API adds denials, so the test knows
	// every one. The warm-up's are there before the exporter starts.
	sim := testenv.StartSimulator(t, "--no-churn", "--seed=7")
	opts := csi.Options{HTTPClientConfig: config.DefaultHTTPClientConfig}
	exp := testenv.StartExporter(t, testenv.ExporterConfig("acme", sim.BaseURL, "poll_interval: 5s", "timeout: 4s"))
	waitDenialsRead(t, exp, "acme")
	baseline := map[string]bool{}
	for _, d := range sim.ReadDenials(t, opts, time.Time{}) {
		baseline[d.ID] = true
	}
	if len(baseline) == 0 {
		t.Log("the warm-up recorded no denials; the baseline is empty")
	}
	snap := sim.Read(t, opts)
	simNow, err := time.Parse(time.RFC3339, sim.State(t)["sim_time"].(string))
	if err != nil {
		t.Fatal(err)
	}
	licenses := snap.Licenses

	var first csi.DenialDoc
	for round := range 4 {
		switch round {
		case 1: // new denials: two listed licenses, an unknown reason
			first = sim.AddDenial(t, map[string]any{"license_id": licenses[0].ID, "user": "e2e-1@acme.example", "host": "WS-E2E"})
			sim.AddDenial(t, map[string]any{"license_id": licenses[1].ID, "user": "e2e-2@acme.example", "reason": "not_in_license_group"})
			sim.AddDenial(t, map[string]any{"license_id": licenses[1].ID, "user": "e2e-3@acme.example", "reason": "license_server_down"})
		case 2: // a repeat, a late one, one of a product /licenses does not list
			sim.AddDenial(t, map[string]any{"id": first.ID})
			sim.AddDenial(t, map[string]any{"license_id": licenses[0].ID, "user": "e2e-late@acme.example",
				"at": simNow.Add(-20 * time.Minute).UTC().Format(time.RFC3339)})
			sim.AddDenial(t, map[string]any{"product": "NoSuchProduct", "edition": "X", "license_type": "network", "user": "e2e-4@acme.example", "reason": "other"})
		case 3: // the repeat once more; nothing new
			sim.AddDenial(t, map[string]any{"id": first.ID})
		}
		want := expectedDenials(snap, sim.ReadDenials(t, opts, time.Time{}), baseline)
		// Two polls: the denials read after the first one surely
		// started after the change, and is done when the second begins.
		m := waitPolls(t, exp, "acme", 2)
		if d := diff(want, observedDenials(m, "acme")); len(d) > 0 {
			t.Fatalf("round %d: exporter's denials differ from the simulator's in %d series:\n%s", round, len(d), strings.Join(d[:min(len(d), 20)], "\n"))
		}
		if round == 0 {
			for k, v := range want {
				if v != 0 {
					t.Fatalf("before any injection every counter is 0, %s is %g", k, v)
				}
			}
		}
	}
	// The totals the rounds added: 3 + late + unlisted, the repeats not.
	var total float64
	for _, v := range observedDenials(testenv.Scrape(t, exp.URL("/metrics")), "acme") {
		total += v
	}
	if total != 5 {
		t.Errorf("%g denials counted in all, want 5", total)
	}
}

// TestDenialsNeverMakeSeatsStale: an account without the endpoint (404)
// and every kind of denials failure leave license_up at 1 and the seat
// data fresh; failures are counted by reason.
func TestDenialsNeverMakeSeatsStale(t *testing.T) {
	sim := testenv.StartSimulator(t, "--no-churn")
	sim.SetDenialsEndpoint(t, false)
	exp := testenv.StartExporter(t, testenv.ExporterConfig("acme", sim.BaseURL, "poll_interval: 5s", "timeout: 2s"))
	sel := map[string]string{"source": "acme"}

	// Checks one scrape: seats up and fresh, no poll failure.
	healthy := func(m testenv.Metrics) error {
		if v, ok := m.Get("license_up", sel); !ok || v != 1 {
			return fmt.Errorf("license_up is %g", v)
		}
		for _, s := range m.Select("license_poll_failures_total", sel) {
			if s.Value != 0 {
				return fmt.Errorf("a poll failure was counted: %v", s.Labels)
			}
		}
		return nil
	}

	// 404: not a failure, and no denial series.
	m := waitPolls(t, exp, "acme", 3)
	if err := healthy(m); err != nil {
		t.Fatal(err)
	}
	if n := len(m.Select("license_denials_total", sel)); n != 0 {
		t.Errorf("%d license_denials_total series for an account without denials", n)
	}
	for _, s := range m.Select("license_denials_read_failures_total", sel) {
		if s.Value != 0 {
			t.Errorf("404 counted as a read failure: %v", s.Labels)
		}
	}
	if sim.Requests(t)["denials"] == 0 {
		t.Fatal("the exporter never asked for denials; the check above saw nothing")
	}

	sim.SetDenialsEndpoint(t, true)
	waitDenialsRead(t, exp, "acme")

	for _, f := range []struct {
		fault  map[string]any
		reason string
	}{
		{map[string]any{"kind": "http_5xx", "endpoints": []string{"denials"}}, "http_5xx"},
		{map[string]any{"kind": "malformed", "endpoints": []string{"denials"}}, "decode"},
		{map[string]any{"kind": "wrong_shape", "endpoints": []string{"denials"}}, "invalid"},
		{map[string]any{"kind": "hang", "endpoints": []string{"denials"}}, "timeout"},
	} {
		t.Run(f.reason, func(t *testing.T) {
			rsel := map[string]string{"source": "acme", "reason": f.reason}
			m := testenv.Scrape(t, exp.URL("/metrics"))
			before, _ := m.Get("license_denials_read_failures_total", rsel)
			lastGood, _ := m.Get("license_last_poll_success_timestamp_seconds", sel)
			sim.SetFault(t, f.fault)
			testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
				m, err := testenv.TryScrape(exp.URL("/metrics"))
				if err != nil {
					return err
				}
				if err := healthy(m); err != nil {
					t.Fatalf("during the fault: %v", err)
				}
				if v, _ := m.Get("license_denials_read_failures_total", rsel); v < before+2 {
					return fmt.Errorf("%g %s failures, waiting for two more than %g", v, f.reason, before)
				}
				// Two failed reads means polls went on, and succeeded.
				if v, _ := m.Get("license_last_poll_success_timestamp_seconds", sel); v <= lastGood {
					return fmt.Errorf("no good poll since the fault began")
				}
				return nil
			})
			sim.ClearFault(t)
		})
	}
}

// TestSidecarShowsDenials: the monitor page and its JSON list the last
// 24 hours of denials with user, host and time, under view_monitor; an
// older one is left out, a repeat listed once, ?user= narrows them, and
// an account without denials still shows its sessions.
func TestSidecarShowsDenials(t *testing.T) {
	r := startSidecarRig(t, sidecartest.Options{})
	simNow, err := time.Parse(time.RFC3339, r.sim.State(t)["sim_time"].(string))
	if err != nil {
		t.Fatal(err)
	}
	recent := r.sim.AddDenial(t, map[string]any{"license_id": "L-ETABS-ULT-1", "user": "dora@acme.example", "host": "WS-DORA",
		"at": simNow.Add(-3 * time.Hour).UTC().Format(time.RFC3339), "reason": "not_in_license_group"})
	r.sim.AddDenial(t, map[string]any{"id": recent.ID})
	r.sim.AddDenial(t, map[string]any{"license_id": "L-ETABS-ULT-1", "user": "old@acme.example", "host": "WS-OLD",
		"at": simNow.Add(-25 * time.Hour).UTC().Format(time.RFC3339)})

	v := r.sc.Monitor(t, "bob", "")
	if !v.DenialsAvailable || v.DenialsError != "" {
		t.Fatalf("denials available %v, error %q", v.DenialsAvailable, v.DenialsError)
	}
	var dora int
	for _, d := range v.Denials {
		if d.User == "old@acme.example" {
			t.Error("a denial older than 24 hours is shown")
		}
		if d.User == "dora@acme.example" {
			dora++
			if d.Host != "WS-DORA" || d.Time.Format(time.RFC3339) != recent.At || d.Product != "ETABS" || d.Edition != "Ultimate" || d.Reason != "not_in_license_group" {
				t.Errorf("dora's denial: %+v, want %+v", d, recent)
			}
		}
	}
	if dora != 1 {
		t.Errorf("dora's denial listed %d times, want once", dora)
	}
	if v := r.sc.Monitor(t, "admin", "?user=dora@acme.example"); len(v.Denials) != 1 {
		t.Errorf("?user=dora@acme.example: %d denials", len(v.Denials))
	}
	status, page := r.sc.Do(t, "bob", http.MethodGet, "/", nil)
	if status != http.StatusOK || !strings.Contains(page, "WS-DORA") || !strings.Contains(page, recent.At) ||
		!strings.Contains(page, "Not in license group") || !strings.Contains(html.UnescapeString(page), "dora@acme.example") {
		t.Errorf("the page lacks dora's denial (status %d)", status)
	}
	if status, body := r.sc.Do(t, "nobody", http.MethodGet, "/api/v1/monitor", nil); status != http.StatusForbidden || strings.Contains(body, "WS-DORA") {
		t.Errorf("nobody: %d", status)
	}

	// An account without the endpoint: sessions as before, no denials.
	r.sim.SetDenialsEndpoint(t, false)
	v = r.sc.Monitor(t, "bob", "")
	if v.DenialsAvailable || len(v.Denials) != 0 || v.DenialsError != "" || len(v.Sessions) == 0 {
		t.Errorf("without denials: available %v, %d denials, error %q, %d sessions", v.DenialsAvailable, len(v.Denials), v.DenialsError, len(v.Sessions))
	}
	// A failing read is shown, and never hides the sessions.
	r.sim.SetDenialsEndpoint(t, true)
	r.sim.SetFault(t, map[string]any{"kind": "http_5xx", "endpoints": []string{"denials"}})
	v = r.sc.Monitor(t, "bob", "")
	if !strings.Contains(v.DenialsError, "http_5xx") || len(v.Sessions) == 0 {
		t.Errorf("denials failing: error %q, %d sessions", v.DenialsError, len(v.Sessions))
	}
}
