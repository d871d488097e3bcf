package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/crypto/bcrypt"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/internal/testenv"
	"github.com/license-monitor/license-monitor/source"
	"github.com/license-monitor/license-monitor/source/csi"
)

// Secrets the tests hand to the sidecar and then look for everywhere.
const (
	upstreamToken = "tok-upstream-5f1e9c0d"
	linkKey       = "linkkey-77ab31"
)

// passwords of the basic-auth users in the test web config.
var passwords = map[string]string{
	"admin":  "pw-admin-Zq81",
	"bob":    "pw-bob-Lm22",
	"nobody": "pw-nobody-Xc93",
	"proxy":  "pw-proxy-Rt55",
}

// testNow is the sidecar's clock in these tests; session ages are relative to it.
var testNow = time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC)

// Session kinds in the fake upstream, one of each per owner.
const (
	kindSignIn     = "signin"
	kindCheckedOut = "checkedout"
	kindCloudKey   = "cloudkey"
	kindYoung      = "young"
)

var kinds = []string{kindSignIn, kindCheckedOut, kindCloudKey, kindYoung}

var owners = []string{"admin@acme.example", "bob@acme.example", "nobody@acme.example", "carol@acme.example"}

func sessionID(owner, kind string) string {
	return "S-" + strings.SplitN(owner, "@", 2)[0] + "-" + kind
}

// fakeUpstream speaks docs/upstream-api.md over real HTTP on loopback, using
// the project's wire types, and records every call. It requires the
// bearer token and the link key, as a real secret link would.
type fakeUpstream struct {
	*httptest.Server
	mu            sync.Mutex
	sessions      []csi.SessionDoc
	terminates    []string
	reads         int
	terminateCode int           // 0: 202; else this status
	terminateWait chan struct{} // non-nil: hold terminate until closed or the caller gives up
}

func newFakeUpstream(t *testing.T) *fakeUpstream {
	f := &fakeUpstream{}
	f.reset()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/licenses", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.reads++
		f.mu.Unlock()
		doc := csi.LicensesDoc{
			Account:     csi.AccountDoc{ID: "A-1", Name: "Acme Engineering"},
			GeneratedAt: testNow.Format(time.RFC3339),
			Licenses: []csi.LicenseDoc{
				{ID: "L-ETABS", Product: "ETABS", Edition: "Ultimate", Type: csi.TypeCloudSignIn, Seats: csi.Int64(10), InUse: csi.Int64(7), CheckedOut: 1},
				{ID: "L-ETABS-PLUS", Product: "ETABS", Edition: "Plus", Type: csi.TypeCloudSignIn, Seats: csi.Int64(5), InUse: csi.Int64(2)},
				{ID: "L-SAFE", Product: "SAFE", Edition: "Standard", Type: csi.TypeCloudKey, Seats: csi.Int64(4), InUse: csi.Int64(4)},
			},
		}
		_ = json.NewEncoder(w).Encode(doc)
	})
	mux.HandleFunc("GET /api/v1/sessions", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		doc := csi.SessionsDoc{Sessions: append([]csi.SessionDoc(nil), f.sessions...)}
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(doc)
	})
	mux.HandleFunc("POST /api/v1/sessions/{id}/terminate", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		f.mu.Lock()
		f.terminates = append(f.terminates, id)
		code, wait := f.terminateCode, f.terminateWait
		f.mu.Unlock()
		if wait != nil {
			select {
			case <-wait:
			case <-r.Context().Done():
				return
			}
		}
		if code != 0 {
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(csi.ErrorDoc{Error: csi.ErrorDetail{Code: "boom", Message: "injected"}})
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		for i, s := range f.sessions {
			if s.ID == id {
				f.sessions = append(f.sessions[:i], f.sessions[i+1:]...)
				w.WriteHeader(http.StatusAccepted)
				_ = json.NewEncoder(w).Encode(csi.TerminateDoc{SessionID: id, Status: csi.TerminateStatusTerminating})
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(csi.ErrorDoc{Error: csi.ErrorDetail{Code: "not_found", Message: "no such session"}})
	})
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+upstreamToken || r.URL.Query().Get("key") != linkKey {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

// reset restores one session of every kind for every owner and forgets
// the calls.
func (f *fakeUpstream) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sessions = nil
	f.terminates = nil
	f.reads = 0
	f.terminateCode = 0
	f.terminateWait = nil
	for i, o := range owners {
		host := fmt.Sprintf("WS-%02d", i)
		old := testNow.Add(-2 * time.Hour).Format(time.RFC3339)
		f.sessions = append(f.sessions,
			csi.SessionDoc{ID: sessionID(o, kindSignIn), LicenseID: "L-ETABS", User: o, Host: host, StartedAt: old},
			csi.SessionDoc{ID: sessionID(o, kindCheckedOut), LicenseID: "L-ETABS-PLUS", User: o, Host: host, StartedAt: old, CheckedOut: true,
				CheckoutExpiresAt: csi.String(testNow.Add(72 * time.Hour).Format(time.RFC3339))},
			csi.SessionDoc{ID: sessionID(o, kindCloudKey), LicenseID: "L-SAFE", User: o, Host: host, StartedAt: old},
			csi.SessionDoc{ID: sessionID(o, kindYoung), LicenseID: "L-ETABS", User: o, Host: host, StartedAt: testNow.Add(-time.Minute).Format(time.RFC3339)},
		)
	}
}

func (f *fakeUpstream) calls() (terminates []string, reads int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.terminates...), f.reads
}

func (f *fakeUpstream) has(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.sessions {
		if s.ID == id {
			return true
		}
	}
	return false
}

// testSidecar is a Server behind exporter-toolkit's web.Serve on a
// loopback port, served as cmd/license_sidecar serves it.
type testSidecar struct {
	*Server
	URL   string
	audit *testenv.LockedBuffer
	logs  *testenv.LockedBuffer
	dir   string
}

// sidecarYAML is the table's config; extra is appended (YAML lines).
func sidecarYAML(up *fakeUpstream, tokenFile string, extra string) string {
	return fmt.Sprintf(`source:
  name: acme
  type: csi
  url: %q
  timeout: 2s
  http_client_config:
    authorization:
      type: Bearer
      credentials_file: %s
auth:
  proxy:
    user_header: X-Forwarded-Email
    groups_header: X-Forwarded-Groups
    trusted_cidrs: [127.0.0.1/32]
roles:
  account_administrator: [view_monitor, terminate_sessions]
  license_monitor: [view_monitor]
  nothing: []
users:
  admin: [account_administrator]
  bob: [license_monitor]
  nobody: [nothing]
  bob@acme.example: [license_monitor]
groups:
  license-admins: [account_administrator]
user_aliases:
  admin: admin@acme.example
  bob: bob@acme.example
  nobody: nobody@acme.example
audit_log: "-"
terminate:
  min_session_age: 5m
  rate_limit: {requests: 1000, interval: 1m}
%s`, up.URL+"/api/v1?key="+linkKey, tokenFile, extra)
}

// startSidecar serves cfgYAML. basicAuth picks a web config with bcrypt
// users (basic auth on) or an empty one (proxy only).
func startSidecar(t *testing.T, up *fakeUpstream, extra string, basicAuth bool) *testSidecar {
	t.Helper()
	return startSidecarYAML(t, func(tokenFile string) string { return sidecarYAML(up, tokenFile, extra) }, basicAuth)
}

// startSidecarYAML serves the config that yaml makes, given the file that
// holds the upstream token.
func startSidecarYAML(t *testing.T, yaml func(tokenFile string) string, basicAuth bool) *testSidecar {
	t.Helper()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "upstream.token")
	if err := os.WriteFile(tokenFile, []byte(upstreamToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	var wb strings.Builder
	if basicAuth {
		wb.WriteString("basic_auth_users:\n")
		for _, u := range []string{"admin", "bob", "nobody", "proxy"} {
			h, err := bcrypt.GenerateFromPassword([]byte(passwords[u]), bcrypt.MinCost)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&wb, "  %s: %s\n", u, h)
		}
	}
	if err := os.WriteFile(webCfg, []byte(wb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadSidecar([]byte(yaml(tokenFile)), dir)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testSidecar{audit: &testenv.LockedBuffer{}, logs: &testenv.LockedBuffer{}, dir: dir}
	logger := slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts.Server, err = New(cfg, Options{WebConfigFile: webCfg, Logger: logger, Stdout: ts.audit, Now: func() time.Time { return testNow }, UserAgent: "license_sidecar/test"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.URL = "http://" + l.Addr().String()
	srv := &http.Server{Handler: ts.Handler(), ReadHeaderTimeout: 5 * time.Second}
	noSocket := false
	toolkitCfg := ts.ToolkitWebConfigFile()
	flags := &web.FlagConfig{WebListenAddresses: &[]string{}, WebSystemdSocket: &noSocket, WebConfigFile: &toolkitCfg}
	done := make(chan error, 1)
	go func() { done <- web.Serve(l, srv, flags, logger) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		_ = ts.Close()
	})
	return ts
}

// caller is how a test request identifies itself.
type caller struct {
	basicUser string // basic auth user, with its password from passwords
	proxyUser string // X-Forwarded-Email
	groups    []string
	fromAddr  string // local address to dial from; "" is 127.0.0.1
}

// answer is a response with its body read.
type answer struct {
	status int
	header http.Header
	body   string
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(a.body), &m); err != nil {
		t.Fatalf("body is not JSON: %v: %q", err, a.body)
	}
	return m
}

// do sends one request as c, on a fresh connection from c.fromAddr.
func (ts *testSidecar) do(t *testing.T, c caller, method, path string, body io.Reader, hdr map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.basicUser != "" {
		req.SetBasicAuth(c.basicUser, passwords[c.basicUser])
	}
	if c.proxyUser != "" {
		req.Header.Set("X-Forwarded-Email", c.proxyUser)
	}
	for _, g := range c.groups {
		req.Header.Add("X-Forwarded-Groups", g)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	from := c.fromAddr
	if from == "" {
		from = "127.0.0.1"
	}
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (ts *testSidecar) terminate(t *testing.T, c caller, id string) answer {
	t.Helper()
	return ts.do(t, c, http.MethodPost, "/api/v1/sessions/"+id+"/terminate", nil, nil)
}

// auditLines decodes every audit line so far (decodeAudit).
func (ts *testSidecar) auditLines(t *testing.T) []AuditRecord {
	t.Helper()
	return decodeAudit(t, ts.audit.String())
}

func (ts *testSidecar) lastAudit(t *testing.T) (AuditRecord, int) {
	t.Helper()
	lines := ts.auditLines(t)
	if len(lines) == 0 {
		t.Fatal("no audit line")
	}
	return lines[len(lines)-1], len(lines)
}

// mustConfig builds a config like startSidecar's, with extra YAML.
func mustConfig(t *testing.T, up *fakeUpstream, ts *testSidecar, extra string) *config.Sidecar {
	t.Helper()
	y := sidecarYAML(up, filepath.Join(ts.dir, "upstream.token"), "")
	// The base config already has a terminate block: replace it.
	y = y[:strings.Index(y, "terminate:")] + extra
	cfg, err := config.LoadSidecar([]byte(y), ts.dir)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// testPolicy is cfg's policy, with its source's own terminate rule.
func testPolicy(tb testing.TB, cfg *config.Sidecar) *Policy {
	tb.Helper()
	srcs := map[string]source.Terminator{}
	for i := range cfg.Sources {
		src, err := newUpstream(&cfg.Sources[i], "license_sidecar/test")
		if err != nil {
			tb.Fatal(err)
		}
		srcs[cfg.Sources[i].Name] = src
	}
	return NewPolicy(cfg, srcs)
}
