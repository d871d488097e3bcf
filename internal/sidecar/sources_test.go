package sidecar

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/source"
)

// twoSourceYAML is the table's config with two CSI sources, acme and
// beta, each on its own fake upstream, and aliases replaced by aliases.
func twoSourceYAML(acme, beta *fakeUpstream, aliases string) func(string) string {
	return func(tokenFile string) string {
		base := sidecarYAML(acme, tokenFile, "")
		block := func(name string, up *fakeUpstream) string {
			return fmt.Sprintf(`  - name: %s
    type: csi
    url: %q
    timeout: 2s
    http_client_config:
      authorization:
        type: Bearer
        credentials_file: %s
`, name, up.URL+"/api/v1?key="+linkKey, tokenFile)
		}
		rest := base[strings.Index(base, "auth:"):]
		a, b := strings.Index(rest, "user_aliases:"), strings.Index(rest, "audit_log:")
		rest = rest[:a] + aliases + rest[b:]
		return "sources:\n" + block("acme", acme) + block("beta", beta) + rest
	}
}

func monitorOf(t *testing.T, ans answer) MonitorView {
	t.Helper()
	var v MonitorView
	if ans.status != http.StatusOK {
		t.Fatalf("monitor: %d %s", ans.status, ans.body)
	}
	if err := json.Unmarshal([]byte(ans.body), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Two sources: the view groups by source, in the config's order, and a
// filter narrows it to one.
func TestSeveralSourcesView(t *testing.T) {
	acme, beta := newFakeUpstream(t), newFakeUpstream(t)
	ts := startSidecarYAML(t, twoSourceYAML(acme, beta, "user_aliases:\n  bob: bob@acme.example\n"), true)

	v := monitorOf(t, ts.do(t, bob, http.MethodGet, "/api/v1/monitor", nil, nil))
	if len(v.Sources) != 2 || v.Sources[0].Name != "acme" || v.Sources[1].Name != "beta" || v.Sources[1].Type != "csi" ||
		v.Sources[0].Account != "Acme Engineering" || v.Account != "" {
		t.Fatalf("sources %+v, account %q", v.Sources, v.Account)
	}
	per := len(owners) * len(kinds)
	if len(v.Sessions) != 2*per {
		t.Fatalf("%d sessions, want %d", len(v.Sessions), 2*per)
	}
	for i, s := range v.Sessions {
		if want := []string{"acme", "beta"}[i/per]; s.Source != want || s.SourceType != "csi" {
			t.Fatalf("session %d (%s) of %q, want %q: not grouped by source", i, s.ID, s.Source, want)
		}
	}
	var products []string
	for _, p := range v.Products {
		products = append(products, p.Source+"/"+p.Product)
	}
	if want := []string{"acme/ETABS", "acme/SAFE", "beta/ETABS", "beta/SAFE"}; !slices.Equal(products, want) {
		t.Errorf("products %v, want %v", products, want)
	}
	if len(v.Licenses) != 6 || v.Licenses[3].Source != "beta" {
		t.Errorf("licenses %+v", v.Licenses)
	}

	f := monitorOf(t, ts.do(t, bob, http.MethodGet, "/api/v1/monitor?source=beta", nil, nil))
	if len(f.Sources) != 1 || f.Sources[0].Name != "beta" || len(f.Sessions) != per || f.SourceFilter != "beta" || f.Account != "Acme Engineering" {
		t.Errorf("?source=beta: %+v, %d sessions", f.Sources, len(f.Sessions))
	}
	if ans := ts.do(t, bob, http.MethodGet, "/api/v1/monitor?source=gamma", nil, nil); ans.status != http.StatusNotFound {
		t.Errorf("JSON of an unknown source: %d, want 404", ans.status)
	}
	// The page, reached from a dashboard whose exporter names its sources
	// otherwise, shows every source and says why.
	if ans := ts.do(t, bob, http.MethodGet, "/?source=gamma", nil, nil); ans.status != http.StatusOK ||
		!strings.Contains(ans.body, "No source of that name is configured here") || !strings.Contains(ans.body, `data-source="beta" data-source-type`) {
		t.Errorf("page of an unknown source: %d", ans.status)
	}
	if ans := ts.do(t, bob, http.MethodGet, "/?source=beta", nil, nil); strings.Contains(ans.body, `data-source="acme" data-source-type`) {
		t.Error("?source=beta shows acme's sessions")
	}

	page := ts.do(t, bob, http.MethodGet, "/", nil, nil)
	for _, need := range []string{
		`<tbody class="source-group" data-source="acme" data-source-type="csi">`,
		`<tbody class="source-group" data-source="beta" data-source-type="csi">`,
		`beta (csi): 16 sessions`,
		`data-terminate="` + sessionID("bob@acme.example", kindSignIn) + `" data-source="beta"`,
	} {
		if !strings.Contains(page.body, need) {
			t.Errorf("page lacks %s", need)
		}
	}
	if strings.Index(page.body, `data-source="acme" data-source-type`) > strings.Index(page.body, `data-source="beta" data-source-type`) {
		t.Error("the page's groups are not in the config's order")
	}
	for _, secret := range []string{upstreamToken, linkKey} {
		if strings.Contains(page.body, secret) || strings.Contains(ts.logs.String(), secret) {
			t.Errorf("%s leaked into the page or the logs", secret)
		}
	}
}

// One source down: the other is still shown, with the failure named;
// every source down is a 502.
func TestSeveralSourcesOneDown(t *testing.T) {
	acme, beta := newFakeUpstream(t), newFakeUpstream(t)
	ts := startSidecarYAML(t, twoSourceYAML(acme, beta, ""), true)
	beta.Close()
	v := monitorOf(t, ts.do(t, bob, http.MethodGet, "/api/v1/monitor", nil, nil))
	if len(v.Sources) != 2 || v.Sources[0].Error != "" || !strings.HasPrefix(v.Sources[1].Error, "cannot read the source: connection") ||
		len(v.Sessions) != len(owners)*len(kinds) {
		t.Errorf("sources %+v, %d sessions", v.Sources, len(v.Sessions))
	}
	page := ts.do(t, bob, http.MethodGet, "/", nil, nil)
	if page.status != http.StatusOK || !strings.Contains(page.body, "cannot read the source: connection") {
		t.Errorf("page %d does not name the failed source", page.status)
	}
	acme.Close()
	if ans := ts.do(t, bob, http.MethodGet, "/api/v1/monitor", nil, nil); ans.status != http.StatusBadGateway {
		t.Errorf("both down: %d, want 502", ans.status)
	}
}

// The terminate path names the source; the path without one is refused,
// naming the new one, once there are several, and nothing is read.
func TestSeveralSourcesTerminate(t *testing.T) {
	acme, beta := newFakeUpstream(t), newFakeUpstream(t)
	// bob is carol on beta, and himself (the identity "bob") elsewhere.
	ts := startSidecarYAML(t, twoSourceYAML(acme, beta, "user_aliases:\n  bob: {beta: [carol@acme.example, nobody@acme.example]}\n"), true)
	carol := sessionID("carol@acme.example", kindSignIn)

	ans := ts.do(t, bob, http.MethodPost, "/api/v1/sessions/"+carol+"/terminate", nil, nil)
	if ans.status != http.StatusBadRequest || ans.json(t)["outcome"] != OutcomeBadRequest ||
		!strings.Contains(ans.json(t)["reason"].(string), "POST /api/v1/sources/{source}/sessions/{id}/terminate") {
		t.Errorf("the path without a source: %d %s", ans.status, ans.body)
	}
	ans = ts.do(t, bob, http.MethodPost, "/api/v1/sources/gamma/sessions/"+carol+"/terminate", nil, nil)
	if ans.status != http.StatusNotFound || ans.json(t)["reason"] != "no such source" {
		t.Errorf("an unknown source: %d %s", ans.status, ans.body)
	}
	for _, up := range []*fakeUpstream{acme, beta} {
		if terms, reads := up.calls(); len(terms) != 0 || reads != 0 {
			t.Errorf("refused before reading, yet upstream saw %v and %d reads", terms, reads)
		}
	}
	if rec, _ := ts.lastAudit(t); rec.Source != "" || rec.Outcome != OutcomeNotFound {
		t.Errorf("audit of an unknown source: %+v", rec)
	}

	// On acme, carol's session is someone else's for bob.
	ans = ts.do(t, bob, http.MethodPost, "/api/v1/sources/acme/sessions/"+carol+"/terminate", nil, nil)
	if ans.status != http.StatusForbidden || ans.json(t)["why"] != WhyNotYours {
		t.Errorf("carol's session on acme: %d %s", ans.status, ans.body)
	}
	// On beta, bob's alias makes it his own.
	ans = ts.do(t, bob, http.MethodPost, "/api/v1/sources/beta/sessions/"+carol+"/terminate", nil, nil)
	if ans.status != http.StatusOK || ans.json(t)["outcome"] != OutcomeTerminated {
		t.Fatalf("carol's session on beta, as bob's alias: %d %s", ans.status, ans.body)
	}
	if terms, _ := beta.calls(); !slices.Equal(terms, []string{carol}) {
		t.Errorf("beta terminates %v", terms)
	}
	if terms, _ := acme.calls(); len(terms) != 0 {
		t.Errorf("acme terminates %v", terms)
	}
	lines := ts.auditLines(t)
	att, out := lines[len(lines)-2], lines[len(lines)-1]
	for _, rec := range []AuditRecord{att, out} {
		if rec.Source != "beta" || rec.SourceType != "csi" || rec.Schema != 3 || rec.Owner != "carol@acme.example" {
			t.Errorf("audit line %+v", rec)
		}
	}
	if att.Phase != PhaseAttempt || out.Outcome != OutcomeTerminated {
		t.Errorf("phases %q %q", att.Phase, out.Phase)
	}

	// The view agrees: bob may end carol's and nobody's beta sessions,
	// and none of acme's (his identity owns none there).
	v := monitorOf(t, ts.do(t, bob, http.MethodGet, "/api/v1/monitor", nil, nil))
	var can []string
	for _, s := range v.Sessions {
		if s.CanTerminate {
			can = append(can, s.Source+"/"+s.ID)
		}
	}
	if want := []string{"beta/" + sessionID("nobody@acme.example", kindSignIn)}; !slices.Equal(can, want) {
		t.Errorf("bob may terminate %v, want %v", can, want)
	}
}

// With one source, both paths work and the audit names the source.
func TestSingleSourceBothPaths(t *testing.T) {
	up := newFakeUpstream(t)
	ts := startSidecar(t, up, "", true)
	for _, path := range []string{
		"/api/v1/sessions/" + sessionID("bob@acme.example", kindSignIn) + "/terminate",
		"/api/v1/sources/acme/sessions/" + sessionID("admin@acme.example", kindSignIn) + "/terminate",
	} {
		ans := ts.do(t, admin, http.MethodPost, path, nil, nil)
		if ans.status != http.StatusOK {
			t.Errorf("%s: %d %s", path, ans.status, ans.body)
		}
		if rec, _ := ts.lastAudit(t); rec.Source != "acme" || rec.SourceType != "csi" || rec.Outcome != OutcomeTerminated {
			t.Errorf("%s: audit %+v", path, rec)
		}
	}
	if terms, _ := up.calls(); len(terms) != 2 {
		t.Errorf("terminates %v", terms)
	}
	// A cross-origin request on the new path is audited with its source.
	ans := ts.do(t, admin, http.MethodPost, "/api/v1/sources/acme/sessions/S-x/terminate", nil,
		map[string]string{"Sec-Fetch-Site": "cross-site"})
	if rec, _ := ts.lastAudit(t); ans.status != http.StatusForbidden || rec.Outcome != OutcomeCrossOrigin || rec.Source != "acme" || rec.Session != "S-x" {
		t.Errorf("cross-origin: %d, audit %+v", ans.status, rec)
	}
}

func TestSessionFromPath(t *testing.T) {
	for _, c := range []struct {
		path, src, id string
		ok            bool
	}{
		{"/api/v1/sessions/S-1/terminate", "", "S-1", true},
		{"/api/v1/sources/flex-a/sessions/S-1/terminate", "flex-a", "S-1", true},
		{"/api/v1/sources//sessions/S-1/terminate", "", "", false},
		{"/api/v1/sources/a/b/sessions/S-1/terminate", "", "", false},
		{"/api/v1/sessions//terminate", "", "", false},
		{"/api/v1/sessions/S-1/terminate/x", "", "", false},
		{"/api/v1/monitor", "", "", false},
	} {
		src, id, ok := sessionFromPath(c.path)
		if src != c.src || id != c.id || ok != c.ok {
			t.Errorf("%s: %q %q %v, want %q %q %v", c.path, src, id, ok, c.src, c.id, c.ok)
		}
	}
}

// The page's groups share the view's rows when they are in the sources'
// order, and still get every row of their source when they are not.
func TestPageGroups(t *testing.T) {
	rows := func(srcs ...string) []SessionView {
		var out []SessionView
		for i, s := range srcs {
			out = append(out, SessionView{Source: s, ID: fmt.Sprint(i)})
		}
		return out
	}
	ids := func(r []SessionView) string {
		var b strings.Builder
		for _, s := range r {
			b.WriteString(s.ID)
		}
		return b.String()
	}
	srcs := []SourceView{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	for _, c := range []struct {
		sessions []SessionView
		want     [3]string
	}{
		{rows("a", "a", "b", "b", "b"), [3]string{"01", "234", ""}},
		{rows("b", "a", "b", "c", "a"), [3]string{"14", "02", "3"}},
	} {
		p := newPageView(&MonitorView{Sources: srcs, Sessions: c.sessions})
		for i, g := range p.Groups {
			if got := ids(g.Rows); got != c.want[i] || g.Sessions != len(c.want[i]) {
				t.Errorf("%v: group %s has %q, want %q", c.sessions, g.Name, got, c.want[i])
			}
		}
	}
	v := &MonitorView{Sources: srcs[:1], Sessions: rows("a", "a")}
	if p := newPageView(v); &p.Groups[0].Rows[0] != &v.Sessions[0] {
		t.Error("the rows of a source in order are copied, not shared")
	}
}

// closingSource is a source type that counts its Close calls, as FlexLM's
// closes its denials_log.
type closingSource struct {
	Upstream
	closed *atomic.Int32
}

func (c closingSource) Close() error { c.closed.Add(1); return nil }

type closingConfig struct {
	Server string `yaml:"server"`
}

func (*closingConfig) Validate(string) error { return nil }

var closedSources atomic.Int32

func init() {
	source.Register("sidecartest-closing", source.Factory{
		NewConfig: func() source.Config { return &closingConfig{} },
		New: func(source.Config, source.Options) (source.Source, error) {
			return closingSource{closed: &closedSources}, nil
		},
	})
}

// A reload closes the sources it replaces, and Close the current ones,
// so a reload does not leak what they hold open.
func TestSourcesClosed(t *testing.T) {
	cfg, err := config.LoadSidecar([]byte("sources:\n  - {name: a, type: sidecartest-closing}\n  - {name: b, type: sidecartest-closing}\nroles: {r: [view_monitor]}\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	closedSources.Store(0)
	s, err := New(cfg, Options{Stdout: &strings.Builder{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if n := closedSources.Load(); n != 2 {
		t.Errorf("after a reload %d sources closed, want the 2 replaced", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := closedSources.Load(); n != 4 {
		t.Errorf("after Close %d sources closed, want 4", n)
	}
}
