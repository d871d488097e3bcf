package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/simulator"
	"github.com/license-monitor/license-monitor/internal/testenv"
)

// minDemoSessions is the least a first look at `make run` should show,
// of each source.
const minDemoSessions = 20

// flexDemoFeatures is the simulated FlexLM account's features.
const flexDemoFeatures = 15

// TestMakeRunShowsAWorkingDay runs deploy/run-demo.sh, what `make run`
// runs, and checks that the demo account, CSI and FlexLM, is busy within
// 10 s of start whatever the hour: once as the clock stands, once as if it
// were 03:00 UTC (DEMO_NOW).
// No session may start after the exporter's clock.
func TestMakeRunShowsAWorkingDay(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo's three programs")
	}
	testenv.RequireTool(t, "curl")
	now := time.Now().UTC()
	night := time.Date(now.Year(), now.Month(), now.Day(), 3, 0, 0, 0, time.UTC)
	if night.After(now) {
		night = night.AddDate(0, 0, -1)
	}
	for _, c := range []struct{ name, demoNow string }{
		{"now", ""},
		{"as if at 03:00 UTC", night.Format(time.RFC3339)},
	} {
		t.Run(c.name, func(t *testing.T) {
			bin := filepath.Dir(testenv.Binary(t, "license_exporter"))
			testenv.Binary(t, "license_sidecar")
			testenv.Binary(t, "license_simulator")
			simPort, exporterPort, sidecarPort := port(t), port(t), port(t)
			script := testenv.Start(t, "127.0.0.1:"+exporterPort, "/usr/bin/env",
				"DEMO_NOW="+c.demoNow, "DEMO_SIMULATOR_PORT="+simPort,
				"DEMO_EXPORTER_PORT="+exporterPort, "DEMO_SIDECAR_PORT="+sidecarPort,
				filepath.Join(testenv.RepoRoot(), "deploy", "run-demo.sh"), bin)
			var sessions float64
			// The acceptance point is this limit: a busy demo
			// within 10 s of make run.
			testenv.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
				if script.Exited() {
					t.Fatalf("run-demo.sh exited:\n%s", script.Logs())
				}
				// The script prints its URLs and clock once all three run.
				if !strings.Contains(script.Logs(), "Demo clock:") {
					return fmt.Errorf("make run has not said it is running")
				}
				m, err := testenv.TryScrape(script.URL("/metrics"))
				if err != nil {
					return err
				}
				sessions = 0
				for _, s := range m["license_user_sessions"] {
					if s.Labels["source"] == "demo" {
						sessions += s.Value
					}
				}
				if sessions < minDemoSessions {
					return fmt.Errorf("%g sessions, want at least %d", sessions, minDemoSessions)
				}
				// The FlexLM source beside it, through the fake lmutil.
				if v, ok := m.Get("license_up", map[string]string{"source": "demo-flexlm"}); !ok || v != 1 {
					return fmt.Errorf(`license_up{source="demo-flexlm"} is not 1`)
				}
				flexSessions, features := 0.0, 0
				for _, s := range m["license_user_sessions"] {
					if s.Labels["source"] == "demo-flexlm" {
						flexSessions += s.Value
					}
				}
				for _, s := range m["license_seats_issued"] {
					if s.Labels["source"] == "demo-flexlm" {
						features++
					}
				}
				if features != flexDemoFeatures || flexSessions < minDemoSessions {
					return fmt.Errorf("the FlexLM source shows %d features and %g sessions, want %d and at least %d",
						features, flexSessions, flexDemoFeatures, minDemoSessions)
				}
				latest := time.Now()
				for _, s := range m["license_user_session_start_timestamp_seconds"] {
					if start := time.Unix(int64(s.Value), 0); start.After(latest) {
						t.Fatalf("a session of %s starts at %s, after the exporter's clock (%s)", s.Labels["user"], start, latest)
					}
				}
				return nil
			})
			t.Logf("%g CSI sessions", sessions)
			from := now
			if c.demoNow != "" {
				from = night
			}
			// The weekday rule itself is unit-tested in internal/simulator.
			want := "started at " + simulator.MostRecentWeekday(from, time.UTC, 10, 30).Format(time.RFC3339)
			if !strings.Contains(script.Logs(), want) {
				t.Errorf("the demo clock is not where it should be (%q):\n%s", want, script.Logs())
			}
		})
	}
}

// port is a free loopback port number.
func port(t *testing.T) string {
	addr := testenv.FreeAddr(t)
	return addr[strings.LastIndex(addr, ":")+1:]
}
