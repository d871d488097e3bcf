package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/simulator"
	"github.com/license-monitor/license-monitor/internal/testenv"
)

const flexSource = "flex"

// flexMatches reports how the exporter's series of the flexlm source
// differ from the simulated account; nil when they are equal. Features of
// the vendors in skip (a vendor daemon down) must be absent.
func flexMatches(m testenv.Metrics, a simulator.FlexLMAccount, skip ...string) error {
	type lic struct{ issued, inUse, checkedOut float64 }
	want := map[string]lic{}
	types := map[string]string{}
	for _, f := range a.Features {
		if slices.Contains(skip, f.Vendor) {
			continue
		}
		want[f.Name] = lic{float64(f.Issued), float64(f.InUse), float64(f.CheckedOut)}
		types[f.Name] = f.Type
	}
	got := map[string]lic{}
	for _, name := range []string{"license_seats_issued", "license_seats_in_use", "license_seats_checked_out"} {
		for _, s := range m[name] {
			if s.Labels["source"] != flexSource {
				continue
			}
			p := s.Labels["product"]
			if s.Labels["license_type"] != types[p] {
				return fmt.Errorf("%s of %s has license_type %q, want %q", name, p, s.Labels["license_type"], types[p])
			}
			l := got[p]
			switch name {
			case "license_seats_issued":
				l.issued = s.Value
			case "license_seats_in_use":
				l.inUse = s.Value
			default:
				l.checkedOut = s.Value
			}
			got[p] = l
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("licenses (issued, in use, checked out) by feature:\n got  %v\n want %v", got, want)
	}

	type user struct{ sessions, checkedOut, start float64 }
	wantU := map[string]user{}
	for _, x := range a.Sessions {
		vendor := ""
		for _, f := range a.Features {
			if f.Name == x.Feature {
				vendor = f.Vendor
			}
		}
		if x.Queued || slices.Contains(skip, vendor) {
			continue
		}
		start, err := time.Parse(time.RFC3339, x.Start)
		if err != nil {
			return err
		}
		k := x.Feature + " " + x.User + " " + x.Host
		u := wantU[k]
		u.sessions++
		if x.Borrowed {
			u.checkedOut++
		}
		if st := float64(start.Unix()); u.start == 0 || st < u.start {
			u.start = st
		}
		wantU[k] = u
	}
	gotU := map[string]user{}
	for _, name := range []string{"license_user_sessions", "license_user_checked_out_sessions", "license_user_session_start_timestamp_seconds"} {
		for _, s := range m[name] {
			if s.Labels["source"] != flexSource {
				continue
			}
			k := s.Labels["product"] + " " + s.Labels["user"] + " " + s.Labels["host"]
			u := gotU[k]
			switch name {
			case "license_user_sessions":
				u.sessions = s.Value
			case "license_user_checked_out_sessions":
				u.checkedOut = s.Value
			default:
				u.start = s.Value
			}
			gotU[k] = u
		}
	}
	if len(gotU) != len(wantU) {
		return fmt.Errorf("%d user series, want %d", len(gotU), len(wantU))
	}
	for k, w := range wantU {
		if g, ok := gotU[k]; !ok || g != w {
			return fmt.Errorf("user %s: got %+v, want %+v", k, g, w)
		}
	}
	return nil
}

func flexValue(m testenv.Metrics, name string, labels ...string) (float64, bool) {
	for _, s := range m[name] {
		ok := s.Labels["source"] == flexSource
		for i := 0; i+1 < len(labels); i += 2 {
			ok = ok && s.Labels[labels[i]] == labels[i+1]
		}
		if ok {
			return s.Value, true
		}
	}
	return 0, false
}

func failures(m testenv.Metrics) map[string]float64 {
	out := map[string]float64{}
	for _, s := range m["license_poll_failures_total"] {
		if s.Labels["source"] == flexSource {
			out[s.Labels["reason"]] = s.Value
		}
	}
	return out
}

// lmutilPids are the running processes whose argv[0] is lmutil, each
// with its start time (a pid may be reused).
func lmutilPids(t *testing.T, lmutil string) map[int]string {
	t.Helper()
	out := map[int]string{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if argv0, _, _ := bytes.Cut(cmd, []byte{0}); string(argv0) != lmutil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Field 22 (starttime), counted after the command's closing parenthesis.
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 {
			if f := strings.Fields(string(stat[i+1:])); len(f) > 19 {
				if f[0] == "Z" {
					continue // exited, not yet reaped: not running
				}
				out[pid] = f[19]
			}
		}
	}
	return out
}

// TestFlexLMSource runs the built exporter on a flexlm source whose
// lmutil is the simulator's fake: the exported values equal the simulated
// account over several polls while sessions come and go, every FlexLM
// fault is survived with the right reason and recovered from, a hung
// lmutil is killed at the timeout, and the environment stays out of the
// exporter's logs and metrics.
func TestFlexLMSource(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the simulator and the exporter")
	}
	const envSecret, envServer = "flexlm-e2e-env-secret-7f3a", "27000@secret-lic-host-e2e"
	t.Setenv("FLEXLM_E2E_SECRET", envSecret)
	t.Setenv("LM_LICENSE_FILE", envServer)
	sim := testenv.StartSimulator(t, "--seed=11")
	sim.PauseClock(t)
	lmutil := testenv.Lmutil(t)
	exp := testenv.StartExporter(t, testenv.FlexLMExporterConfig(flexSource, lmutil, sim,
		"poll_interval: 5s", "timeout: 4s", "max_response_bytes: 1048576"))
	metrics := exp.URL("/metrics")

	// matches waits until the exporter shows the account as it stands.
	matches := func(what string, up float64, skip ...string) simulator.FlexLMAccount {
		t.Helper()
		a := sim.FlexLM(t)
		testenv.Eventually(t, 60*time.Second, 100*time.Millisecond, func() error {
			m, err := testenv.TryScrape(metrics)
			if err != nil {
				return err
			}
			if v, _ := flexValue(m, "license_up"); v != up {
				return fmt.Errorf("%s: license_up %g, want %g", what, v, up)
			}
			return flexMatches(m, a, skip...)
		})
		return a
	}

	// Several polls while sessions come and go: the clock moves 25
	// minutes of a working morning at a time.
	prev := matches("first poll", 1)
	changed := 0
	for step := range 4 {
		sim.AdvanceClock(t, 25*time.Minute)
		a := matches(fmt.Sprintf("step %d", step), 1)
		if fmt.Sprint(a.Sessions) != fmt.Sprint(prev.Sessions) {
			changed++
		}
		prev = a
	}
	if changed < 3 {
		t.Errorf("the checkouts changed at %d of 4 steps; the test needs churn", changed)
	}
	if len(prev.Sessions) < 20 {
		t.Errorf("%d checkouts at the last step; the account looks idle", len(prev.Sessions))
	}

	// Failing faults: the last good data stays, license_up is 0, the
	// reason is counted; clearing it recovers without a restart.
	for _, c := range []struct {
		fault  map[string]any
		reason string
	}{
		{map[string]any{"kind": "down"}, "connection"},
		{map[string]any{"kind": "garbage"}, "decode"},
		{map[string]any{"kind": "huge", "huge_bytes": 4 << 20}, "too_large"},
		{map[string]any{"kind": "slow", "latency": "10m"}, "timeout"},
	} {
		t.Run(c.fault["kind"].(string), func(t *testing.T) {
			before := failures(testenv.Scrape(t, metrics))
			sim.SetFlexLMFault(t, c.fault)
			testenv.Eventually(t, 60*time.Second, 100*time.Millisecond, func() error {
				m, err := testenv.TryScrape(metrics)
				if err != nil {
					return err
				}
				if got := failures(m); got[c.reason] <= before[c.reason] {
					return fmt.Errorf("failures %v, want more %s than %v", got, c.reason, before)
				}
				if v, _ := flexValue(m, "license_up"); v != 0 {
					return fmt.Errorf("license_up %g", v)
				}
				return nil
			})
			after := failures(testenv.Scrape(t, metrics))
			for r, v := range after {
				if r != c.reason && v != before[r] {
					t.Errorf("reason %s counted too: %v -> %v", r, before, after)
				}
			}
			if err := flexMatches(testenv.Scrape(t, metrics), prev); err != nil {
				t.Errorf("the last good data was not kept: %v", err)
			}
			if c.reason == "timeout" {
				// The polls after the first timeout (1 s, 2 s, 4 s later)
				// started with the fault on: their lmutil hangs...
				var hung map[int]string
				testenv.Eventually(t, 60*time.Second, 20*time.Millisecond, func() error {
					if hung = lmutilPids(t, lmutil); len(hung) == 0 {
						return fmt.Errorf("no lmutil running")
					}
					return nil
				})
				// ...until it is killed at the timeout, not left behind.
				testenv.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
					now := lmutilPids(t, lmutil)
					for pid, st := range hung {
						if now[pid] == st {
							return fmt.Errorf("lmutil %d is still running", pid)
						}
					}
					return nil
				})
			}
			sim.ClearFlexLMFault(t)
			sim.AdvanceClock(t, 10*time.Minute)
			prev = matches("recovered from "+c.reason, 1)
		})
	}
	// No lmutil outlives its poll once the polls are quick again.
	testenv.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
		if p := lmutilPids(t, lmutil); len(p) > 0 {
			return fmt.Errorf("lmutil processes left: %v", p)
		}
		return nil
	})

	// Faults that are still a good poll: one triad member down, one vendor
	// daemon down (its features lose their counts).
	before := failures(testenv.Scrape(t, metrics))
	for _, c := range []struct {
		fault map[string]any
		skip  []string
	}{
		{map[string]any{"kind": "server_down", "server": "flex-b"}, nil},
		{map[string]any{"kind": "vendor_down", "vendor": "vertexcad"}, []string{"vertexcad"}},
	} {
		n := sim.FlexLMState(t).LmstatRequests
		sim.SetFlexLMFault(t, c.fault)
		sim.AdvanceClock(t, 10*time.Minute)
		// Two more lmstat runs: a whole poll ran with the fault on.
		testenv.Eventually(t, 60*time.Second, 100*time.Millisecond, func() error {
			if got := sim.FlexLMState(t).LmstatRequests; got < n+2 {
				return fmt.Errorf("%d lmstat runs since the fault", got-n)
			}
			return nil
		})
		prev = matches(fmt.Sprint(c.fault), 1, c.skip...)
	}
	sim.ClearFlexLMFault(t)
	prev = matches("all up again", 1)
	if after := failures(testenv.Scrape(t, metrics)); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a server or vendor daemon down counted a failure: %v -> %v", before, after)
	}

	// The environment stays out of the logs and the metrics.
	_, body := testenv.Get(t, metrics)
	logs := exp.Logs()
	for _, secret := range []string{envSecret, envServer, "secret-lic-host-e2e"} {
		if strings.Contains(body, secret) || strings.Contains(logs, secret) {
			t.Errorf("%q from the environment reached the exporter's logs or metrics", secret)
		}
	}
	features := make([]string, 0, len(prev.Features))
	for _, f := range prev.Features {
		features = append(features, f.Name)
	}
	sort.Strings(features)
	t.Logf("%d features, %d checkouts and queued requests at the end", len(features), len(prev.Sessions))
}
