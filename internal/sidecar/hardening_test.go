package sidecar

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/internal/testenv"
)

// failingWriter is an audit log on a full disk.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// handlerSidecar is a Server called in-process through its handler, with
// identities from the trusted proxy header and a clock the test moves.
type handlerSidecar struct {
	*Server
	mu  sync.Mutex
	now time.Time
}

func newHandlerSidecar(t *testing.T, up *fakeUpstream, stdout io.Writer, extra string) *handlerSidecar {
	t.Helper()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "upstream.token")
	if err := os.WriteFile(tokenFile, []byte(upstreamToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadSidecar([]byte(sidecarYAML(up, tokenFile, extra)), dir)
	if err != nil {
		t.Fatal(err)
	}
	hs := &handlerSidecar{now: testNow}
	hs.Server, err = New(cfg, Options{Stdout: stdout, Now: hs.clock, UserAgent: "license_sidecar/test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hs.Close() })
	return hs
}

func (hs *handlerSidecar) clock() time.Time {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.now
}

func (hs *handlerSidecar) advance(d time.Duration) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.now = hs.now.Add(d)
}

// post terminates id as the proxy user ("" for no identity).
func (hs *handlerSidecar) post(user, id string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/api/v1/sessions/"+id+"/terminate", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	if user != "" {
		r.Header.Set("X-Forwarded-Email", user)
	}
	w := httptest.NewRecorder()
	hs.Handler().ServeHTTP(w, r)
	return w
}

// decodeAudit decodes audit lines; each must be one AuditRecord of this
// schema, stamped in RFC 3339 UTC.
func decodeAudit(t *testing.T, text string) []AuditRecord {
	t.Helper()
	var out []AuditRecord
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if line == "" {
			continue
		}
		var rec AuditRecord
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if rec.Schema != AuditSchema {
			t.Errorf("audit line without schema %d: %s", AuditSchema, line)
		}
		tm, err := time.Parse(time.RFC3339Nano, rec.Time)
		if err != nil || tm.Location() != time.UTC || !strings.HasSuffix(rec.Time, "Z") {
			t.Fatalf("audit time %q is not RFC 3339 UTC", rec.Time)
		}
		out = append(out, rec)
	}
	return out
}

// An allowed terminate whose attempt line cannot be written is refused
// with 503, and upstream never hears of it.
func TestAttemptWriteFailureBlocksTerminate(t *testing.T) {
	up := newFakeUpstream(t)
	hs := newHandlerSidecar(t, up, failingWriter{}, "")
	id := sessionID("carol@acme.example", kindSignIn)
	w := hs.post("admin", id)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", w.Code, w.Body)
	}
	if !strings.Contains(w.Body.String(), OutcomeAuditFailed) {
		t.Errorf("answer %s does not say %s", w.Body, OutcomeAuditFailed)
	}
	if terms, _ := up.calls(); len(terms) != 0 {
		t.Errorf("upstream terminate was called: %v", terms)
	}
	if !up.has(id) {
		t.Error("the session ended")
	}
	if n := testutil.ToFloat64(hs.terminations.WithLabelValues(OutcomeAuditFailed)); n != 1 {
		t.Errorf("terminations{outcome=audit_failed} = %g", n)
	}
	if n := testutil.ToFloat64(hs.auditFailures); n < 1 {
		t.Errorf("audit write failures = %g", n)
	}
}

// A file audit log gets the attempt line, synced, before upstream is
// called: the fake upstream reads the file when the call arrives.
func TestAttemptLineBeforeUpstreamCall(t *testing.T) {
	up := newFakeUpstream(t)
	path := filepath.Join(t.TempDir(), "audit.log")
	hs := newHandlerSidecar(t, up, io.Discard, "")
	if err := hs.audit.reopen(path, io.Discard); err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 1)
	up.mu.Lock()
	up.terminateWait = make(chan struct{})
	wait := up.terminateWait
	up.mu.Unlock()
	go func() {
		// Once the call has arrived (it is held until wait closes), the
		// log must already hold the attempt.
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if terms, _ := up.calls(); len(terms) > 0 {
				break
			}
		}
		b, _ := os.ReadFile(path)
		seen <- string(b)
		close(wait)
	}()
	id := sessionID("carol@acme.example", kindSignIn)
	if w := hs.post("admin", id); w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	before := decodeAudit(t, <-seen)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	after := decodeAudit(t, string(b))
	if len(before) < 1 || before[0].Phase != PhaseAttempt || before[0].Session != id {
		t.Fatalf("before the call the log held %+v, want the attempt", before)
	}
	if len(after) != 2 || after[1].Phase != PhaseOutcome || after[1].Outcome != OutcomeTerminated || after[1].RequestID != after[0].RequestID {
		t.Fatalf("after the call: %+v", after)
	}
}

// 2,000 refusals of one identity write one line per interval and reason,
// and the summaries account for every one of them.
func TestRefusalsCollapse(t *testing.T) {
	up := newFakeUpstream(t)
	buf := &testenv.LockedBuffer{}
	hs := newHandlerSidecar(t, up, buf, "")
	id := sessionID("carol@acme.example", kindSignIn)
	for i := range 2000 {
		if i == 1000 {
			hs.advance(time.Minute) // a new interval: the first half's summary, then a line
		}
		if w := hs.post("nobody", id); w.Code != http.StatusForbidden {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	// Unauthenticated requests collapse too, into lines without identity.
	for range 500 {
		if w := hs.post("", id); w.Code != http.StatusUnauthorized {
			t.Fatalf("unauthenticated: %d", w.Code)
		}
	}
	recs := decodeAudit(t, buf.String())
	if len(recs) != 4 {
		t.Fatalf("%d lines before the summaries are due, want 4: %+v", len(recs), recs)
	}
	// The first interval's summary: written by the next refusal, or by
	// the background flush if it came first.
	if s := recs[1:3]; !(s[0].Phase == PhaseSummary && s[0].Count == 999 && s[0].Since != "") &&
		!(s[1].Phase == PhaseSummary && s[1].Count == 999 && s[1].Since != "") {
		t.Errorf("lines %+v: want the summary of 999", s)
	}
	hs.advance(time.Minute)
	hs.flushSummaries(false)
	recs = decodeAudit(t, buf.String())
	counts := map[string]int{}
	for _, r := range recs {
		counts[r.Identity+"/"+r.Outcome] += r.Count
	}
	if counts["nobody/denied"] != 2000 || counts["/unauthenticated"] != 500 || len(recs) != 6 {
		t.Errorf("%d lines counting %v, want 6 lines counting 2000 and 500", len(recs), counts)
	}
	if n := testutil.ToFloat64(hs.terminations.WithLabelValues(OutcomeUnauthenticated)); n != 500 {
		t.Errorf("terminations{outcome=unauthenticated} = %g", n)
	}
}

// The rate limit is checked before anything else, so a caller over it
// reads nothing upstream and writes collapsed lines only.
func TestRateLimitFirst(t *testing.T) {
	up := newFakeUpstream(t)
	buf := &testenv.LockedBuffer{}
	hs := newHandlerSidecar(t, up, buf, "")
	cfg := hs.state.Load().cfg
	cfg2 := *cfg
	cfg2.Terminate.RateLimit.Requests = 2
	if err := hs.Reload(&cfg2); err != nil {
		t.Fatal(err)
	}
	id := sessionID("bob@acme.example", kindCheckedOut)
	for i := range 50 {
		w := hs.post("bob", id)
		want := http.StatusConflict
		if i >= 2 {
			want = http.StatusTooManyRequests
		}
		if w.Code != want {
			t.Fatalf("request %d: %d, want %d", i, w.Code, want)
		}
	}
	if _, reads := up.calls(); reads != 2 {
		t.Errorf("%d upstream reads, want 2", reads)
	}
	if recs := decodeAudit(t, buf.String()); len(recs) != 2 {
		t.Errorf("%d audit lines, want 2 (one not_terminable, one rate_limited): %+v", len(recs), recs)
	}
}

func TestStaticHasNoListing(t *testing.T) {
	h := staticHandler()
	for path, want := range map[string]int{"/static/": 404, "/static/app.js": 200, "/static/style.css": 200, "/static/nope.js": 404, "/static/./": 404} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != want {
			t.Errorf("GET %s: %d, want %d", path, w.Code, want)
		}
	}
}

// writeWebConfig writes a web config with one user, alice.
func writeWebConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("alice-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(p, []byte("basic_auth_users:\n  alice: "+string(h)+"\n"+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Wrong passwords answer 401, are counted, and are logged at most once
// per interval, with the user name but never the password.
func TestFailedLoginsCountedAndLogged(t *testing.T) {
	dir := t.TempDir()
	logs := &testenv.LockedBuffer{}
	var fails, throttled = newLoginMetrics()
	l, err := newLogin(writeWebConfig(t, dir, ""), slog.New(slog.NewTextHandler(logs, nil)), func() time.Time { return testNow }, fails, throttled)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	l.budget.configure(1000, time.Second) // the budget is TestLoginCheckBudget's
	h := l.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, verifiedUser(r)) }))
	send := func(user, pass string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.SetBasicAuth(user, pass)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := range 5 {
		if w := send("alice", "wrong-"+string(rune('a'+i))); w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") == "" {
			t.Fatalf("wrong password: %d", w.Code)
		}
	}
	if w := send("mallory", "alice-pass"); w.Code != http.StatusUnauthorized {
		t.Fatalf("unknown user: %d", w.Code)
	}
	if w := send("alice", "alice-pass"); w.Code != http.StatusOK || w.Body.String() != "alice" {
		t.Fatalf("right password: %d %q", w.Code, w.Body)
	}
	if n := testutil.ToFloat64(fails); n != 6 {
		t.Errorf("auth failures %g, want 6", n)
	}
	if n := strings.Count(logs.String(), "basic auth login refused"); n != 1 {
		t.Errorf("%d log lines for 6 failures in one interval, want 1:\n%s", n, logs)
	}
	if strings.Contains(logs.String(), "wrong-") || strings.Contains(logs.String(), "alice-pass") {
		t.Errorf("a password is in the log:\n%s", logs)
	}
	// A user removed from the file is refused at once, as with the toolkit.
	if err := os.WriteFile(filepath.Join(dir, "web.yml"), []byte("basic_auth_users:\n  bob: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if w := send("alice", "alice-pass"); w.Code != http.StatusUnauthorized {
		t.Errorf("removed user: %d", w.Code)
	}
}

// A client with its queue of password checks full gets 429 at once, and
// another client is not held behind it.
func TestLoginQueuePerClient(t *testing.T) {
	var fails, throttled = newLoginMetrics()
	l := &login{logger: slog.New(slog.DiscardHandler), now: time.Now, failures: fails, throttled: throttled,
		slots: make(chan struct{}, 2), budget: newLimiter(), good: map[[32]byte]struct{}{}, clients: map[netip.Addr]*clientGate{}}
	a, b := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1")
	for range loginQueuePerClient {
		if l.enter(a) == nil {
			t.Fatal("queue full too early")
		}
	}
	if l.enter(a) != nil {
		t.Error("a full queue let one more in")
	}
	if l.enter(b) == nil {
		t.Error("another client was held behind the first")
	}
	l.leave(b)
	for range loginQueuePerClient {
		l.leave(a)
	}
	if len(l.clients) != 0 {
		t.Errorf("idle clients stay in the map: %d", len(l.clients))
	}
}

// The copy exporter-toolkit gets has no users, absolute TLS paths and
// everything else as it was.
func TestToolkitConfig(t *testing.T) {
	raw := []byte(`tls_server_config:
  cert_file: certs/s.crt
  key_file: /abs/s.key
  min_version: TLS13
http_server_config:
  headers: {X-Frame-Options: deny}
basic_auth_users:
  alice: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi
`)
	out, err := toolkitConfig(raw, "/etc/sc")
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseWebConfig(out)
	if err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(c.Users) != 0 || c.TLSConfig.TLSCertPath != "/etc/sc/certs/s.crt" || c.TLSConfig.TLSKeyPath != "/abs/s.key" ||
		c.HTTPConfig.Header["X-Frame-Options"] != "deny" || c.TLSConfig.MinVersion == 0 {
		t.Errorf("toolkit config:\n%s", out)
	}
	if _, err := toolkitConfig([]byte("basic_auth_users: [x]\n"), "/"); err == nil {
		t.Error("a malformed web config was accepted")
	}
}

// FuzzToolkitConfig: whatever the web config, the copy for exporter-toolkit
// either is refused or parses as a web config without users and with
// absolute TLS paths.
func FuzzToolkitConfig(f *testing.F) {
	f.Add([]byte("basic_auth_users:\n  a: b\ntls_server_config:\n  cert_file: c\n  key_file: k\n"))
	f.Add([]byte("{}"))
	f.Add([]byte(""))
	f.Add([]byte("tls_server_config: {client_ca_file: ca, client_auth_type: RequireAndVerifyClientCert}\nrate_limit: {burst: 3, interval: 1s}\n"))
	f.Add([]byte("tls_server_config: 3\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := toolkitConfig(raw, "/etc/sc")
		if err != nil {
			return
		}
		c, err := parseWebConfig(out)
		if err != nil {
			t.Fatalf("the copy does not parse: %v\n%s", err, out)
		}
		if len(c.Users) != 0 {
			t.Fatalf("the copy keeps users:\n%s", out)
		}
		for _, p := range []string{c.TLSConfig.TLSCertPath, c.TLSConfig.TLSKeyPath, c.TLSConfig.ClientCAs} {
			if p != "" && !filepath.IsAbs(p) {
				t.Fatalf("relative TLS path %q in the copy", p)
			}
		}
		var in web.Config
		if yaml.UnmarshalStrict(raw, &in) == nil && in.HTTPConfig.HTTP2 != c.HTTPConfig.HTTP2 {
			t.Fatalf("http2 changed")
		}
	})
}

// One address gets loginChecksBurst password checks, then 429 without a
// check; a credential already found right still passes, and another
// address is not affected.
func TestLoginCheckBudget(t *testing.T) {
	fails, throttled := newLoginMetrics()
	l, err := newLogin(writeWebConfig(t, t.TempDir(), ""), slog.New(slog.DiscardHandler), func() time.Time { return testNow }, fails, throttled)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	l.tarpit = 0
	h := l.wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	send := func(from, pass string) int {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = from + ":5000"
		r.SetBasicAuth("alice", pass)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	if c := send("127.0.0.2", "alice-pass"); c != http.StatusOK {
		t.Fatalf("right password: %d", c)
	}
	for i := 1; i < loginChecksBurst; i++ {
		if c := send("127.0.0.2", "wrong"); c != http.StatusUnauthorized {
			t.Fatalf("check %d: %d, want 401", i, c)
		}
	}
	if c := send("127.0.0.2", "wrong"); c != http.StatusTooManyRequests {
		t.Errorf("past the budget: %d, want 429", c)
	}
	if n := testutil.ToFloat64(fails); n != loginChecksBurst-1 {
		t.Errorf("%g failures counted, want %d (the 429 is not a check)", n, loginChecksBurst-1)
	}
	if c := send("127.0.0.2", "alice-pass"); c != http.StatusOK {
		t.Errorf("a cached right password past the budget: %d", c)
	}
	if c := send("127.0.0.1", "wrong"); c != http.StatusUnauthorized {
		t.Errorf("another address: %d, want 401", c)
	}
	if n := testutil.ToFloat64(throttled); n != 1 {
		t.Errorf("throttled %g, want 1", n)
	}
}

// Every answer carries the security headers, the login check's 401 too.
func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	up := newFakeUpstream(t)
	ts := startSidecar(t, up, "", true)
	for _, c := range []struct {
		who  caller
		path string
		want int
	}{{caller{}, "/", http.StatusUnauthorized}, {admin, "/-/healthy", http.StatusOK}, {nobody, "/", http.StatusForbidden}} {
		ans := ts.do(t, c.who, http.MethodGet, c.path, nil, nil)
		if ans.status != c.want {
			t.Errorf("%s as %q: %d, want %d", c.path, c.who.basicUser, ans.status, c.want)
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Cache-Control": "no-store", "Referrer-Policy": "same-origin"} {
			if got := ans.header.Get(k); got != v {
				t.Errorf("%s as %q: %s %q, want %q", c.path, c.who.basicUser, k, got, v)
			}
		}
	}
}

// Rotation: after the file is moved, SIGHUP's reload reopens audit_log
// even when the new config file is refused.
func TestReloadReopensAuditLogWhenRefused(t *testing.T) {
	up := newFakeUpstream(t)
	hs := newHandlerSidecar(t, up, io.Discard, "")
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	if err := hs.audit.reopen(path, io.Discard); err != nil {
		t.Fatal(err)
	}
	id := sessionID("carol@acme.example", kindSignIn)
	hs.post("nobody", id)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("unknown_key: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := hs.ReloadFile(bad); err == nil {
		t.Fatal("a bad config was accepted")
	}
	hs.post("bob", id) // a refusal of another identity: written at once
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("audit_log was not reopened: %v", err)
	}
	if recs := decodeAudit(t, string(b)); len(recs) != 1 || recs[0].Identity != "bob" {
		t.Errorf("the new file holds %+v, want bob's line", recs)
	}
}
