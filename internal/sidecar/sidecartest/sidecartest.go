// Package sidecartest starts the built license_sidecar for end-to-end and
// browser tests, with the demo users of deploy/sidecar (admin, bob,
// nobody) and an audit log file the test can read.
package sidecartest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/sidecar"
	"github.com/license-monitor/license-monitor/internal/testenv"
)

// Passwords of the demo users in deploy/sidecar/web-config.yml.
var Passwords = map[string]string{
	"admin":  "demo-admin-pass",
	"bob":    "demo-bob-pass",
	"nobody": "demo-nobody-pass",
}

// Options shape the sidecar's config; the roles and users are the demo's.
type Options struct {
	UpstreamURL   string // the simulator's API base
	TokenFile     string // bearer token file for upstream; "" for none
	DryRun        bool
	RateLimit     int           // terminate requests per hour per identity; 0: 1000
	MinSessionAge time.Duration // 0: none
	Extra         string        // more top-level YAML, e.g. an auth block
	Users         []string      // more account administrators, beside the demo users
	AuditLog      string        // audit_log; "": a file in the test's directory
	WebConfig     string        // --web.config.file; "": deploy/sidecar/web-config.yml
	// Sources replaces the source block built from UpstreamURL: a whole
	// `sources:` list, YAML lines.
	Sources string
	// Aliases replaces user_aliases' entries (YAML lines indented by two);
	// "": bob is bob@acme.example.
	Aliases string
}

// Sidecar is a running license_sidecar.
type Sidecar struct {
	*testenv.Process
	AuditPath  string
	ConfigPath string
}

// Config is the sidecar config for o: the demo's roles and users.
func Config(o Options, auditPath string) string {
	var b strings.Builder
	if o.Sources != "" {
		b.WriteString(o.Sources)
	} else {
		fmt.Fprintf(&b, "source:\n  name: acme\n  type: csi\n  url: %q\n  timeout: 5s\n", o.UpstreamURL)
	}
	if o.TokenFile != "" && o.Sources == "" {
		fmt.Fprintf(&b, "  http_client_config:\n    authorization:\n      type: Bearer\n      credentials_file: %s\n", o.TokenFile)
	}
	moreUsers := ""
	for _, u := range o.Users {
		moreUsers += fmt.Sprintf("  %q: [account_administrator]\n", u)
	}
	rl := o.RateLimit
	if rl == 0 {
		rl = 1000
	}
	aliases := o.Aliases
	if aliases == "" {
		aliases = "  bob: bob@acme.example\n"
	}
	fmt.Fprintf(&b, `roles:
  account_administrator: [view_monitor, terminate_sessions]
  license_monitor: [view_monitor]
users:
  admin: [account_administrator]
  bob: [license_monitor]
  nobody: []
%sdefault_roles: []
user_aliases:
%saudit_log: %q
terminate:
  dry_run: %v
  min_session_age: %s
  rate_limit: {requests: %d, interval: 1h}
%s`, moreUsers, aliases, auditPath, o.DryRun, o.MinSessionAge, rl, o.Extra)
	return b.String()
}

// Start runs the built sidecar with the demo web config on a free port
// and waits until it is ready.
func Start(t testing.TB, o Options, args ...string) *Sidecar {
	t.Helper()
	dir := t.TempDir()
	s := &Sidecar{AuditPath: filepath.Join(dir, "audit.log"), ConfigPath: filepath.Join(dir, "license_sidecar.yml")}
	if o.AuditLog != "" {
		s.AuditPath = o.AuditLog
	}
	if err := os.WriteFile(s.ConfigPath, []byte(Config(o, s.AuditPath)), 0o600); err != nil {
		t.Fatal(err)
	}
	webCfg := o.WebConfig
	if webCfg == "" {
		webCfg = filepath.Join(testenv.RepoRoot(), "deploy", "sidecar", "web-config.yml")
	}
	addr := testenv.FreeAddr(t)
	s.Process = testenv.Start(t, addr, testenv.Binary(t, "license_sidecar"),
		append([]string{"--config.file=" + s.ConfigPath, "--web.config.file=" + webCfg, "--web.listen-address=" + addr}, args...)...)
	// Basic auth covers every path, /-/ready too.
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		if s.Exited() {
			t.Fatalf("license_sidecar exited:\n%s", s.Logs())
		}
		status, _, _, err := s.Request("admin", http.MethodGet, "/-/ready", nil)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("/-/ready: %d", status)
		}
		return nil
	})
	return s
}

// Request sends one request as user ("" for none) and returns the answer.
func (s *Sidecar) Request(user, method, path string, hdr map[string]string) (int, string, http.Header, error) {
	req, err := http.NewRequest(method, s.URL(path), nil)
	if err != nil {
		return 0, "", nil, err
	}
	if user != "" {
		req.SetBasicAuth(user, Passwords[user])
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header, err
}

// Do is Request that fails the test on a transport error.
func (s *Sidecar) Do(t testing.TB, user, method, path string, hdr map[string]string) (int, string) {
	t.Helper()
	status, body, _, err := s.Request(user, method, path, hdr)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return status, body
}

// Terminate POSTs a terminate request for session id as user.
func (s *Sidecar) Terminate(t testing.TB, user, id string) (int, string) {
	t.Helper()
	return s.Do(t, user, http.MethodPost, "/api/v1/sessions/"+id+"/terminate", nil)
}

// TerminateIn POSTs a terminate request for session id of source src as
// user, on the path that names the source.
func (s *Sidecar) TerminateIn(t testing.TB, user, src, id string) (int, string) {
	t.Helper()
	return s.Do(t, user, http.MethodPost, "/api/v1/sources/"+src+"/sessions/"+id+"/terminate", nil)
}

// Monitor reads GET /api/v1/monitor as user.
func (s *Sidecar) Monitor(t testing.TB, user, query string) sidecar.MonitorView {
	t.Helper()
	status, body := s.Do(t, user, http.MethodGet, "/api/v1/monitor"+query, nil)
	if status != http.StatusOK {
		t.Fatalf("monitor as %s: %d %s", user, status, body)
	}
	var v sidecar.MonitorView
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Audit reads the audit log, one record per line.
func (s *Sidecar) Audit(t testing.TB) []sidecar.AuditRecord {
	t.Helper()
	b, err := os.ReadFile(s.AuditPath)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []sidecar.AuditRecord
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var rec sidecar.AuditRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// LastAudit is the newest audit record.
func (s *Sidecar) LastAudit(t testing.TB) sidecar.AuditRecord {
	t.Helper()
	recs := s.Audit(t)
	if len(recs) == 0 {
		t.Fatal("the audit log is empty")
	}
	return recs[len(recs)-1]
}
