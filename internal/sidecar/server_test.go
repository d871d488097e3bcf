package sidecar

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var (
	admin  = caller{basicUser: "admin"}
	bob    = caller{basicUser: "bob"}
	nobody = caller{basicUser: "nobody"}
)

// Without basic_auth_users the toolkit checks no password, so an
// Authorization header must not become an identity.
func TestUnverifiedBasicAuthIsNoIdentity(t *testing.T) {
	up := newFakeUpstream(t)
	ts := startSidecar(t, up, "", false)
	id := sessionID("carol@acme.example", kindSignIn)
	if ans := ts.terminate(t, admin, id); ans.status != http.StatusUnauthorized {
		t.Fatalf("got %d %s", ans.status, ans.body)
	}
	if ans := ts.do(t, admin, http.MethodGet, "/api/v1/monitor", nil, nil); ans.status != http.StatusUnauthorized {
		t.Fatalf("monitor: got %d", ans.status)
	}
	if terms, _ := up.calls(); len(terms) != 0 {
		t.Error("terminate called")
	}
}

func TestMetrics(t *testing.T) {
	up := newFakeUpstream(t)
	ts := startSidecar(t, up, "", true)
	ans := ts.do(t, admin, http.MethodGet, "/metrics", nil, nil)
	for _, o := range Outcomes {
		if !strings.Contains(ans.body, `license_sidecar_terminations_total{outcome="`+o+`"} 0`) {
			t.Errorf("outcome %s does not start at 0", o)
		}
	}
	for _, m := range []string{"license_sidecar_build_info{", "go_goroutines ", "process_cpu_seconds_total ", "license_sidecar_config_last_reload_successful 1"} {
		if !strings.Contains(ans.body, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	ts.terminate(t, admin, sessionID("carol@acme.example", kindSignIn))
	ts.terminate(t, bob, sessionID("carol@acme.example", kindSignIn))
	ans = ts.do(t, admin, http.MethodGet, "/metrics", nil, nil)
	for _, line := range []string{`license_sidecar_terminations_total{outcome="terminated"} 1`, `license_sidecar_terminations_total{outcome="not_found"} 1`} {
		if !strings.Contains(ans.body, line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}

func TestReload(t *testing.T) {
	up := newFakeUpstream(t)
	ts := startSidecar(t, up, "", true)
	// Promote bob; his terminate of carol's session is then allowed.
	cfg := mustConfig(t, up, ts, "terminate:\n  rate_limit: {requests: 100, interval: 1m}\n")
	cfg.Users["bob"] = []string{"account_administrator"}
	if err := ts.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if ans := ts.terminate(t, bob, sessionID("carol@acme.example", kindSignIn)); ans.status != http.StatusOK {
		t.Fatalf("after reload: %d", ans.status)
	}
	// A config file with a mistake is refused and the running one stays.
	bad := filepath.Join(ts.dir, "bad.yml")
	if err := os.WriteFile(bad, []byte(sidecarYAML(up, filepath.Join(ts.dir, "upstream.token"), "")+"users2: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.ReloadFile(bad); err == nil || !strings.Contains(err.Error(), `unknown key "users2"`) {
		t.Fatalf("bad reload: %v", err)
	}
	if m := ts.do(t, admin, http.MethodGet, "/metrics", nil, nil); !strings.Contains(m.body, "license_sidecar_config_last_reload_successful 0") {
		t.Error("config_last_reload_successful is not 0 after a refused reload")
	}
	up.reset()
	if ans := ts.terminate(t, bob, sessionID("carol@acme.example", kindSignIn)); ans.status != http.StatusOK {
		t.Errorf("the old config did not stay: %d", ans.status)
	}
}

func TestAuditLogFile(t *testing.T) {
	up := newFakeUpstream(t)
	ts := startSidecar(t, up, "", true)
	logPath := filepath.Join(ts.dir, "audit.log")
	cfg := mustConfig(t, up, ts, "")
	cfg.AuditLog = logPath
	if err := ts.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	ts.terminate(t, bob, sessionID("carol@acme.example", kindSignIn))
	// Rotation: move the file away; the next reload opens a new one.
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := ts.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	ts.terminate(t, bob, sessionID("bob@acme.example", kindCheckedOut))
	for _, f := range []struct{ path, outcome string }{{logPath + ".1", OutcomeDenied}, {logPath, OutcomeNotTerminable}} {
		b, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		var rec AuditRecord
		if err := json.Unmarshal(b, &rec); err != nil || rec.Outcome != f.outcome || strings.Count(string(b), "\n") != 1 {
			t.Errorf("%s: %q", f.path, b)
		}
		if st, _ := os.Stat(f.path); st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", f.path, st.Mode().Perm())
		}
	}
}

// Tokens, the link key and passwords never show in logs, the audit log,
// answers or metrics, whatever happens.
func TestSecretsNeverShown(t *testing.T) {
	up := newFakeUpstream(t)
	ts := startSidecar(t, up, "", true)
	var seen strings.Builder
	keep := func(a answer) {
		seen.WriteString(a.body)
		for k, vs := range a.header {
			seen.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
		}
	}
	for _, c := range []caller{admin, bob, nobody, {}} {
		keep(ts.do(t, c, http.MethodGet, "/", nil, nil))
		keep(ts.do(t, c, http.MethodGet, "/api/v1/monitor", nil, nil))
		for _, o := range owners {
			for _, k := range kinds {
				keep(ts.terminate(t, c, sessionID(o, k)))
			}
		}
	}
	up.mu.Lock()
	up.terminateCode = http.StatusUnauthorized
	up.mu.Unlock()
	keep(ts.terminate(t, admin, sessionID("carol@acme.example", kindSignIn)))
	up.Close()
	keep(ts.terminate(t, admin, sessionID("carol@acme.example", kindSignIn)))
	keep(ts.do(t, admin, http.MethodGet, "/", nil, nil))
	keep(ts.do(t, admin, http.MethodGet, "/metrics", nil, nil))

	everything := map[string]string{"answers": seen.String(), "audit log": ts.audit.String(), "logs": ts.logs.String()}
	if !strings.Contains(everything["audit log"], "upstream_error") {
		t.Fatal("the failure cases did not run")
	}
	for where, text := range everything {
		for _, secret := range append([]string{upstreamToken, linkKey, "key="}, passwords["admin"], passwords["bob"], passwords["nobody"]) {
			if strings.Contains(text, secret) {
				t.Errorf("%s contain the secret %q", where, secret)
			}
		}
	}
}
