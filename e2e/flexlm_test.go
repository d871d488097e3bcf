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

// flexSeries are the four series of a FlexLM source's own.
var flexSeries = []string{"license_server_up", "license_vendor_daemon_up", "license_seats_reserved", "license_queued_requests"}

// flexExtrasMatch reports how the exporter's four FlexLM series differ
// from account a with triad member serverDown and vendor daemon
// vendorDown ("" for none) down: every server and vendor, up or not, and
// the reserved seats and queued requests of each feature whose daemon is
// up, under the labels its seat series have.
func flexExtrasMatch(m testenv.Metrics, a simulator.FlexLMAccount, serverDown, vendorDown string) error {
	got, want := testenv.Metrics{}, testenv.Metrics{}
	for _, name := range flexSeries {
		got[name] = m.Select(name, map[string]string{"source": flexSource})
	}
	add := func(name string, v float64, labels ...string) {
		l := map[string]string{"source": flexSource}
		for i := 0; i+1 < len(labels); i += 2 {
			l[labels[i]] = labels[i+1]
		}
		want[name] = append(want[name], testenv.Sample{Labels: l, Value: v})
	}
	upUnless := func(down bool) float64 {
		if down {
			return 0
		}
		return 1
	}
	for _, s := range simulator.FlexLMServers {
		add("license_server_up", upUnless(s == serverDown), "server", s)
	}
	vendors := map[string]bool{}
	for _, f := range a.Features {
		if !vendors[f.Vendor] {
			vendors[f.Vendor] = true
			add("license_vendor_daemon_up", upUnless(f.Vendor == vendorDown), "vendor", f.Vendor)
		}
		if f.Vendor == vendorDown {
			continue // an error in place of its totals: no series
		}
		seat := m.Select("license_seats_issued", map[string]string{"source": flexSource, "product": f.Name})
		if len(seat) != 1 {
			return fmt.Errorf("%d license_seats_issued series of %s, want 1", len(seat), f.Name)
		}
		l := seat[0].Labels
		labels := []string{"license_id", l["license_id"], "product", l["product"], "edition", l["edition"], "license_type", l["license_type"]}
		add("license_seats_reserved", float64(f.Reserved), labels...)
		add("license_queued_requests", float64(f.Queued), labels...)
	}
	return seriesDiff("FlexLM series", got.Series(flexSeries...), want.Series(flexSeries...))
}

// seriesDiff names the lines of got and want (sorted series) that differ.
func seriesDiff(what string, got, want []string) error {
	if slices.Equal(got, want) {
		return nil
	}
	var extra, missing []string
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	return fmt.Errorf("%s: %d series, want %d\n not wanted: %s\n missing:    %s", what, len(got), len(want),
		strings.Join(extra, "\n             "), strings.Join(missing, "\n             "))
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
	// Queued requests beside those of the peaks: two of one feature, and
	// one for 4 seats, which is one request.
	for _, q := range []simulator.FlexLMSessionRequest{
		{Feature: "KS_SOLVER", User: "quinn", Host: "ws-quinn", Queued: true},
		{Feature: "KS_SOLVER", User: "rhea", Host: "ws-rhea", Queued: true},
		{Feature: "KS_HPC", User: "quinn", Host: "ws-quinn", Licenses: 4, Queued: true},
	} {
		sim.AddFlexLMSession(t, q)
	}
	lmutil := testenv.Lmutil(t)
	exp := testenv.StartExporter(t, testenv.FlexLMExporterConfig(flexSource, lmutil, sim,
		"poll_interval: 5s", "timeout: 4s", "max_response_bytes: 1048576"))
	metrics := exp.URL("/metrics")

	// matches waits until the exporter shows the account as it stands,
	// with triad member serverDown and vendor daemon vendorDown down ("":
	// none).
	matches := func(what string, serverDown, vendorDown string) simulator.FlexLMAccount {
		t.Helper()
		a := sim.FlexLM(t)
		var skip []string
		if vendorDown != "" {
			skip = append(skip, vendorDown)
		}
		testenv.Eventually(t, 60*time.Second, 100*time.Millisecond, func() error {
			m, err := testenv.TryScrape(metrics)
			if err != nil {
				return err
			}
			if v, _ := flexValue(m, "license_up"); v != 1 {
				return fmt.Errorf("%s: license_up %g, want 1", what, v)
			}
			if err := flexMatches(m, a, skip...); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if err := flexExtrasMatch(m, a, serverDown, vendorDown); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return nil
		})
		return a
	}

	// Several polls while sessions come and go: the clock moves 25
	// minutes of a working morning at a time.
	prev := matches("first poll", "", "")
	changed := 0
	maxQueued := int64(0)
	for step := range 4 {
		sim.AdvanceClock(t, 25*time.Minute)
		a := matches(fmt.Sprintf("step %d", step), "", "")
		if fmt.Sprint(a.Sessions) != fmt.Sprint(prev.Sessions) {
			changed++
		}
		for _, f := range a.Features {
			maxQueued = max(maxQueued, f.Queued)
		}
		prev = a
	}
	if maxQueued < 2 {
		t.Errorf("at most %d queued requests of a feature; the test pinned two", maxQueued)
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
			// The last good view stays whole, the FlexLM series too: every
			// server and vendor daemon still 1, though lmstat says none is.
			m := testenv.Scrape(t, metrics)
			if err := flexMatches(m, prev); err != nil {
				t.Errorf("the last good data was not kept: %v", err)
			}
			if err := flexExtrasMatch(m, prev, "", ""); err != nil {
				t.Errorf("the last good FlexLM series were not kept: %v", err)
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
			prev = matches("recovered from "+c.reason, "", "")
		})
	}
	// No lmutil outlives its poll once the polls are quick again.
	testenv.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
		if p := lmutilPids(t, lmutil); len(p) > 0 {
			return fmt.Errorf("lmutil processes left: %v", p)
		}
		return nil
	})

	// Faults that are still a good poll: one triad member down (the
	// master too: another server then prints the license file), one vendor
	// daemon down (its features lose their counts). Each shows in its up
	// series alone and clears at the next poll, without a restart.
	before := failures(testenv.Scrape(t, metrics))
	for _, c := range []struct {
		fault          map[string]any
		server, vendor string
	}{
		{map[string]any{"kind": "server_down", "server": "flex-b"}, "flex-b", ""},
		{map[string]any{"kind": "server_down", "server": "flex-a"}, "flex-a", ""},
		{map[string]any{"kind": "vendor_down", "vendor": "vertexcad"}, "", "vertexcad"},
	} {
		sim.SetFlexLMFault(t, c.fault)
		sim.AdvanceClock(t, 10*time.Minute)
		// No view before the fault matches: its up series differ.
		prev = matches(fmt.Sprint(c.fault), c.server, c.vendor)
		sim.ClearFlexLMFault(t)
		prev = matches(fmt.Sprint(c.fault, " cleared"), "", "")
	}
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

// denialReasons are license_denials_total's reasons (the contract's).
var denialReasons = []string{"no_seat_available", "not_in_license_group", "other"}

// denialsMatch reports how the exporter's license_denials_total of the
// flexlm source differs from counts (by product, then reason): every
// feature of account a has each reason, 0 unless counted, under its seat
// series' edition and license_type.
func denialsMatch(m testenv.Metrics, a simulator.FlexLMAccount, counts map[string]map[string]int) error {
	want := testenv.Metrics{}
	for p := range counts {
		if !slices.ContainsFunc(a.Features, func(f simulator.FlexLMFeature) bool { return f.Name == p }) {
			return fmt.Errorf("the test counts denials of %s, not a feature of the account", p)
		}
	}
	for _, f := range a.Features {
		seat := m.Select("license_seats_issued", map[string]string{"source": flexSource, "product": f.Name})
		if len(seat) != 1 {
			return fmt.Errorf("%d license_seats_issued series of %s, want 1", len(seat), f.Name)
		}
		for _, r := range denialReasons {
			want["license_denials_total"] = append(want["license_denials_total"], testenv.Sample{
				Labels: map[string]string{"source": flexSource, "product": f.Name, "edition": seat[0].Labels["edition"],
					"license_type": seat[0].Labels["license_type"], "reason": r},
				Value: float64(counts[f.Name][r]),
			})
		}
	}
	got := testenv.Metrics{"license_denials_total": m.Select("license_denials_total", map[string]string{"source": flexSource})}
	return seriesDiff("license_denials_total", got.Series("license_denials_total"), want.Series("license_denials_total"))
}

// TestFlexLMDenials runs the built exporter on a flexlm source with a
// denials_log the test writes as a vendor daemon would: the DENIED lines
// appended after the exporter's first read of the log are counted in
// license_denials_total exactly, by reason, under the feature's license
// labels, through a line written in two parts, a rotation and a
// truncation; the lines already there, and every other line, are not.
func TestFlexLMDenials(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the simulator and the exporter")
	}
	sim := testenv.StartSimulator(t, "--seed=11")
	// A paused clock keeps the account, so each feature's license type
	// (which a denial takes from the last lmstat) stays put.
	sim.PauseClock(t)
	a := sim.FlexLM(t)
	vendor := map[string]string{}
	for _, f := range a.Features {
		vendor[f.Name] = f.Vendor
	}
	for _, f := range []string{"KS_SOLVER", "KS_VIEWER", "TS_FLOOD2D", "TS_HYDRO", "VX_DESIGN", "VX_RENDER"} {
		if vendor[f] == "" {
			t.Fatalf("the simulated account has no feature %s: %+v", f, a.Features)
		}
	}

	const (
		noSeat   = "Licensed number of users already reached."
		include  = "User/host not on INCLUDE list for feature."
		exclude  = "User/host on EXCLUDE list for feature."
		expired  = "Feature has expired."
		notFound = "No such feature exists."
	)
	counts := map[string]map[string]int{}
	count := func(feature, reason string) {
		if counts[feature] == nil {
			counts[feature] = map[string]int{}
		}
		counts[feature][reason]++
	}
	// deniedLine is a DENIED line of user, stamped now.
	deniedLine := func(feature, user, message string, code int) string {
		return testenv.FlexDeniedLine(time.Now(), vendor[feature], feature, user, "ws-"+user, message, code)
	}
	// denied is deniedLine, counted under reason.
	denied := func(feature, user, message string, code int, reason string) string {
		count(feature, reason)
		return deniedLine(feature, user, message, code)
	}
	// noise are lines of the same log that are not denials.
	noise := func(feature, user string) string {
		now := time.Now().UTC()
		clock := fmt.Sprintf("%d:%02d:%02d (%s) ", now.Hour(), now.Minute(), now.Second(), vendor[feature])
		return clock + fmt.Sprintf("OUT: %q %s@ws-%s  \n", feature, user, user) +
			clock + fmt.Sprintf("IN: %q %s@ws-%s  \n", feature, user, user) +
			clock + fmt.Sprintf("UNSUPPORTED: %q %s@ws-%s  (License server system does not support this feature. (-18,327))\n", feature, user, user)
	}

	// Lines logged before the exporter watched: remembered, not counted.
	logPath := filepath.Join(t.TempDir(), "vendor.log")
	testenv.AppendFile(t, logPath, noise("KS_SOLVER", "ann")+
		deniedLine("KS_SOLVER", "ann", noSeat, -4)+deniedLine("VX_DESIGN", "ben", include, -39))

	exp := testenv.StartExporter(t, testenv.FlexLMExporterConfig(flexSource, testenv.Lmutil(t), sim,
		"poll_interval: 5s", "timeout: 4s", fmt.Sprintf("denials_log: %q", logPath)))
	metrics := exp.URL("/metrics")
	// want waits until the exporter counts exactly counts.
	want := func(what string) {
		t.Helper()
		testenv.Eventually(t, 60*time.Second, 100*time.Millisecond, func() error {
			m, err := testenv.TryScrape(metrics)
			if err != nil {
				return err
			}
			if err := flexMatches(m, a); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if err := denialsMatch(m, a, counts); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return nil
		})
	}
	// polled waits until a whole poll, its denials read included, ran
	// after now: two more lmstat runs.
	polled := func() {
		t.Helper()
		n := sim.FlexLMState(t).LmstatRequests
		testenv.Eventually(t, 60*time.Second, 100*time.Millisecond, func() error {
			if got := sim.FlexLMState(t).LmstatRequests; got < n+2 {
				return fmt.Errorf("%d lmstat runs since", got-n)
			}
			return nil
		})
	}
	// Every counter starts at 0 with the first read, which starts at the
	// log's end.
	want("first read")

	// Each reason, by FlexNet's code or, without one, its words; a line
	// without a time; CRLF; lines that are not denials.
	count("TS_HYDRO", "no_seat_available")
	testenv.AppendFile(t, logPath, noise("TS_HYDRO", "cat")+
		denied("KS_SOLVER", "dan", noSeat, -4, "no_seat_available")+
		denied("KS_SOLVER", "eve", noSeat, -4, "no_seat_available")+
		denied("VX_DESIGN", "fay", include, -39, "not_in_license_group")+
		denied("TS_FLOOD2D", "gus", exclude, -38, "not_in_license_group")+
		denied("KS_VIEWER", "hal", expired, -10, "other")+
		denied("VX_RENDER", "ida", noSeat, 0, "no_seat_available")+
		strings.TrimSuffix(denied("TS_HYDRO", "jon", notFound, -5, "other"), "\n")+"\r\n"+
		fmt.Sprintf("(%s) DENIED: \"TS_HYDRO\" kim@ws-kim  (%s (-4,342:104 \"Connection reset by peer\"))\n", vendor["TS_HYDRO"], noSeat))
	want("appended lines")

	// A line the daemon has not finished waits for its newline: the read
	// that counts the line before it (the same write) leaves it.
	testenv.AppendFile(t, logPath, denied("KS_SOLVER", "lea", noSeat, -4, "no_seat_available")+
		strings.TrimSuffix(deniedLine("VX_RENDER", "lou", noSeat, -4), "\n"))
	want("a line without its newline")

	// Rotation: the old file is read to its end (the unfinished line
	// finished, lines written after the rename, its last line without a
	// newline), then the new one from its start.
	count("VX_RENDER", "no_seat_available")
	testenv.AppendFile(t, logPath, "\n"+denied("KS_SOLVER", "max", noSeat, -4, "no_seat_available"))
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	testenv.AppendFile(t, logPath+".1", denied("TS_FLOOD2D", "ned", noSeat, -4, "no_seat_available")+
		strings.TrimSuffix(denied("VX_DESIGN", "oli", exclude, -38, "not_in_license_group"), "\n"))
	first := denied("KS_VIEWER", "pat", expired, -10, "other")
	rotated := first + strings.Repeat(noise("KS_VIEWER", "quin"), 4) +
		denied("TS_HYDRO", "rob", include, -39, "not_in_license_group")
	testenv.AppendFile(t, logPath, rotated)
	want("rotated")

	// Truncation (copytruncate): the log is read again from 0, whether
	// the exporter looks before or after the new lines, as they are
	// shorter than what it read. The same line at the same offset is
	// another event.
	count("KS_VIEWER", "other")
	truncated := first + denied("VX_DESIGN", "sam", noSeat, -4, "no_seat_available")
	if len(truncated) >= len(rotated) {
		t.Fatalf("the lines after the truncation (%d bytes) must be shorter than before (%d)", len(truncated), len(rotated))
	}
	if err := os.Truncate(logPath, 0); err != nil {
		t.Fatal(err)
	}
	testenv.AppendFile(t, logPath, truncated)
	want("truncated")

	// Nothing more is counted later, and no read failed.
	polled()
	want("a poll later")
	m := testenv.Scrape(t, metrics)
	reads := m.Select("license_denials_read_failures_total", map[string]string{"source": flexSource})
	if len(reads) == 0 {
		t.Error("no license_denials_read_failures_total")
	}
	for _, s := range reads {
		if s.Value != 0 {
			t.Errorf("license_denials_read_failures_total%v = %g", s.Labels, s.Value)
		}
	}
	total := 0
	for _, byReason := range counts {
		for _, n := range byReason {
			total += n
		}
	}
	t.Logf("%d denials counted", total)
}
