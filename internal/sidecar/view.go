package sidecar

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/license-monitor/license-monitor/source"
)

// MonitorView is GET /api/v1/monitor: the License Monitor as the caller
// may see it. Field names are this API's contract for third parties.
type MonitorView struct {
	GeneratedAt        time.Time     `json:"generated_at"`
	Account            string        `json:"account"`
	Identity           string        `json:"identity"`
	Roles              []string      `json:"roles"`
	CanTerminateOthers bool          `json:"can_terminate_others"`
	DryRun             bool          `json:"dry_run"`
	UserFilter         string        `json:"user_filter,omitempty"`
	Products           []ProductView `json:"products"`
	Licenses           []LicenseView `json:"licenses"`
	Sessions           []SessionView `json:"sessions"`
	// Denials are the refused license requests of the last 24 hours,
	// newest first (denials.go). DenialsAvailable is false when the
	// source keeps none; DenialsError says why they could not be read.
	Denials          []DenialView `json:"denials"`
	DenialsAvailable bool         `json:"denials_available"`
	DenialsError     string       `json:"denials_error,omitempty"`
}

// ProductView is one gauge: seats in use against seats issued.
type ProductView struct {
	Product    string `json:"product"`
	Issued     int64  `json:"issued"`
	InUse      int64  `json:"in_use"`
	CheckedOut int64  `json:"checked_out"`
}

// LicenseView is one license (pool of seats).
type LicenseView struct {
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
	// not_cloud_sign_in, too_young, not_yours or no_permission.
	NotTerminable string `json:"not_terminable,omitempty"`
}

// buildView turns a snapshot into what g may see, filtered to one upstream
// user when userFilter is set. Each session is judged by Policy.Decide, the
// same function that decides a terminate request.
func buildView(snap *source.Snapshot, p *Policy, id Identity, g *Grant, userFilter string, dryRun bool, now time.Time) *MonitorView {
	v := &MonitorView{
		GeneratedAt: snap.GeneratedAt, Account: snap.AccountName, Identity: id.Name, Roles: g.Roles,
		CanTerminateOthers: g.Terminate, DryRun: dryRun, UserFilter: userFilter,
		Products: []ProductView{}, Licenses: []LicenseView{}, Sessions: []SessionView{}, Denials: []DenialView{},
	}
	if v.GeneratedAt.IsZero() {
		v.GeneratedAt = now.UTC()
	}
	byProduct := map[string]*ProductView{}
	for i := range snap.Licenses {
		l := &snap.Licenses[i]
		lv := LicenseView{ID: l.ID, Product: l.Product, Edition: l.Edition, Type: l.Type, Issued: l.Seats, InUse: l.InUse, CheckedOut: l.CheckedOut}
		if !l.ExpiresAt.IsZero() {
			t := l.ExpiresAt
			lv.ExpiresAt = &t
		}
		v.Licenses = append(v.Licenses, lv)
		pv := byProduct[l.Product]
		if pv == nil {
			pv = &ProductView{Product: l.Product}
			byProduct[l.Product] = pv
		}
		pv.Issued += l.Seats
		pv.InUse += l.InUse
		pv.CheckedOut += l.CheckedOut
	}
	for _, pv := range byProduct {
		v.Products = append(v.Products, *pv)
	}
	sort.Slice(v.Products, func(i, j int) bool { return v.Products[i].Product < v.Products[j].Product })

	idx := source.IndexLicenses(snap.Licenses)
	for i := range snap.Sessions {
		s := &snap.Sessions[i]
		if userFilter != "" && s.User != userFilter {
			continue
		}
		sv := SessionView{ID: s.ID, User: s.User, DisplayName: s.DisplayName, Host: s.Host, Since: s.StartedAt, CheckedOut: s.CheckedOut, Product: source.UnknownProduct}
		if j, ok := idx.Of(s); ok {
			l := &snap.Licenses[j]
			sv.Product, sv.Edition, sv.LicenseType = l.Product, l.Edition, l.Type
		}
		if verdict := p.Decide(g, s, sv.LicenseType, now); verdict.Allowed {
			sv.CanTerminate = true
		} else {
			sv.NotTerminable = verdict.Why
		}
		v.Sessions = append(v.Sessions, sv)
	}
	// Sort an index, not the rows: moving whole rows was 80% of the time.
	order := make([]int, len(v.Sessions))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		a, b := &v.Sessions[i], &v.Sessions[j]
		if c := strings.Compare(a.Product, b.Product); c != 0 {
			return c
		}
		if c := strings.Compare(a.User, b.User); c != 0 {
			return c
		}
		return a.Since.Compare(b.Since)
	})
	sorted := make([]SessionView, len(order))
	for k, i := range order {
		sorted[k] = v.Sessions[i]
	}
	v.Sessions = sorted
	return v
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
	v, err := s.monitorView(r.Context(), st, id, &g, userFilter(r))
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

// monitorView reads upstream, sharing the read with concurrent views, and
// judges every session for g.
func (s *Server) monitorView(ctx context.Context, st *state, id Identity, g *Grant, userFilter string) (*MonitorView, error) {
	snap, err := st.view.read(ctx)
	if err != nil {
		s.upstreamFailed(err)
		return nil, err
	}
	v := buildView(snap, st.policy, id, g, userFilter, st.cfg.Terminate.DryRun, s.now())
	s.addDenials(ctx, st, v, userFilter)
	return v, nil
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
		"why":       whyText,
		"reason":    denialReasonText,
		"since":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"isoTime":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"meterMax":  func(n int64) int64 { return max(n, 1) },
		"highMark":  func(n int64) float64 { return float64(max(n, 1)) * 0.9 },
		"lowerCase": strings.ToLower,
	}).ParseFS(assets, "templates/*.html"))
)

// whyText is what the page shows where there is no Terminate button.
func whyText(why string) string {
	switch why {
	case WhyCheckedOut:
		return "Checked out"
	case WhyNotCloudSignIn:
		return "Not Cloud Sign-in"
	case WhyTooYoung:
		return "Started too recently"
	case WhyNotYours:
		return "Not yours"
	case WhyNoPermission:
		return "No permission"
	}
	return "Not terminable"
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

// pageView is the page's data: the view, with the table cut to maxPageRows.
type pageView struct {
	*MonitorView
	Rows   []SessionView
	Hidden int
}

func newPageView(v *MonitorView) pageView {
	p := pageView{MonitorView: v, Rows: v.Sessions}
	if len(p.Rows) > maxPageRows {
		p.Hidden = len(p.Rows) - maxPageRows
		p.Rows = p.Rows[:maxPageRows]
	}
	return p
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
