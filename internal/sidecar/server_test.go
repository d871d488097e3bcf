package sidecar

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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

func TestMonitorJSON(t *testing.T) {
	up := newFakeUpstream(t)
	ts := startSidecar(t, up, "", true)
	get := func(c caller, path string) (int, MonitorView) {
		ans := ts.do(t, c, http.MethodGet, path, nil, nil)
		var v MonitorView
		if ans.status == http.StatusOK {
			if err := json.Unmarshal([]byte(ans.body), &v); err != nil {
				t.Fatal(err)
			}
		}
		return ans.status, v
	}
	status, v := get(bob, "/api/v1/monitor")
	if status != http.StatusOK {
		t.Fatalf("bob: %d", status)
	}
	if v.Identity != "bob" || v.CanTerminateOthers || len(v.Sessions) != len(owners)*len(kinds) {
		t.Errorf("view: identity %q others %v, %d sessions", v.Identity, v.CanTerminateOthers, len(v.Sessions))
	}
	wantProducts := []ProductView{{"ETABS", 15, 9, 1}, {"SAFE", 4, 4, 0}}
	if !slices.Equal(v.Products, wantProducts) {
		t.Errorf("products %+v, want %+v", v.Products, wantProducts)
	}
	if len(v.Licenses) != 3 || v.Licenses[2].Type != "cloud_key" || v.Licenses[0].Issued != 10 {
		t.Errorf("licenses %+v", v.Licenses)
	}
	want := map[string]string{ // session -> "" (may terminate) or why not
		sessionID("bob@acme.example", kindSignIn):       "",
		sessionID("bob@acme.example", kindCheckedOut):   WhyCheckedOut,
		sessionID("bob@acme.example", kindCloudKey):     WhyNotCloudSignIn,
		sessionID("bob@acme.example", kindYoung):        WhyTooYoung,
		sessionID("carol@acme.example", kindSignIn):     WhyNotYours,
		sessionID("carol@acme.example", kindCheckedOut): WhyCheckedOut,
	}
	for _, s := range v.Sessions {
		w, ok := want[s.ID]
		if !ok {
			continue
		}
		delete(want, s.ID)
		if s.CanTerminate != (w == "") || s.NotTerminable != w {
			t.Errorf("%s: can_terminate %v why %q, want why %q", s.ID, s.CanTerminate, s.NotTerminable, w)
		}
		if s.ID == sessionID("bob@acme.example", kindCheckedOut) && (!s.CheckedOut || s.Product != "ETABS" || s.Edition != "Plus" || s.Host != "WS-01") {
			t.Errorf("session fields: %+v", s)
		}
	}
	if len(want) != 0 {
		t.Errorf("sessions missing from the view: %v", want)
	}

	// ?user= filters, case-insensitively.
	if _, v := get(admin, "/api/v1/monitor?user=CAROL@acme.example"); len(v.Sessions) != len(kinds) || !v.CanTerminateOthers || v.UserFilter == "" {
		t.Errorf("filtered view: %d sessions", len(v.Sessions))
	} else {
		for _, s := range v.Sessions {
			if s.User != "carol@acme.example" {
				t.Errorf("filter let %s through", s.User)
			}
		}
	}
	if status, _ := get(nobody, "/api/v1/monitor"); status != http.StatusForbidden {
		t.Errorf("nobody: %d, want 403", status)
	}
	if status, _ := get(caller{}, "/api/v1/monitor"); status != http.StatusUnauthorized {
		t.Errorf("anonymous: %d, want 401", status)
	}
}

var (
	buttonRE = regexp.MustCompile(`data-terminate="([^"]+)"`)
	rowRE    = regexp.MustCompile(`^"([^"]+)"`)
	whyRE    = regexp.MustCompile(`data-why="([^"]*)">([^<]*)<`)
)

func TestPage(t *testing.T) {
	up := newFakeUpstream(t)
	ts := startSidecar(t, up, "", true)
	ans := ts.do(t, bob, http.MethodGet, "/", nil, nil)
	if ans.status != http.StatusOK || !strings.HasPrefix(ans.header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", ans.status, ans.header.Get("Content-Type"))
	}
	if csp := ans.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	var buttons []string
	for _, m := range buttonRE.FindAllStringSubmatch(ans.body, -1) {
		buttons = append(buttons, m[1])
	}
	if want := []string{sessionID("bob@acme.example", kindSignIn)}; !slices.Equal(buttons, want) {
		t.Errorf("bob's Terminate buttons %v, want %v", buttons, want)
	}
	whys := rowReasons(ans.body)
	for id, text := range map[string]string{
		sessionID("bob@acme.example", kindCheckedOut): "Checked out",
		sessionID("bob@acme.example", kindCloudKey):   "Not Cloud Sign-in",
		sessionID("carol@acme.example", kindSignIn):   "Not yours",
	} {
		if whys[id] != text {
			t.Errorf("%s shows %q, want %q", id, whys[id], text)
		}
	}
	for _, need := range []string{`<th scope="col">User</th>`, `<meter`, `<label for="gauge-0">ETABS</label>`, `role="status"`, `<dialog id="confirm"`} {
		if !strings.Contains(ans.body, need) {
			t.Errorf("page lacks %s", need)
		}
	}

	adminPage := ts.do(t, admin, http.MethodGet, "/?user=carol@acme.example", nil, nil)
	buttons = buttons[:0]
	for _, m := range buttonRE.FindAllStringSubmatch(adminPage.body, -1) {
		buttons = append(buttons, m[1])
	}
	if want := []string{sessionID("carol@acme.example", kindSignIn)}; !slices.Equal(buttons, want) {
		t.Errorf("admin's buttons for carol %v, want %v", buttons, want)
	}
	if strings.Contains(adminPage.body, "bob@acme.example") {
		t.Error("?user=carol shows bob's sessions")
	}

	if ans := ts.do(t, nobody, http.MethodGet, "/", nil, nil); ans.status != http.StatusForbidden || !strings.Contains(ans.body, "view_monitor") {
		t.Errorf("nobody's page: %d", ans.status)
	}
	for _, asset := range []string{"/static/app.js", "/static/style.css"} {
		if ans := ts.do(t, bob, http.MethodGet, asset, nil, nil); ans.status != http.StatusOK || len(ans.body) < 100 {
			t.Errorf("%s: %d", asset, ans.status)
		}
	}
}

// rowReasons maps each table row's session to the reason it shows in place
// of a Terminate button.
func rowReasons(page string) map[string]string {
	out := map[string]string{}
	for _, row := range strings.Split(page, "<tr data-session-id=")[1:] {
		row = row[:strings.Index(row, "</tr>")]
		id := rowRE.FindStringSubmatch(row)
		if m := whyRE.FindStringSubmatch(row); id != nil && m != nil {
			out[id[1]] = m[2]
		}
	}
	return out
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
