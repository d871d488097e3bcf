package sidecar

import (
	"bytes"
	"cmp"
	"context"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/license-monitor/license-monitor/source"
)

// MonitorView is GET /api/v1/monitor: the License Monitor as the caller
// may see it. Field names are this API's contract for third parties.
// Products, licenses, sessions and denials are grouped by source: each
// names its source, and they come in the order of Sources (the config's).
type MonitorView struct {
	GeneratedAt time.Time `json:"generated_at"`
	// Account is the account of the only source; empty with several (each
	// of Sources has its own).
	Account            string        `json:"account"`
	Identity           string        `json:"identity"`
	Roles              []string      `json:"roles"`
	CanTerminateOthers bool          `json:"can_terminate_others"`
	DryRun             bool          `json:"dry_run"`
	UserFilter         string        `json:"user_filter,omitempty"`
	SourceFilter       string        `json:"source_filter,omitempty"`
	Sources            []SourceView  `json:"sources"`
	Products           []ProductView `json:"products"`
	Licenses           []LicenseView `json:"licenses"`
	Sessions           []SessionView `json:"sessions"`
	// Denials are the refused license requests of the last 24 hours,
	// newest first within each source (denials.go). DenialsAvailable is
	// false when no source keeps any; DenialsError says why some could not
	// be read.
	Denials          []DenialView `json:"denials"`
	DenialsAvailable bool         `json:"denials_available"`
	DenialsError     string       `json:"denials_error,omitempty"`

	notice string // the page's note about its filter
}

// Notice is a note for the page about its filter; "" for none.
func (v *MonitorView) Notice() string { return v.notice }

// SourceView is one configured source as the view read it.
type SourceView struct {
	Name        string    `json:"name"`
	Type        string    `json:"type"`
	Account     string    `json:"account"`
	GeneratedAt time.Time `json:"generated_at"`
	// Error says why the source could not be read; its sessions are then
	// missing, and the other sources are still shown.
	Error            string `json:"error,omitempty"`
	DenialsAvailable bool   `json:"denials_available"`
	DenialsError     string `json:"denials_error,omitempty"`
}

// ProductView is one gauge: seats in use against seats issued.
type ProductView struct {
	Source     string `json:"source"`
	Product    string `json:"product"`
	Issued     int64  `json:"issued"`
	InUse      int64  `json:"in_use"`
	CheckedOut int64  `json:"checked_out"`
}

// LicenseView is one license (pool of seats).
type LicenseView struct {
	Source     string     `json:"source"`
	ID         string     `json:"id"`
	Product    string     `json:"product"`
	Edition    string     `json:"edition"`
	Type       string     `json:"type"`
	Issued     int64      `json:"issued"`
	InUse      int64      `json:"in_use"`
	CheckedOut int64      `json:"checked_out"`
	ExpiresAt  *time.Time `json:"expires_at"`
}

// SessionView is one session and whether the caller may terminate it.
type SessionView struct {
	Source       string    `json:"source"`
	SourceType   string    `json:"source_type"`
	ID           string    `json:"id"`
	User         string    `json:"user"`
	DisplayName  string    `json:"display_name"`
	Product      string    `json:"product"`
	Edition      string    `json:"edition"`
	LicenseType  string    `json:"license_type"`
	Host         string    `json:"host"`
	Since        time.Time `json:"since"`
	CheckedOut   bool      `json:"checked_out"`
	CanTerminate bool      `json:"can_terminate"`
	// NotTerminable says why not, when CanTerminate is false: checked_out,
	// not_cloud_sign_in, not_floating, too_young, not_yours or
	// no_permission.
	NotTerminable string `json:"not_terminable,omitempty"`
}

// sourceSnap is one source's read, for buildView.
type sourceSnap struct {
	name, typ string
	snap      *source.Snapshot // nil when err is set
	err       error
}

// newMonitorView is the view before any source is added.
func newMonitorView(id Identity, g *Grant, userFilter string, dryRun bool) *MonitorView {
	return &MonitorView{
		Identity: id.Name, Roles: g.Roles, CanTerminateOthers: g.Terminate, DryRun: dryRun, UserFilter: userFilter,
		Sources: []SourceView{}, Products: []ProductView{}, Licenses: []LicenseView{}, Sessions: []SessionView{}, Denials: []DenialView{},
	}
}

// buildView turns the sources' snapshots into what g may see, filtered to
// one upstream user when userFilter is set. Each session is judged by
// Policy.Decide, the same function that decides a terminate request.
func buildView(snaps []sourceSnap, p *Policy, id Identity, g *Grant, userFilter string, dryRun bool, now time.Time) *MonitorView {
	v := newMonitorView(id, g, userFilter, dryRun)
	for i := range snaps {
		v.addSource(&snaps[i], p, g, now)
	}
	if len(snaps) == 1 && snaps[0].snap != nil {
		v.Account = snaps[0].snap.AccountName
	}
	if v.GeneratedAt.IsZero() {
		v.GeneratedAt = now.UTC()
	}
	return v
}

// addSource appends one source's products, licenses and sessions.
func (v *MonitorView) addSource(ss *sourceSnap, p *Policy, g *Grant, now time.Time) {
	sv := SourceView{Name: ss.name, Type: ss.typ}
	if ss.err != nil {
		sv.Error = "cannot read the source: " + upstreamResult(ss.err)
		v.Sources = append(v.Sources, sv)
		return
	}
	snap := ss.snap
	sv.Account, sv.GeneratedAt = snap.AccountName, snap.GeneratedAt
	if sv.GeneratedAt.IsZero() {
		sv.GeneratedAt = now.UTC()
	}
	if v.GeneratedAt.IsZero() {
		v.GeneratedAt = sv.GeneratedAt
	}
	v.Sources = append(v.Sources, sv)

	byProduct := map[string]*ProductView{}
	for i := range snap.Licenses {
		l := &snap.Licenses[i]
		lv := LicenseView{Source: ss.name, ID: l.ID, Product: l.Product, Edition: l.Edition, Type: l.Type, Issued: l.Seats, InUse: l.InUse, CheckedOut: l.CheckedOut}
		if !l.ExpiresAt.IsZero() {
			t := l.ExpiresAt
			lv.ExpiresAt = &t
		}
		v.Licenses = append(v.Licenses, lv)
		pv := byProduct[l.Product]
		if pv == nil {
			pv = &ProductView{Source: ss.name, Product: l.Product}
			byProduct[l.Product] = pv
		}
		pv.Issued += l.Seats
		pv.InUse += l.InUse
		pv.CheckedOut += l.CheckedOut
	}
	products := make([]ProductView, 0, len(byProduct))
	for _, pv := range byProduct {
		products = append(products, *pv)
	}
	sort.Slice(products, func(i, j int) bool { return products[i].Product < products[j].Product })
	v.Products = append(v.Products, products...)

	idx := source.IndexLicenses(snap.Licenses)
	rows := make([]SessionView, 0, len(snap.Sessions))
	for i := range snap.Sessions {
		s := &snap.Sessions[i]
		if v.UserFilter != "" && s.User != v.UserFilter {
			continue
		}
		sv := SessionView{Source: ss.name, SourceType: ss.typ, ID: s.ID, User: s.User, DisplayName: s.DisplayName, Host: s.Host,
			Since: s.StartedAt, CheckedOut: s.CheckedOut, Product: source.UnknownProduct}
		if j, ok := idx.Of(s); ok {
			l := &snap.Licenses[j]
			sv.Product, sv.Edition, sv.LicenseType = l.Product, l.Edition, l.Type
		}
		if verdict := p.Decide(g, ss.name, s, sv.LicenseType, now); verdict.Allowed {
			sv.CanTerminate = true
		} else {
			sv.NotTerminable = verdict.Why
		}
		rows = append(rows, sv)
	}
	// Sort an index, not the rows: moving whole rows was 80% of the time.
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		a, b := &rows[i], &rows[j]
		if c := strings.Compare(a.Product, b.Product); c != 0 {
			return c
		}
		if c := strings.Compare(a.User, b.User); c != 0 {
			return c
		}
		return a.Since.Compare(b.Since)
	})
	v.Sessions = slices.Grow(v.Sessions, len(rows))
	for _, i := range order {
		v.Sessions = append(v.Sessions, rows[i])
	}
}

// loadView authenticates, checks view_monitor and reads the view. On
// failure it has answered already and returns nil.
func (s *Server) loadView(w http.ResponseWriter, r *http.Request, asHTML bool) *MonitorView {
	st := s.state.Load()
	id, err := s.caller(r, st)
	if err != nil {
		if asHTML {
			if s.login.hasUsers() {
				w.Header().Set("WWW-Authenticate", `Basic realm="license_sidecar"`)
			}
			s.renderError(w, http.StatusUnauthorized, "Not signed in", err.Error())
		} else {
			s.unauthorized(w, err)
		}
		return nil
	}
	g := st.policy.GrantOf(id)
	if !g.View {
		const msg = "your roles do not grant view_monitor"
		if asHTML {
			s.renderError(w, http.StatusForbidden, "No access", msg)
		} else {
			writeJSON(w, http.StatusForbidden, map[string]any{"error": msg})
		}
		return nil
	}
	srcFilter, notice := sourceFilter(r), ""
	if srcFilter != "" && st.source(srcFilter) == nil {
		// The page is reached from the dashboards' links, which name the
		// exporter's source: a sidecar that names it otherwise shows all.
		if !asHTML {
			writeJSON(w, http.StatusNotFound, map[string]any{"error": "no source of that name is configured"})
			return nil
		}
		notice = "No source of that name is configured here; every source is shown."
		srcFilter = ""
	}
	v, err := s.monitorView(r.Context(), st, id, &g, userFilter(r), srcFilter)
	if v != nil {
		v.notice = notice
	}
	if err != nil {
		msg := "cannot read the License Monitor upstream: " + upstreamResult(err)
		if asHTML {
			s.renderError(w, http.StatusBadGateway, "Upstream unavailable", msg)
		} else {
			writeJSON(w, http.StatusBadGateway, map[string]any{"error": msg})
		}
		return nil
	}
	return v
}

// monitorView reads every source (or the one of srcFilter) at once,
// sharing each read with concurrent views, and judges every session for
// g. It fails only when no source could be read; otherwise a failed
// source is shown with its error beside the others.
func (s *Server) monitorView(ctx context.Context, st *state, id Identity, g *Grant, userFilter, srcFilter string) (*MonitorView, error) {
	var ups []*upstream
	for _, u := range st.sources {
		if srcFilter == "" || u.name == srcFilter {
			ups = append(ups, u)
		}
	}
	snaps := make([]sourceSnap, len(ups))
	var wg sync.WaitGroup
	for i, u := range ups {
		snaps[i] = sourceSnap{name: u.name, typ: u.typ}
		wg.Add(1)
		go func() {
			defer wg.Done()
			snaps[i].snap, snaps[i].err = u.view.read(ctx)
		}()
	}
	wg.Wait()
	var firstErr error
	failed := 0
	for i := range snaps {
		if snaps[i].err != nil {
			s.upstreamFailed(snaps[i].err)
			failed++
			firstErr = cmp.Or(firstErr, snaps[i].err)
		}
	}
	if failed == len(snaps) && firstErr != nil {
		return nil, firstErr
	}
	v := buildView(snaps, st.policy, id, g, userFilter, st.cfg.Terminate.DryRun, s.now())
	v.SourceFilter = srcFilter
	for i, u := range ups {
		if snaps[i].err == nil {
			s.addDenials(ctx, u, v, &v.Sources[i], userFilter)
		}
	}
	return v, nil
}

// sourceFilter is ?source=, dropped when it cannot be a source's name.
func sourceFilter(r *http.Request) string {
	f := strings.TrimSpace(r.URL.Query().Get("source"))
	if len(f) > maxIdentityLen || !printable(f) {
		return ""
	}
	return f
}

// userFilter is ?user=, dropped when too long or unprintable.
func userFilter(r *http.Request) string {
	f := strings.TrimSpace(r.URL.Query().Get("user"))
	if len(f) > maxIdentityLen || !printable(f) {
		return ""
	}
	return f
}

func (s *Server) serveMonitorJSON(w http.ResponseWriter, r *http.Request) {
	if v := s.loadView(w, r, false); v != nil {
		writeJSON(w, http.StatusOK, v)
	}
}

//go:embed templates static
var assets embed.FS

var (
	pageTmpl = template.Must(template.New("").Funcs(template.FuncMap{
		"why":        whyText,
		"terminable": terminableText,
		"reason":     denialReasonText,
		"since":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"isoTime":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"meterMax":   func(n int64) int64 { return max(n, 1) },
		"highMark":   func(n int64) float64 { return float64(max(n, 1)) * 0.9 },
		"lowerCase":  strings.ToLower,
	}).ParseFS(assets, "templates/*.html"))
)

// whyText is what the page shows where there is no Terminate button,
// worded for the session's source type.
func whyText(why, typ string) string {
	switch why {
	case WhyCheckedOut:
		if typ == typeFlexLM {
			return "Borrowed"
		}
		return "Checked out"
	case WhyNotCloudSignIn:
		return "Not Cloud Sign-in"
	case WhyNotFloating:
		return "Not a floating seat"
	case WhyTooYoung:
		return "Started too recently"
	case WhyNotYours:
		return "Not yours"
	case WhyNoPermission:
		return "No permission"
	}
	return "Not terminable"
}

// terminableText says, in the table's caption, which sessions a source
// lets anyone end.
func terminableText(typ string) string {
	switch typ {
	case typeCSI:
		return "Cloud Sign-in sessions"
	case typeFlexLM:
		return "floating checkouts that are not borrowed"
	}
	return "sessions the source can end"
}

// pageCSP allows only this server's own script and style: no inline code.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pageTmpl.ExecuteTemplate(&buf, name, data); err != nil {
		s.logger.Error("cannot render the page", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) renderError(w http.ResponseWriter, status int, title, msg string) {
	s.render(w, status, "error.html", map[string]any{"Title": title, "Message": msg, "Status": status})
}

// maxPageRows bounds the page's table: 20,000 rows are 11 MB of HTML and
// half a second to render (BenchmarkRenderPage). The JSON API has them all,
// and ?user= narrows the page.
const maxPageRows = 1000

// pageView is the page's data: the view, grouped by source, each
// group's table cut to maxPageRows.
type pageView struct {
	*MonitorView
	Groups []pageGroup
}

// pageGroup is one source's part of the page.
type pageGroup struct {
	SourceView
	Products []ProductView
	Rows     []SessionView
	Sessions int // before the cut
	Hidden   int
	Denials  []DenialView
}

func newPageView(v *MonitorView) pageView {
	p := pageView{MonitorView: v}
	var pi, si, di int // where the next source's rows start
	for _, sv := range v.Sources {
		g := pageGroup{SourceView: sv}
		g.Products, pi = ofSource(v.Products, pi, sv.Name, func(x *ProductView) string { return x.Source })
		g.Rows, si = ofSource(v.Sessions, si, sv.Name, func(x *SessionView) string { return x.Source })
		g.Denials, di = ofSource(v.Denials, di, sv.Name, func(x *DenialView) string { return x.Source })
		g.Sessions = len(g.Rows)
		if len(g.Rows) > maxPageRows {
			g.Hidden = len(g.Rows) - maxPageRows
			g.Rows = g.Rows[:maxPageRows]
		}
		p.Groups = append(p.Groups, g)
	}
	return p
}

// ofSource returns the rows of source name. The view keeps each source's
// rows together, in the order of its sources, so they are the run from
// start, shared rather than copied (20,000 rows copied were 18 MB a page);
// rows out of that order are collected by a scan. next is where the
// following source's run starts.
func ofSource[T any](all []T, start int, name string, src func(*T) string) (rows []T, next int) {
	end := start
	for end < len(all) && src(&all[end]) == name {
		end++
	}
	n := 0
	for i := range all {
		if src(&all[i]) == name {
			n++
		}
	}
	if n == end-start {
		return all[start:end:end], end
	}
	for i := range all {
		if src(&all[i]) == name {
			rows = append(rows, all[i])
		}
	}
	return rows, start
}

func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	if v := s.loadView(w, r, true); v != nil {
		s.render(w, http.StatusOK, "index.html", newPageView(v))
	}
}

// staticHandler serves the page's files, and 404 for a directory: a
// listing would show what the sidecar ships to anyone signed in.
func staticHandler() http.Handler {
	sub, err := fs.Sub(assets, "static")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/static/")
		if fi, err := fs.Stat(sub, path.Clean("/" + name)[1:]); name == "" || strings.HasSuffix(name, "/") || err != nil || fi.IsDir() {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}
