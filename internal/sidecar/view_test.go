package sidecar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/source"
	"github.com/license-monitor/license-monitor/source/csi"
)

// A large account's page shows a bounded table and says so.
func TestPageRowCap(t *testing.T) {
	snap, p := bigSnapshot(maxPageRows+500), benchPolicyT(t)
	id := Identity{Name: "user1@acme.example", Source: SourceBasicAuth}
	g := p.GrantOf(id)
	v := buildView(oneSource(snap), p, id, &g, "", false, testNow)
	var buf bytes.Buffer
	if err := pageTmpl.ExecuteTemplate(&buf, "index.html", newPageView(v)); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "<tr data-session-id="); n != maxPageRows {
		t.Errorf("%d rows, want %d", n, maxPageRows)
	}
	if !strings.Contains(buf.String(), "1500 sessions, the first 1000 shown") {
		t.Error("the caption does not say rows are hidden")
	}
	if len(v.Sessions) != maxPageRows+500 {
		t.Errorf("the JSON view lost sessions: %d", len(v.Sessions))
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
	wantProducts := []ProductView{{"acme", "ETABS", 15, 9, 1}, {"acme", "SAFE", 4, 4, 0}}
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

	// ?user= filters on the exact name.
	if _, v := get(admin, "/api/v1/monitor?user=CAROL@acme.example"); len(v.Sessions) != 0 {
		t.Errorf("?user= folded case: %d sessions for CAROL@acme.example", len(v.Sessions))
	}
	if _, v := get(admin, "/api/v1/monitor?user=carol@acme.example"); len(v.Sessions) != len(kinds) || !v.CanTerminateOthers || v.UserFilter == "" {
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
	for _, need := range []string{`<th scope="col">User</th>`, `<meter`, `<label for="gauge-0-0">ETABS</label>`, `role="status"`, `<dialog id="confirm"`} {
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

// bigSnapshot is an account the size of the simulator's large tier.
func bigSnapshot(sessions int) *source.Snapshot {
	snap := &source.Snapshot{AccountName: "Acme", GeneratedAt: testNow}
	types := []string{csi.TypeCloudSignIn, csi.TypeCloudKey, csi.TypeNetwork, csi.TypeStandalone}
	for i := 0; i < 500; i++ {
		snap.Licenses = append(snap.Licenses, source.License{
			ID: fmt.Sprintf("L-%d", i), Product: fmt.Sprintf("P%d", i%8), Edition: "Ultimate",
			Type: types[i%len(types)], Seats: 50, InUse: 40,
		})
	}
	for i := 0; i < sessions; i++ {
		snap.Sessions = append(snap.Sessions, source.Session{
			ID: fmt.Sprintf("S-%d", i), LicenseID: fmt.Sprintf("L-%d", i%500),
			User: fmt.Sprintf("user%d@acme.example", i%10000), Host: fmt.Sprintf("WS-%06d", i),
			StartedAt: testNow.Add(-time.Duration(i) * time.Second), CheckedOut: i%17 == 0,
		})
	}
	return snap
}

// oneSource is snap as the only source, "a", of the test configs.
func oneSource(snap *source.Snapshot) []sourceSnap {
	return []sourceSnap{{name: "a", typ: "csi", snap: snap}}
}

func benchPolicy(b *testing.B) *Policy { return benchPolicyT(b) }

func benchPolicyT(tb testing.TB) *Policy {
	cfg, err := config.LoadSidecar([]byte(`source: {name: a, type: csi, url: "http://127.0.0.1:1/x"}
roles: {admin: [view_monitor, terminate_sessions]}
default_roles: [admin]
`), "")
	if err != nil {
		tb.Fatal(err)
	}
	return testPolicy(tb, cfg)
}

// BenchmarkBuildView: the JSON view of 20,000 sessions, each judged.
func BenchmarkBuildView(b *testing.B) {
	snap, p := bigSnapshot(20000), benchPolicy(b)
	id := Identity{Name: "user1@acme.example", Source: SourceBasicAuth}
	g := p.GrantOf(id)
	b.ReportAllocs()
	for b.Loop() {
		buildView(oneSource(snap), p, id, &g, "", false, testNow)
	}
}

// BenchmarkRenderPage: the HTML page of 20,000 sessions.
func BenchmarkRenderPage(b *testing.B) {
	snap, p := bigSnapshot(20000), benchPolicy(b)
	id := Identity{Name: "user1@acme.example", Source: SourceBasicAuth}
	g := p.GrantOf(id)
	v := buildView(oneSource(snap), p, id, &g, "", false, testNow)
	w := &countingWriter{}
	b.ReportAllocs()
	for b.Loop() {
		w.n = 0
		if err := pageTmpl.ExecuteTemplate(w, "index.html", newPageView(v)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(w.n), "bytes/page")
}

type countingWriter struct{ n int }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

var _ io.Writer = (*countingWriter)(nil)
