package e2e

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/config"

	"github.com/license-monitor/license-monitor/internal/sidecar"
	"github.com/license-monitor/license-monitor/internal/sidecar/sidecartest"
	"github.com/license-monitor/license-monitor/internal/testenv"
	"github.com/license-monitor/license-monitor/source"
	"github.com/license-monitor/license-monitor/source/csi"
)

// sidecarRig is the simulator (with a bearer token) and the sidecar in
// front of it, both built binaries.
type sidecarRig struct {
	sim   *testenv.Simulator
	sc    *sidecartest.Sidecar
	token string
}

func startSidecarRig(t *testing.T, o sidecartest.Options) *sidecarRig {
	t.Helper()
	const token = "tok-sidecar-e2e-91c2"
	tokenFile := testenv.WriteFile(t, "sim.token", token+"\n")
	sim := testenv.StartSimulator(t, "--no-churn", "--token-file="+tokenFile)
	o.UpstreamURL, o.TokenFile = sim.BaseURL, tokenFile
	return &sidecarRig{sim: sim, sc: sidecartest.Start(t, o), token: tokenFile}
}

// sessions reads the simulator directly, as the test's own witness.
func (r *sidecarRig) sessions(t *testing.T) []source.Session {
	t.Helper()
	opts := csi.Options{}
	opts.HTTPClientConfig.Authorization = &config.Authorization{Type: "Bearer", CredentialsFile: r.token}
	return r.sim.Read(t, opts).Sessions
}

// pinned finds a pinned demo session by user and host.
func (r *sidecarRig) pinned(t *testing.T, user, host string) string {
	t.Helper()
	for _, s := range r.sessions(t) {
		if s.User == user && s.Host == host {
			return s.ID
		}
	}
	t.Fatalf("no session of %s on %s upstream", user, host)
	return ""
}

func (r *sidecarRig) upstreamHas(t *testing.T, id string) bool {
	t.Helper()
	for _, s := range r.sessions(t) {
		if s.ID == id {
			return true
		}
	}
	return false
}

func (r *sidecarRig) terminateCalls(t *testing.T) int64 {
	t.Helper()
	return r.sim.Requests(t)["terminate"]
}

func TestSidecarTerminates(t *testing.T) {
	r := startSidecarRig(t, sidecartest.Options{})
	bobSignIn := r.pinned(t, "bob@acme.example", "WS-BOB")
	bobCheckedOut := r.pinned(t, "bob@acme.example", "LT-BOB")
	carol := r.pinned(t, "carol@acme.example", "WS-CAROL")

	expect := func(user, id string, wantStatus int, wantOutcome string) {
		t.Helper()
		before := r.terminateCalls(t)
		status, body := r.sc.Terminate(t, user, id)
		if status != wantStatus {
			t.Fatalf("%s terminating %s: %d, want %d: %s", user, id, status, wantStatus, body)
		}
		rec := r.sc.LastAudit(t)
		if rec.Identity != user || rec.Session != id || rec.Outcome != wantOutcome {
			t.Errorf("audit %+v, want identity %s session %s outcome %s", rec, user, id, wantOutcome)
		}
		calls := r.terminateCalls(t) - before
		if wantOutcome == sidecar.OutcomeTerminated {
			if calls != 1 {
				t.Errorf("%d upstream terminate calls, want 1", calls)
			}
			if r.upstreamHas(t, id) {
				t.Errorf("session %s is still upstream after %s terminated it", id, user)
			}
		} else if calls != 0 {
			t.Errorf("%d upstream terminate calls for a refused request", calls)
		}
	}

	// The plain user: 403 on someone else's, 409 on a checked-out one of
	// his own, and his own sign-in session goes.
	expect("bob", carol, http.StatusForbidden, sidecar.OutcomeDenied)
	expect("bob", bobCheckedOut, http.StatusConflict, sidecar.OutcomeNotTerminable)
	expect("bob", bobSignIn, http.StatusOK, sidecar.OutcomeTerminated)
	// The user with no roles learns nothing.
	expect("nobody", carol, http.StatusForbidden, sidecar.OutcomeDenied)
	// The administrator terminates someone else's session.
	expect("admin", carol, http.StatusOK, sidecar.OutcomeTerminated)
	// Gone means 404 now.
	expect("admin", carol, http.StatusNotFound, sidecar.OutcomeNotFound)

	// No credentials: 401 from the basic auth check in front of every
	// path (internal/sidecar/login.go), so neither audited nor counted.
	before := r.terminateCalls(t)
	if status, _ := r.sc.Terminate(t, "", bobCheckedOut); status != http.StatusUnauthorized {
		t.Errorf("no credentials: %d, want 401", status)
	}
	// A cross-origin browser POST, with valid credentials, is refused.
	status, body := r.sc.Do(t, "admin", http.MethodPost, "/api/v1/sessions/"+bobCheckedOut+"/terminate",
		map[string]string{"Origin": "https://attacker.example", "Sec-Fetch-Site": "cross-site"})
	if status != http.StatusForbidden {
		t.Errorf("cross-origin POST: %d %s, want 403", status, body)
	}
	if rec := r.sc.LastAudit(t); rec.Outcome != sidecar.OutcomeCrossOrigin || rec.Identity != "admin" {
		t.Errorf("cross-origin audit %+v", rec)
	}
	if r.terminateCalls(t) != before {
		t.Error("upstream terminate was called for a refused request")
	}

	// The metrics count every outcome.
	_, metrics := r.sc.Do(t, "admin", http.MethodGet, "/metrics", nil)
	for _, line := range []string{
		`license_sidecar_terminations_total{outcome="terminated"} 2`,
		`license_sidecar_terminations_total{outcome="denied"} 2`,
		`license_sidecar_terminations_total{outcome="not_terminable"} 1`,
		`license_sidecar_terminations_total{outcome="not_found"} 1`,
		`license_sidecar_terminations_total{outcome="unauthenticated"} 0`,
		`license_sidecar_terminations_total{outcome="cross_origin"} 1`,
		`license_sidecar_terminations_total{outcome="rate_limited"} 0`,
	} {
		if !strings.Contains(metrics, line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	// Every decision has its line (each is the first of its identity and
	// reason), and each of the 2 terminations its attempt line before.
	recs := r.sc.Audit(t)
	if len(recs) != 9 {
		t.Errorf("%d audit lines, want 7 outcomes and 2 attempts", len(recs))
	}
	for i, rec := range recs {
		if rec.Outcome == sidecar.OutcomeTerminated && (i == 0 || recs[i-1].Phase != sidecar.PhaseAttempt || recs[i-1].RequestID != rec.RequestID) {
			t.Errorf("termination %+v has no attempt line before it", rec)
		}
	}
}

func TestSidecarMonitorViews(t *testing.T) {
	r := startSidecarRig(t, sidecartest.Options{})
	bobSignIn := r.pinned(t, "bob@acme.example", "WS-BOB")

	v := r.sc.Monitor(t, "bob", "")
	if len(v.Sessions) != len(r.sessions(t)) || len(v.Products) == 0 {
		t.Fatalf("bob sees %d sessions and %d products", len(v.Sessions), len(v.Products))
	}
	for _, s := range v.Sessions {
		if s.CanTerminate != (s.ID == bobSignIn) {
			t.Errorf("bob: session %s of %s (%s) can_terminate=%v", s.ID, s.User, s.Host, s.CanTerminate)
		}
		if s.Host == "LT-BOB" && s.NotTerminable != sidecar.WhyCheckedOut {
			t.Errorf("bob's checked-out session says %q", s.NotTerminable)
		}
	}
	// The Grafana dashboard's link: ?user= filters.
	v = r.sc.Monitor(t, "admin", "?user=bob@acme.example")
	if len(v.Sessions) != 2 {
		t.Errorf("?user=bob@acme.example: %d sessions, want bob's 2", len(v.Sessions))
	}
	if status, _ := r.sc.Do(t, "nobody", http.MethodGet, "/", nil); status != http.StatusForbidden {
		t.Errorf("nobody's page: %d, want 403", status)
	}
	if status, _ := r.sc.Do(t, "", http.MethodGet, "/api/v1/monitor", nil); status != http.StatusUnauthorized {
		t.Errorf("anonymous JSON: %d, want 401", status)
	}
}

func TestSidecarRateLimit(t *testing.T) {
	r := startSidecarRig(t, sidecartest.Options{RateLimit: 3})
	id := r.pinned(t, "bob@acme.example", "LT-BOB")
	for i := 1; i <= 3; i++ {
		if status, _ := r.sc.Terminate(t, "bob", id); status != http.StatusConflict {
			t.Fatalf("request %d: %d, want 409", i, status)
		}
	}
	status, _, hdr, err := r.sc.Request("bob", http.MethodPost, "/api/v1/sessions/"+id+"/terminate", nil)
	if err != nil || status != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Fatalf("4th request: %d %v, Retry-After %q; want 429", status, err, hdr.Get("Retry-After"))
	}
	if rec := r.sc.LastAudit(t); rec.Outcome != sidecar.OutcomeRateLimited {
		t.Errorf("audit %+v", rec)
	}
	// Per identity: the administrator is not held back by bob.
	if status, _ := r.sc.Terminate(t, "admin", id); status != http.StatusConflict {
		t.Errorf("admin after bob's limit: %d, want 409", status)
	}
}

func TestSidecarDryRun(t *testing.T) {
	r := startSidecarRig(t, sidecartest.Options{DryRun: true})
	carol := r.pinned(t, "carol@acme.example", "WS-CAROL")
	status, body := r.sc.Terminate(t, "admin", carol)
	if status != http.StatusOK || !strings.Contains(body, `"dry_run"`) {
		t.Fatalf("dry run: %d %s", status, body)
	}
	if n := r.terminateCalls(t); n != 0 {
		t.Errorf("dry run made %d upstream terminate calls", n)
	}
	if !r.upstreamHas(t, carol) {
		t.Error("dry run ended the session")
	}
	if rec := r.sc.LastAudit(t); rec.Outcome != sidecar.OutcomeDryRun || !rec.DryRun || rec.Upstream != sidecar.UpstreamNotCalled {
		t.Errorf("audit %+v", rec)
	}
}

func TestSidecarUpstream5xx(t *testing.T) {
	r := startSidecarRig(t, sidecartest.Options{})
	carol := r.pinned(t, "carol@acme.example", "WS-CAROL")
	r.sim.SetFault(t, map[string]any{"kind": "http_5xx", "endpoints": []string{"terminate"}})
	status, body := r.sc.Terminate(t, "admin", carol)
	if status != http.StatusBadGateway {
		t.Fatalf("upstream 5xx: %d %s, want 502", status, body)
	}
	// Sent once, never retried: terminate is not idempotent.
	if n := r.terminateCalls(t); n != 1 {
		t.Errorf("%d upstream terminate calls, want exactly 1", n)
	}
	rec := r.sc.LastAudit(t)
	if rec.Outcome != sidecar.OutcomeUpstreamError || rec.Decision != sidecar.DecisionAllow || !strings.HasPrefix(rec.Upstream, "http_5xx (HTTP 5") {
		t.Errorf("audit %+v", rec)
	}
	r.sim.ClearFault(t)
	if !r.upstreamHas(t, carol) {
		t.Error("the session vanished although upstream failed")
	}
}

// Tokens, the secret link and passwords never show in the sidecar's logs,
// its audit log, its answers or its metrics, failures included.
func TestSidecarSecretsNeverShown(t *testing.T) {
	const token, key = "tok-sc-5ecr3t-e2e", "key-sc-l1nk-e2e"
	tokenFile := testenv.WriteFile(t, "token", token)
	keyFile := testenv.WriteFile(t, "key", key)
	sim := testenv.StartSimulator(t, "--no-churn", "--token-file="+tokenFile, "--api-key-file="+keyFile)
	sc := sidecartest.Start(t, sidecartest.Options{UpstreamURL: sim.BaseURL + "?key=" + key, TokenFile: tokenFile}, "--log.level=debug")

	var seen strings.Builder
	for _, user := range []string{"admin", "bob", "nobody", ""} {
		for _, p := range []string{"/", "/api/v1/monitor", "/metrics", "/-/ready"} {
			_, body := sc.Do(t, user, http.MethodGet, p, nil)
			seen.WriteString(body)
		}
		_, body := sc.Terminate(t, user, "S-does-not-exist")
		seen.WriteString(body)
	}
	for _, fault := range []string{"unauthorized", "http_5xx"} {
		sim.SetFault(t, map[string]any{"kind": fault})
		for _, p := range []string{"/", "/api/v1/monitor"} {
			_, body := sc.Do(t, "admin", http.MethodGet, p, nil)
			seen.WriteString(body)
		}
		_, body := sc.Terminate(t, "admin", "S-any")
		seen.WriteString(body)
	}
	sim.ClearFault(t)
	audit, err := os.ReadFile(sc.AuditPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(audit), sidecar.OutcomeUpstreamError) {
		t.Fatal("the failure cases did not reach the audit log")
	}
	secrets := []string{token, key}
	for _, pw := range sidecartest.Passwords {
		secrets = append(secrets, pw)
	}
	for where, text := range map[string]string{"answers": seen.String(), "audit log": string(audit), "logs": sc.Logs()} {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("the %s contain the secret %q", where, s)
			}
		}
	}
}

func TestSidecarConfigCheckAndReload(t *testing.T) {
	bin := testenv.Binary(t, "license_sidecar")
	demo := filepath.Join(testenv.RepoRoot(), "deploy", "sidecar", "license_sidecar.yml")
	if out, err := exec.Command(bin, "--config.check", "--config.file="+demo).CombinedOutput(); err != nil {
		t.Errorf("the demo config does not pass --config.check: %v\n%s", err, out)
	}
	base := sidecartest.Options{UpstreamURL: "http://127.0.0.1:1/v1"}
	withProxy := base
	withProxy.Extra = "auth:\n  proxy:\n    user_header: X-User\n    trusted_cidrs: [10.0.0.300/8]\n"
	for _, c := range []struct{ yaml, want string }{
		{strings.Replace(sidecartest.Config(base, "-"), "users:\n", "users:\n  eve: [root]\n", 1), `users.eve: undefined role "root"`},
		{strings.Replace(sidecartest.Config(base, "-"), "[view_monitor]", "[view_monitor, terminate_everything]", 1), `unknown permission "terminate_everything"`},
		{sidecartest.Config(withProxy, "-"), `trusted_cidrs[0]: "10.0.0.300/8" is not a CIDR`},
	} {
		p := testenv.WriteFile(t, "bad.yml", c.yaml)
		out, err := exec.Command(bin, "--config.check", "--config.file="+p).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), c.want) {
			t.Errorf("--config.check: %v, output %q; want exit 1 naming %q", err, out, c.want)
		}
	}

	// SIGHUP: a bad file is refused and the old config stays; a good one
	// takes effect.
	r := startSidecarRig(t, sidecartest.Options{})
	carol := r.pinned(t, "carol@acme.example", "WS-CAROL")
	good, err := os.ReadFile(r.sc.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	write := func(s string) {
		if err := os.WriteFile(r.sc.ConfigPath, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := r.sc.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	write(string(good) + "unknown_key: 1\n")
	testenv.Eventually(t, 45*time.Second, 50*time.Millisecond, func() error {
		if !strings.Contains(r.sc.Logs(), `unknown key`) {
			return errors.New("no reload error logged yet")
		}
		return nil
	})
	if status, _ := r.sc.Terminate(t, "bob", carol); status != http.StatusForbidden {
		t.Fatalf("after a refused reload: %d, want 403", status)
	}
	write(strings.Replace(string(good), "  bob: [license_monitor]", "  bob: [account_administrator]", 1))
	testenv.Eventually(t, 45*time.Second, 50*time.Millisecond, func() error {
		if v := r.sc.Monitor(t, "bob", ""); !v.CanTerminateOthers {
			return errors.New("bob not promoted yet")
		}
		return nil
	})
	if status, body := r.sc.Terminate(t, "bob", carol); status != http.StatusOK {
		t.Fatalf("after promoting bob: %d %s", status, body)
	}
}
