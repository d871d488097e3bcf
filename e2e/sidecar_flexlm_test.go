package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/sidecar"
	"github.com/license-monitor/license-monitor/internal/sidecar/sidecartest"
	"github.com/license-monitor/license-monitor/internal/simulator"
	"github.com/license-monitor/license-monitor/internal/testenv"
)

// The FlexLM source in these tests: the built license_sidecar runs
// source/flexlm's fake lmutil, which logs every call's arguments and
// environment to <lmutil>.log and prints the fixture that <lmutil>.mode
// names.

// envSecret is put in the sidecar's environment; lmutil must not get it
// (the runner passes a minimal environment), and no page or log may show it.
const envSecret = "env-secret-4d1f7a"

// fakeLmutil builds the fake lmutil into a new directory and has it print
// fixture.
func fakeLmutil(t *testing.T, fixture string) string {
	t.Helper()
	bin := testenv.FakeLmutil(t)
	setFixture(t, bin, fixture)
	return bin
}

// setFixture makes the fake lmutil print fixture from now on.
func setFixture(t *testing.T, bin, fixture string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "lmstat.txt")
	if err := os.WriteFile(f, []byte(fixture), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin+".mode", []byte("cat "+f+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// lmremoves are the lmremove calls in the fake's log, each as its
// arguments joined by spaces; the log's env lines are returned too.
func lmremoves(t *testing.T, bin string) (calls []string, env []string) {
	t.Helper()
	b, err := os.ReadFile(bin + ".log")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "args "):
			var args []string
			// The fake writes %q of a []string: ["a" "b"]; as JSON, once
			// commas are put between the quoted items.
			js := strings.ReplaceAll(strings.TrimPrefix(line, "args "), `" "`, `", "`)
			if err := json.Unmarshal([]byte(js), &args); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if len(args) > 0 && args[0] == "lmremove" {
				calls = append(calls, strings.Join(args, " "))
			}
		case strings.HasPrefix(line, "env "):
			env = append(env, line)
		}
	}
	return calls, env
}

// lmstatFixture is one license server's answer: bob's and carol's
// checkouts of a floating feature (one of each borrowed) and of a
// node-locked one, started two hours before now in UTC (lmstat prints no
// year; the parser infers it from the weekday). handle 303 is carol's
// floating checkout unless replaced.
func lmstatFixture(now time.Time, extra string) string {
	start := now.UTC().Add(-2 * time.Hour).Format("Mon 1/2 15:04")
	return fmt.Sprintf(`lmutil - Copyright (c) 1989-2023 Flexera. All Rights Reserved.
Flexible License Manager status on %[1]s

[Detecting lmgrd processes...]
License server status: 27000@lic-a
    License file(s) on lic-a: /opt/flexlm/licenses/engineering.lic:

     lic-a: license server UP (MASTER) v11.19.0

Vendor daemon status (on lic-a):

       csi: UP v11.19.0

Feature usage info:

Users of ETABS:  (Total of 10 licenses issued;  Total of 4 licenses in use)

  "ETABS" v21.0, vendor: csi, expiry: 31-dec-2099
  floating license

    bob ws-bob ws-bob (v21.0) (lic-a/27000 202), start %[2]s
    bob lt-bob lt-bob (v21.0) (lic-a/27000 204), start %[2]s (linger: 2592000 / 1209600)
%[3]s    carol lt-carol lt-carol (v21.0) (lic-a/27000 304), start %[2]s (linger: 2592000 / 1209600)

Users of SAP2000:  (Total of 2 licenses issued;  Total of 2 licenses in use)

  "SAP2000" v23.1, vendor: csi, expiry: permanent(no expiration date)
  nodelocked license, locked to "HOSTID=0a1b2c3d4e5f"

    bob bench-bob bench-bob (v23.1) (lic-a/27000 720), start %[2]s
    carol bench-carol bench-carol (v23.1) (lic-a/27000 730), start %[2]s
`, now.UTC().Format("Mon 1/2/2006 15:04"), start, extra)
}

func carolFloating(now time.Time) string {
	return fmt.Sprintf("    carol ws-carol ws-carol (v21.0) (lic-a/27000 303), start %s\n", now.UTC().Add(-2*time.Hour).Format("Mon 1/2 15:04"))
}

// flexSourceYAML is the sources: list with the FlexLM source alone.
func flexSourceYAML(lmutil string) string {
	return fmt.Sprintf("sources:\n  - name: flex\n    type: flexlm\n    license_server: 27000@lic-a\n    lmutil: %s\n    timeout: 10s\n    timezone: UTC\n", lmutil)
}

// On FlexLM, bob is "bob"; the demo's carol has no identity.
const flexAliases = "  bob: {flex: bob, acme: bob@acme.example}\n"

// sessionsBy maps "user host" to the FlexLM session ids of the view.
func sessionsBy(t *testing.T, v sidecar.MonitorView) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range v.Sessions {
		if s.Source == "flex" {
			out[s.User+" "+s.Host] = s.ID
		}
	}
	return out
}

// TestSidecarFlexLMPermissions: owner, admin, another user, a user without
// roles and an anonymous caller against floating, borrowed and
// node-locked FlexLM checkouts, with and without dry run; every lmremove
// the sidecar runs, and every one it must not, is checked in the fake's
// log.
func TestSidecarFlexLMPermissions(t *testing.T) {
	t.Setenv("LICENSE_MONITOR_TEST_SECRET", envSecret)
	now := time.Now()
	fixture := lmstatFixture(now, carolFloating(now))

	for _, dryRun := range []bool{false, true} {
		t.Run(fmt.Sprintf("dry_run=%v", dryRun), func(t *testing.T) {
			lmutil := fakeLmutil(t, fixture)
			sc := sidecartest.Start(t, sidecartest.Options{Sources: flexSourceYAML(lmutil), Aliases: "  bob: {flex: bob}\n", DryRun: dryRun})
			ids := sessionsBy(t, sc.Monitor(t, "admin", ""))
			if len(ids) != 6 {
				t.Fatalf("the view has %d FlexLM sessions, want 6: %v", len(ids), ids)
			}
			type want struct {
				status  int
				outcome string
				why     string
				removes string // the lmremove this request runs; "" for none
			}
			floating := func(handle string) string {
				return "lmremove -c 27000@lic-a -h ETABS lic-a 27000 " + handle
			}
			ok := func(handle string) want {
				if dryRun {
					return want{http.StatusOK, sidecar.OutcomeDryRun, "", ""}
				}
				return want{http.StatusOK, sidecar.OutcomeTerminated, "", floating(handle)}
			}
			borrowed := want{http.StatusConflict, sidecar.OutcomeNotTerminable, sidecar.WhyCheckedOut, ""}
			nodelocked := want{http.StatusConflict, sidecar.OutcomeNotTerminable, sidecar.WhyNotFloating, ""}
			noPerm := want{http.StatusForbidden, sidecar.OutcomeDenied, sidecar.WhyNoPermission, ""}
			anon := want{http.StatusUnauthorized, sidecar.OutcomeUnauthenticated, "", ""}
			cases := []struct {
				who, session string // who: "" is anonymous
				want         want
			}{
				// The owner, through user_aliases.
				{"bob", "bob ws-bob", ok("202")},
				{"bob", "bob lt-bob", borrowed},
				{"bob", "bob bench-bob", nodelocked},
				// An account administrator, on someone else's checkouts.
				{"admin", "carol ws-carol", ok("303")},
				{"admin", "carol lt-carol", borrowed},
				{"admin", "carol bench-carol", nodelocked},
				// Another user with view_monitor only.
				{"bob", "carol ws-carol", want{http.StatusForbidden, sidecar.OutcomeDenied, sidecar.WhyNotYours, ""}},
				{"bob", "carol lt-carol", borrowed},
				{"bob", "carol bench-carol", nodelocked},
				// A user without roles, and nobody at all.
				{"nobody", "bob ws-bob", noPerm},
				{"nobody", "bob lt-bob", noPerm},
				{"nobody", "bob bench-bob", noPerm},
				{"", "bob ws-bob", anon},
				{"", "bob lt-bob", anon},
				{"", "bob bench-bob", anon},
			}
			var wantCalls []string
			audited := map[string]bool{}
			for _, c := range cases {
				id := ids[c.session]
				status, body := sc.TerminateIn(t, c.who, "flex", id)
				var ans struct{ Outcome, Why, Reason string }
				if c.who == "" {
					// Basic auth refuses before the sidecar's handler:
					// plain text, and no audit line (docs/architecture.md).
					ans.Outcome = sidecar.OutcomeUnauthenticated
				} else if err := json.Unmarshal([]byte(body), &ans); err != nil {
					t.Fatalf("%s on %s: %v: %s", c.who, c.session, err, body)
				}
				if status != c.want.status || ans.Outcome != c.want.outcome || ans.Why != c.want.why {
					t.Errorf("%q on %s: %d %s/%s, want %d %s/%s (%s)", c.who, c.session, status, ans.Outcome, ans.Why,
						c.want.status, c.want.outcome, c.want.why, ans.Reason)
				}
				if c.want.removes != "" {
					wantCalls = append(wantCalls, c.want.removes)
				}
				got, _ := lmremoves(t, lmutil)
				if strings.Join(got, "\n") != strings.Join(wantCalls, "\n") {
					t.Fatalf("after %q on %s, lmremove calls\n%q\nwant\n%q", c.who, c.session, got, wantCalls)
				}
				// Allowed requests each get their lines; a refusal only the
				// first of its identity, outcome and why in an interval.
				key := c.who + "/" + c.want.outcome + "/" + c.want.why
				if c.who == "" || audited[key] {
					continue
				}
				audited[key] = c.want.status != http.StatusOK
				rec := sc.LastAudit(t)
				if rec.Source != "flex" || rec.SourceType != "flexlm" || rec.Outcome != c.want.outcome || rec.Identity != c.who || rec.DryRun != dryRun {
					t.Errorf("%s on %s: audit %+v", c.who, c.session, rec)
				}
			}
			if dryRun {
				return
			}
			// Each lmremove has its attempt line before it.
			attempts := 0
			for _, rec := range sc.Audit(t) {
				if rec.Phase == sidecar.PhaseAttempt && rec.Source == "flex" {
					attempts++
				}
			}
			if attempts != 2 {
				t.Errorf("%d attempt lines, want one per lmremove (2)", attempts)
			}

			// Handle 303 now belongs to dave's new checkout: carol's old id is
			// stale, and nothing is removed.
			setFixture(t, lmutil, lmstatFixture(now, fmt.Sprintf("    dave ws-dave ws-dave (v21.0) (lic-a/27000 303), start %s\n",
				now.UTC().Add(-time.Hour).Format("Mon 1/2 15:04"))))
			status, body := sc.TerminateIn(t, "admin", "flex", ids["carol ws-carol"])
			if status != http.StatusNotFound || !strings.Contains(body, sidecar.OutcomeNotFound) {
				t.Errorf("a stale id: %d %s, want 404", status, body)
			}
			if got, _ := lmremoves(t, lmutil); len(got) != 2 {
				t.Errorf("a stale id ran lmremove: %q", got)
			}

			// lmutil never sees the sidecar's environment.
			_, env := lmremoves(t, lmutil)
			for _, e := range env {
				if strings.Contains(e, envSecret) {
					t.Fatalf("lmutil got the sidecar's environment: %s", e)
				}
			}
			if len(env) == 0 {
				t.Error("the fake logged no environment")
			}
			for _, where := range []string{sc.Logs(), readFile(t, sc.AuditPath)} {
				if strings.Contains(where, envSecret) {
					t.Error("the environment reached the logs or the audit log")
				}
			}
		})
	}
}

// An allowed lmremove whose attempt line cannot be written is not run.
func TestSidecarFlexLMAuditFailClosed(t *testing.T) {
	now := time.Now()
	lmutil := fakeLmutil(t, lmstatFixture(now, carolFloating(now)))
	sc := sidecartest.Start(t, sidecartest.Options{Sources: flexSourceYAML(lmutil), AuditLog: "/dev/full"})
	id := sessionsBy(t, sc.Monitor(t, "admin", ""))["carol ws-carol"]
	status, body := sc.TerminateIn(t, "admin", "flex", id)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, sidecar.OutcomeAuditFailed) {
		t.Fatalf("terminate with the audit log on /dev/full: %d %s", status, body)
	}
	if got, _ := lmremoves(t, lmutil); len(got) != 0 {
		t.Errorf("lmremove ran without an audit line: %q", got)
	}
}

// An lmremove that fails is a 502, once: it is not retried, and the audit
// keeps the allowed decision with the failure.
func TestSidecarFlexLMRemoveFails(t *testing.T) {
	now := time.Now()
	lmutil := fakeLmutil(t, lmstatFixture(now, carolFloating(now)))
	sc := sidecartest.Start(t, sidecartest.Options{Sources: flexSourceYAML(lmutil)})
	id := sessionsBy(t, sc.Monitor(t, "admin", ""))["carol ws-carol"]
	// lmstat still answers (a server is up), but every call exits 1.
	f := filepath.Join(t.TempDir(), "lmstat.txt")
	if err := os.WriteFile(f, []byte(lmstatFixture(now, carolFloating(now))), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lmutil+".mode", []byte("exit 1 "+f+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	status, body := sc.TerminateIn(t, "admin", "flex", id)
	if status != http.StatusBadGateway || !strings.Contains(body, sidecar.OutcomeUpstreamError) {
		t.Fatalf("a failing lmremove: %d %s, want 502", status, body)
	}
	if got, _ := lmremoves(t, lmutil); len(got) != 1 || got[0] != "lmremove -c 27000@lic-a -h ETABS lic-a 27000 303" {
		t.Errorf("lmremove calls %q, want exactly one", got)
	}
	if rec := sc.LastAudit(t); rec.Decision != sidecar.DecisionAllow || rec.Outcome != sidecar.OutcomeUpstreamError ||
		!strings.HasPrefix(rec.Upstream, "connection") || rec.Source != "flex" {
		t.Errorf("audit %+v", rec)
	}
}

// A CSI source (the simulator) and a FlexLM one: both groups on the page
// and in the JSON, each terminable on its own path, and no secret shown.
func TestSidecarTwoSources(t *testing.T) {
	t.Setenv("LICENSE_MONITOR_TEST_SECRET", envSecret)
	const token = "tok-two-sources-7c1e"
	tokenFile := testenv.WriteFile(t, "sim.token", token+"\n")
	sim := testenv.StartSimulator(t, "--no-churn", "--token-file="+tokenFile)
	now := time.Now()
	lmutil := fakeLmutil(t, lmstatFixture(now, carolFloating(now)))
	sources := fmt.Sprintf(`sources:
  - name: acme
    type: csi
    url: %q
    timeout: 10s
    http_client_config:
      authorization:
        type: Bearer
        credentials_file: %s
`, sim.BaseURL, tokenFile) + strings.TrimPrefix(flexSourceYAML(lmutil), "sources:\n")
	sc := sidecartest.Start(t, sidecartest.Options{Sources: sources, Aliases: flexAliases})

	v := sc.Monitor(t, "bob", "")
	if len(v.Sources) != 2 || v.Sources[0].Name != "acme" || v.Sources[0].Type != "csi" || v.Sources[1].Name != "flex" ||
		v.Sources[1].Type != "flexlm" || v.Sources[0].Error != "" || v.Sources[1].Error != "" {
		t.Fatalf("sources %+v", v.Sources)
	}
	count := map[string]int{}
	last := ""
	for _, s := range v.Sessions {
		if s.Source != last && count[s.Source] > 0 {
			t.Fatalf("sessions of %s are not together", s.Source)
		}
		last = s.Source
		count[s.Source]++
	}
	if count["acme"] == 0 || count["flex"] != 6 {
		t.Errorf("sessions per source %v", count)
	}
	// bob owns his sessions on both, under two upstream names.
	own := map[string]bool{}
	for _, s := range v.Sessions {
		if s.CanTerminate {
			own[s.Source+" "+s.User] = true
		}
	}
	if !own["acme bob@acme.example"] || !own["flex bob"] || len(own) != 2 {
		t.Errorf("bob may terminate %v", own)
	}
	f := sc.Monitor(t, "bob", "?source=flex")
	if len(f.Sources) != 1 || len(f.Sessions) != 6 {
		t.Errorf("?source=flex: %d sources, %d sessions", len(f.Sources), len(f.Sessions))
	}

	status, page := sc.Do(t, "bob", http.MethodGet, "/", nil)
	if status != http.StatusOK {
		t.Fatalf("page: %d", status)
	}
	for _, need := range []string{
		`data-source="acme" data-source-type="csi"`, `data-source="flex" data-source-type="flexlm"`,
		`flex (flexlm): 6 sessions`, `>Borrowed<`, `>Not a floating seat<`, `>Checked out<`,
	} {
		if !strings.Contains(page, need) {
			t.Errorf("page lacks %s", need)
		}
	}

	// The path without a source is refused and names the new one.
	status, body := sc.Terminate(t, "admin", sessionsBy(t, v)["bob ws-bob"])
	if status != http.StatusBadRequest || !strings.Contains(body, "/api/v1/sources/{source}/sessions/{id}/terminate") {
		t.Errorf("the old path with two sources: %d %s", status, body)
	}
	// Each source ends its own sessions.
	if status, body := sc.TerminateIn(t, "bob", "flex", sessionsBy(t, v)["bob ws-bob"]); status != http.StatusOK {
		t.Errorf("bob's FlexLM checkout: %d %s", status, body)
	}
	if got, _ := lmremoves(t, lmutil); len(got) != 1 || got[0] != "lmremove -c 27000@lic-a -h ETABS lic-a 27000 202" {
		t.Errorf("lmremove calls %q", got)
	}
	var bobCSI string
	for _, s := range v.Sessions {
		if s.Source == "acme" && s.User == "bob@acme.example" && s.CanTerminate {
			bobCSI = s.ID
		}
	}
	before := sim.Requests(t)["terminate"]
	if status, body := sc.TerminateIn(t, "bob", "acme", bobCSI); status != http.StatusOK {
		t.Errorf("bob's CSI session: %d %s", status, body)
	}
	if n := sim.Requests(t)["terminate"]; n != before+1 {
		t.Errorf("the simulator got %d terminate calls, want 1", n-before)
	}
	if rec := sc.LastAudit(t); rec.Source != "acme" || rec.SourceType != "csi" || rec.Outcome != sidecar.OutcomeTerminated {
		t.Errorf("audit %+v", rec)
	}

	_, jsonBody := sc.Do(t, "admin", http.MethodGet, "/api/v1/monitor", nil)
	for _, where := range map[string]string{"page": page, "json": jsonBody, "logs": sc.Logs(), "audit": readFile(t, sc.AuditPath)} {
		for _, secret := range []string{token, envSecret} {
			if strings.Contains(where, secret) {
				t.Error("a secret (the CSI token or the environment) reached the page, JSON, logs or audit")
			}
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The sidecar against the simulator's FlexLM account, through the
// simulator's own fake lmutil, as `make run` serves it: bob ends his
// floating checkout, and the simulator records one lmremove that removed
// it; his borrowed one is refused without a call.
func TestSidecarFlexLMSimulator(t *testing.T) {
	sim := testenv.StartSimulator(t, "--no-churn")
	lmutil := testenv.Lmutil(t)
	sources := fmt.Sprintf("sources:\n  - name: flex\n    type: flexlm\n    lmutil: %q\n    license_server: %q\n    timezone: UTC\n    timeout: 10s\n",
		lmutil, sim.LicenseServer())
	sc := sidecartest.Start(t, sidecartest.Options{Sources: sources, Aliases: "  bob: {flex: bob}\n"})

	var floating, borrowed string
	for _, s := range sc.Monitor(t, "bob", "?user=bob").Sessions {
		switch {
		case s.Host == simulator.FlexBobHost && s.CanTerminate:
			floating = s.ID
		case s.CheckedOut && s.NotTerminable == sidecar.WhyCheckedOut:
			borrowed = s.ID
		}
	}
	if floating == "" || borrowed == "" {
		t.Fatalf("bob's pinned floating (%q) and borrowed (%q) checkouts are not in his view", floating, borrowed)
	}
	if status, body := sc.TerminateIn(t, "bob", "flex", borrowed); status != http.StatusConflict || !strings.Contains(body, sidecar.WhyCheckedOut) {
		t.Errorf("bob's borrowed checkout: %d %s, want 409 checked_out", status, body)
	}
	if calls := sim.LmremoveCalls(t); len(calls) != 0 {
		t.Fatalf("a refused terminate reached lmremove: %+v", calls)
	}
	if status, body := sc.TerminateIn(t, "bob", "flex", floating); status != http.StatusOK {
		t.Fatalf("bob's floating checkout: %d %s", status, body)
	}
	calls := sim.LmremoveCalls(t)
	if len(calls) != 1 || calls[0].Result != simulator.LmremoveRemoved || calls[0].User != simulator.FlexBobUser || calls[0].Host != simulator.FlexBobHost {
		t.Errorf("lmremove calls %+v, want one that removed bob's on %s", calls, simulator.FlexBobHost)
	}
	for _, s := range sc.Monitor(t, "bob", "").Sessions {
		if s.ID == floating {
			t.Error("the removed checkout is still in the view")
		}
	}
	if rec := sc.LastAudit(t); rec.Source != "flex" || rec.SourceType != "flexlm" || rec.Outcome != sidecar.OutcomeTerminated || rec.Owner != "bob" {
		t.Errorf("audit %+v", rec)
	}
}
