//lint:file-ignore SA1019 the classic dashboard model is what Grafana imports and provisions from files; dashboardv2 needs Grafana 12 with its v2 API enabled.

package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	neturl "net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/rulefmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/prometheus/prometheus/promql/parser"
)

// TestCommittedMatchesGenerator fails when dashboards/ differs from what
// the generator writes, or holds a dashboard the generator does not make.
func TestCommittedMatchesGenerator(t *testing.T) {
	want := map[string]bool{}
	for _, f := range Files() {
		want[f.Name] = true
		got, err := Render(f.Build)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		onDisk, err := os.ReadFile(filepath.Join(dashboardsDir, f.Name))
		if err != nil {
			t.Errorf("%v; run `make dashboards`", err)
			continue
		}
		if !bytes.Equal(got, onDisk) {
			t.Errorf("dashboards/%s is out of date; run `make dashboards`. First difference:\n%s", f.Name, firstDiff(onDisk, got))
		}
	}
	onDisk, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range onDisk {
		if !want[filepath.Base(p)] {
			t.Errorf("dashboards/%s is not made by the generator; delete it or add it to Files()", filepath.Base(p))
		}
	}
}

func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  committed: %s\n  generated: %s", i+1, x, y)
		}
	}
	return "(none)"
}

var registerPlugins sync.Once

// strictDecode is the SDK's strict unmarshal followed by Validate. The SDK
// returns an empty cog.BuildErrors as a non-nil error; that is success.
func strictDecode(raw []byte) (dashboard.Dashboard, error) {
	registerPlugins.Do(plugins.RegisterDefaultPlugins)
	var d dashboard.Dashboard
	if err := noBuildErrors(d.UnmarshalJSONStrict(raw)); err != nil {
		return d, err
	}
	return d, noBuildErrors(d.Validate())
}

func noBuildErrors(err error) error {
	var be cog.BuildErrors
	if errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}

func TestStrictValidation(t *testing.T) {
	for _, c := range loadCommitted(t) {
		d, err := strictDecode(c.Raw)
		if err != nil {
			t.Errorf("%s: %v", c.File, err)
			continue
		}
		if d.Uid == nil || *d.Uid+".json" != c.File {
			t.Errorf("%s: uid %v, want the file's name", c.File, deref(d.Uid))
		}
	}
}

// TestStrictValidationRejects shows the check above can fail: an unknown
// field in a panel and a missing required field are both refused.
func TestStrictValidationRejects(t *testing.T) {
	c := loadCommitted(t)[0]
	for name, mutate := range map[string]func(m map[string]any){
		"unknown panel field": func(m map[string]any) { panels(m)[0]["colour"] = "red" },
		"no schemaVersion":    func(m map[string]any) { delete(m, "schemaVersion") },
		"bad target field":    func(m map[string]any) { panels(m)[0]["targets"].([]any)[0].(map[string]any)["exprr"] = "up" },
	} {
		var m map[string]any
		if err := json.Unmarshal(c.Raw, &m); err != nil {
			t.Fatal(err)
		}
		mutate(m)
		raw, _ := json.Marshal(m)
		if _, err := strictDecode(raw); err == nil {
			t.Errorf("%s: strict decoding accepted it", name)
		}
	}
}

// assignments are the variable values the parse test tries: "All", one
// value, several values (Grafana's regex form), and every look-back.
func assignments() []map[string]string {
	base := []map[string]string{
		withVars("source", ".*", "product", ".*"),
		withVars("source", "demo", "product", "ETABS"),
		withVars("source", "(acme|demo)", "product", "(ETABS|SAP2000)"),
	}
	var out []map[string]string
	for _, w := range []string{"7d", "30d", "90d", "180d", "365d"} {
		for _, b := range base {
			v := map[string]string{"window": w, "horizon": HorizonDefault, "sidecar_url": DefaultSidecarURL}
			for k, x := range b {
				v[k] = x
			}
			out = append(out, v)
		}
	}
	return out
}

func TestQueriesParse(t *testing.T) {
	n := 0
	for _, c := range loadCommitted(t) {
		for _, q := range queriesOf(c) {
			if q.Expr == "" {
				t.Errorf("%s: empty expression", q)
				continue
			}
			for _, vars := range assignments() {
				s, err := substitute(q.Expr, vars)
				if err != nil {
					t.Errorf("%s: %v", q, err)
					break
				}
				if _, err := promParser.ParseExpr(s); err != nil {
					t.Errorf("%s: %v\n  query: %s", q, err, s)
					break
				}
				n++
			}
		}
		for _, v := range variablesOf(c) {
			if v.Type != "query" {
				continue
			}
			sel, _, err := variablePromQL(v.Query)
			if err != nil {
				t.Errorf("%s: %v", c.File, err)
				continue
			}
			for _, vars := range assignments() {
				s, err := substitute(sel, vars)
				if err == nil {
					_, err = promParser.ParseExpr(s)
				}
				if err != nil {
					t.Errorf("%s: variable %s: %v", c.File, v.Name, err)
					break
				}
				n++
			}
		}
	}
	t.Logf("%d substituted queries parsed", n)
}

// capacityRules are the rules the capacity dashboard reads.
var capacityRules = []string{
	ruleTypeIssued1h, ruleTypeInUse1h, ruleTypeExpiry1h, ruleTypePeak1d, ruleTypePeakWeekdays,
	ruleTypePeak1w, ruleTypeExhausted1d, ruleTypeHigh1d, ruleTypeDenials1d, ruleTypeDeniedDays,
	ruleUserSeatHours1d, ruleTypeUnreserved1h, ruleTypeQueued1h,
}

func TestKnownMetricsOnly(t *testing.T) {
	known := recordingRules(t)
	for _, name := range append([]string{ruleIssued, ruleInUse, ruleUtilisation, ruleDailyPeak}, capacityRules...) {
		if !known[name] {
			t.Errorf("recording rule %s, used by the dashboards, is not in alerts/", name)
		}
	}
	for _, m := range slices.Concat(contractMetrics, sidecarMetrics, prometheusMetrics, slices.Collect(maps.Keys(pendingMetrics))) {
		known[m] = true
	}
	used := map[string]bool{}
	check := func(where, expr string) {
		s, err := substitute(expr, assignments()[0])
		if err != nil {
			t.Errorf("%s: %v", where, err)
			return
		}
		e, err := promParser.ParseExpr(s)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			return
		}
		for _, name := range metricNames(e) {
			used[name] = true
			if !known[name] {
				t.Errorf("%s: metric %q is neither in the contract nor a recording rule in alerts/", where, name)
			}
		}
	}
	for _, c := range loadCommitted(t) {
		for _, q := range queriesOf(c) {
			check(q.String(), q.Expr)
		}
		for _, v := range variablesOf(c) {
			if v.Type == "query" {
				sel, _, _ := variablePromQL(v.Query)
				check(c.File+" / variable "+v.Name, sel)
			}
		}
	}
	t.Logf("metrics used: %v", sortedKeys(used))
}

// TestMetricNamesSeesEverySelector guards the known-metrics check: a name
// hidden in a subquery, an offset or a __name__ matcher is still found, and
// a selector without a fixed name is reported.
func TestMetricNamesSeesEverySelector(t *testing.T) {
	e, err := promParser.ParseExpr(`a + avg_over_time((b >= bool 1)[1d:1m]) or c offset 1w or {__name__="d"} or {__name__=~"e.*"}`)
	if err != nil {
		t.Fatal(err)
	}
	got := metricNames(e)
	slices.Sort(got)
	want := []string{"", "a", "b", "c", "d"}
	if !slices.Equal(got, want) {
		t.Errorf("metricNames = %q, want %q", got, want)
	}
}

func TestSubstitute(t *testing.T) {
	vars := withVars("source", "demo", "window", "30d", "sidecar_url", "http://h:1")
	for in, want := range map[string]string{
		`x{source=~"$source"}[$window]`:                "x{source=~\"demo\"}[30d]",
		`rate(x[$__rate_interval])`:                    "rate(x[1m])",
		`${source}/${source:regex}/[[source]]`:         "demo/demo/demo",
		`${sidecar_url}/?user=${__data.fields.user:x}`: "", // __data has no value here
	} {
		got, err := substitute(in, vars)
		if want == "" {
			if err == nil {
				t.Errorf("substitute(%q) = %q, want an error for the missing variable", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("substitute(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := substitute(`x[$windw]`, vars); err == nil {
		t.Error("a misspelt variable was substituted silently")
	}
}

func committedByUID(t *testing.T, uid string) committed {
	t.Helper()
	for _, c := range loadCommitted(t) {
		if c.JSON["uid"] == uid {
			return c
		}
	}
	t.Fatalf("no dashboard with uid %s", uid)
	return committed{}
}

func TestVariables(t *testing.T) {
	for uid, want := range map[string][]string{
		"license-monitor":  {"datasource", "source", "product", "sidecar_url"},
		"license-capacity": {"datasource", "source", "product", "window", "horizon"},
		"license-exporter": {"datasource", "source"},
	} {
		c := committedByUID(t, uid)
		var got []string
		for _, v := range variablesOf(c) {
			got = append(got, v.Name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: variables %v, want %v", uid, got, want)
		}
		for _, p := range panels(c.JSON) {
			ds, _ := p["datasource"].(map[string]any)
			targets, _ := p["targets"].([]any)
			for _, tg := range targets {
				tds, _ := tg.(map[string]any)["datasource"].(map[string]any)
				if tds["uid"] != "${datasource}" {
					t.Errorf("%s / %q: a query does not use the data source variable: %v", uid, p["title"], tds)
				}
			}
			if ds != nil && ds["uid"] != "${datasource}" {
				t.Errorf("%s / %q: panel data source %v", uid, p["title"], ds)
			}
		}
	}
	url := variable(t, committedByUID(t, "license-monitor"), "sidecar_url")
	if url["type"] != "textbox" || url["query"] != DefaultSidecarURL {
		t.Errorf("sidecar_url: %v, want a textbox defaulting to %s", url, DefaultSidecarURL)
	}
}

// gaugePanels are the monitor's gauge panels.
func gaugePanels(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, p := range panels(committedByUID(t, "license-monitor").JSON) {
		if p["type"] == "gauge" {
			out = append(out, p)
		}
	}
	return out
}

// TestMonitorGaugePerProduct: a gauge repeated over the product variable,
// which lists every product. The end-to-end test checks that list against
// the demo account.
func TestMonitorGaugePerProduct(t *testing.T) {
	gauges := gaugePanels(t)
	if len(gauges) != 1 || gauges[0]["repeat"] != "product" {
		t.Fatalf("want one gauge panel repeated over $product, got %d: %v", len(gauges), gauges)
	}
	c := committedByUID(t, "license-monitor")
	v := variable(t, c, "product")
	if v["includeAll"] != true || v["multi"] != true || v["allValue"] != ".*" {
		t.Errorf("product variable must offer All (.*) and several values: %v", v)
	}
	sel, lbl, err := variablePromQL(str(v, "query"))
	if err != nil || lbl != "product" {
		t.Fatalf("product variable query %q: %v", v["query"], err)
	}
	e, _ := promParser.ParseExpr(strings.ReplaceAll(sel, "$source", ".*"))
	if names := metricNames(e); !slices.Equal(names, []string{"license_seats_issued"}) {
		t.Errorf("products come from %v, want license_seats_issued (every product has issued seats)", names)
	}
}

// tableColumns replays the table's transformations (merge, filter,
// organize) on the fields its queries return: the labels each query keeps
// and one "Value #<ref>" per query.
func tableColumns(t *testing.T, p map[string]any, fields []string) []string {
	t.Helper()
	cols := slices.Clone(fields)
	trs, _ := p["transformations"].([]any)
	for _, tr := range trs {
		tm := tr.(map[string]any)
		opts, _ := tm["options"].(map[string]any)
		switch tm["id"] {
		case "merge":
		case "filterFieldsByName":
			inc := opts["include"].(map[string]any)["names"].([]any)
			cols = slices.DeleteFunc(cols, func(c string) bool { return !slices.Contains(inc, any(c)) })
		case "organize":
			idx := opts["indexByName"].(map[string]any)
			slices.SortStableFunc(cols, func(a, b string) int {
				ia, oka := idx[a].(float64)
				ib, okb := idx[b].(float64)
				switch {
				case oka && okb:
					return int(ia - ib)
				case oka:
					return -1
				case okb:
					return 1
				}
				return 0
			})
			ren, _ := opts["renameByName"].(map[string]any)
			for i, c := range cols {
				if to, ok := ren[c].(string); ok {
					cols[i] = to
				}
			}
		default:
			t.Fatalf("table %q: transformation %v not replayed by this test", p["title"], tm["id"])
		}
	}
	return cols
}

// groupingLabels returns the labels an aggregation keeps ("by (...)").
func groupingLabels(t *testing.T, expr string) []string {
	t.Helper()
	s, err := substitute(expr, assignments()[0])
	if err != nil {
		t.Fatal(err)
	}
	e, err := promParser.ParseExpr(s)
	if err != nil {
		t.Fatal(err)
	}
	var by []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if a, ok := n.(*parser.AggregateExpr); ok && by == nil && !a.Without {
			by = a.Grouping
		}
		return nil
	})
	return by
}

func sessionsTable(t *testing.T) (map[string]any, []panelQuery) {
	t.Helper()
	return panelByTitle(t, "license-monitor", "Sessions")
}

// panelByTitle returns a dashboard's panel and its queries.
func panelByTitle(t *testing.T, uid, title string) (map[string]any, []panelQuery) {
	t.Helper()
	c := committedByUID(t, uid)
	for _, p := range panels(c.JSON) {
		if p["title"] == title {
			var qs []panelQuery
			for _, q := range queriesOf(c) {
				if q.Panel == p["title"] {
					qs = append(qs, q)
				}
			}
			return p, qs
		}
	}
	t.Fatalf("%s has no panel %q", uid, title)
	return nil, nil
}

// wantSessionColumns is the column list for "who holds what".
var wantSessionColumns = []string{"source", "user", "product", "edition", "license type", "host", "since", "sessions", "checked out"}

func TestMonitorSessionsTable(t *testing.T) {
	p, qs := sessionsTable(t)
	var fields []string
	sinceRef := ""
	for _, q := range qs {
		if q.Format != "table" || !q.Instant {
			t.Errorf("%s: want an instant table query", q)
		}
		for _, l := range groupingLabels(t, q.Expr) {
			if !slices.Contains(fields, l) {
				fields = append(fields, l)
			}
		}
		fields = append(fields, "Time", "Value #"+q.Ref)
		if strings.Contains(q.Expr, "license_user_session_start_timestamp_seconds") {
			sinceRef = q.Ref
		}
	}
	cols := tableColumns(t, p, fields)
	if !slices.Equal(cols, wantSessionColumns) {
		t.Errorf("columns %q, want %q", cols, wantSessionColumns)
	}
	// "since" must be the session start, shown as a date.
	renamed := tableColumns(t, p, []string{"Value #" + sinceRef})
	if len(renamed) != 1 || renamed[0] != "since" {
		t.Errorf("the session start (query %s) shows as %q, want \"since\"", sinceRef, renamed)
	}
	if !strings.Contains(string(mustJSON(t, p["fieldConfig"])), `"dateTimeFromNow"`) {
		t.Error("since is not formatted as a time")
	}
}

func TestMonitorSidecarLink(t *testing.T) {
	p, _ := sessionsTable(t)
	fc := p["fieldConfig"].(map[string]any)["defaults"].(map[string]any)
	links, _ := fc["links"].([]any)
	if len(links) != 1 {
		t.Fatalf("want one data link on every cell, got %v", links)
	}
	url := str(links[0].(map[string]any), "url")
	// Grafana fills __data.fields.* from the row, percent-encoded; the rest
	// from variables.
	row := map[string]string{"source": "flex-a", "user": "jdoe@acme.example", "product": "ETABS", "host": "ws 7"}
	got := regexp.MustCompile(`\$\{__data\.fields\.(\w+):percentencode\}`).ReplaceAllStringFunc(url, func(m string) string {
		field := strings.TrimSuffix(strings.TrimPrefix(m, "${__data.fields."), ":percentencode}")
		return neturl.QueryEscape(row[field])
	})
	got, err := substitute(got, map[string]string{"sidecar_url": "http://sidecar:9849"})
	want := "http://sidecar:9849/?source=flex-a&user=jdoe%40acme.example&product=ETABS&host=ws+7"
	if err != nil || got != want {
		t.Errorf("link %q expands to %q (%v), want %q", url, got, err, want)
	}
}

// TestCapacityReadsHourlyAndDailyRulesOnly: every series the capacity
// dashboard reads, variables included, is a recording rule of a group with
// a fixed interval of an hour or more. So the dashboard works on the
// long-term Prometheus of deploy/README.md, which keeps only recorded
// series, and a year of it reads at most 8,760 samples per series.
func TestCapacityReadsHourlyAndDailyRulesOnly(t *testing.T) {
	intervals := recordingRuleIntervals(t)
	c := committedByUID(t, "license-capacity")
	check := func(where, expr string) {
		s, err := substitute(expr, assignments()[0])
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		e, err := promParser.ParseExpr(s)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		for _, name := range metricNames(e) {
			iv, ok := intervals[name]
			switch {
			case !ok:
				t.Errorf("%s reads %q, which is not a recording rule", where, name)
			case time.Duration(iv) < time.Hour:
				t.Errorf("%s reads %q, recorded every %v; want an hourly or daily rule", where, name, iv)
			}
		}
	}
	for _, q := range queriesOf(c) {
		check(q.String(), q.Expr)
	}
	for _, v := range variablesOf(c) {
		if v.Type == "query" {
			sel, _, err := variablePromQL(v.Query)
			if err != nil {
				t.Fatal(err)
			}
			check("variable "+v.Name, sel)
		}
	}
}

// ruleExprs maps each alert and recording rule of alerts/*.yml to its
// expressions.
func ruleExprs(t *testing.T) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "alerts", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, f := range files {
		groups, errs := rulefmt.ParseFile(f, false, model.UTF8Validation, promParser, promslog.NewNopLogger())
		if len(errs) > 0 {
			t.Fatalf("%s: %v", f, errs)
		}
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				out[r.Alert+r.Record] = append(out[r.Alert+r.Record], r.Expr)
			}
		}
	}
	return out
}

// stepValues lists a threshold config's step values (nil for the base).
func stepValues(t *testing.T, p map[string]any) []any {
	t.Helper()
	th, _ := p["fieldConfig"].(map[string]any)["defaults"].(map[string]any)["thresholds"].(map[string]any)
	steps, _ := th["steps"].([]any)
	var out []any
	for _, s := range steps {
		out = append(out, s.(map[string]any)["value"])
	}
	return out
}

// TestThresholdsAgreeWithAlerts: the panels colour by the thresholds the
// alerts fire at, read from alerts/, so a change to one shows in the other.
func TestThresholdsAgreeWithAlerts(t *testing.T) {
	rules := ruleExprs(t)
	mustContain := func(rule, text string) {
		for _, e := range rules[rule] {
			if strings.Contains(e, text) {
				return
			}
		}
		t.Errorf("%s no longer contains %q (%v): update the dashboards' thresholds (common.go) with it", rule, text, rules[rule])
	}
	mustContain("LicenseSaturationHigh", fmt.Sprintf(">= %v", alertSaturationHigh))
	mustContain("LicenseDataStale", "> 30 * 60")
	mustContain("source_product_edition_license_type:license_seats_saturation_high:bool", fmt.Sprintf(">= bool %v", alertSaturationHigh))
	mustContain("LicenseSeatsExhausted", ">= on (source, product, edition)")
	if alertDataStale != 30*60 {
		t.Errorf("alertDataStale is %v, LicenseDataStale fires at 30 * 60", alertDataStale)
	}
	for _, c := range []struct{ uid, title string }{
		{"license-monitor", "$product"},
		{"license-monitor", "Utilisation by product and edition"},
		{"license-monitor", "Utilisation"},
	} {
		p, _ := panelByTitle(t, c.uid, c.title)
		got := fmt.Sprint(stepValues(t, p))
		want := fmt.Sprint([]any{nil, alertSaturationHigh, alertExhausted})
		if th := p["fieldConfig"].(map[string]any)["defaults"].(map[string]any)["thresholds"].(map[string]any); th["mode"] == "percentage" {
			want = fmt.Sprint([]any{nil, alertSaturationHigh * 100, alertExhausted * 100})
		}
		if got != want {
			t.Errorf("%s / %q: threshold steps %s, want %s (LicenseSaturationHigh, LicenseSeatsExhausted)", c.uid, c.title, got, want)
		}
	}
	for _, uid := range []string{"license-monitor", "license-exporter"} {
		p, _ := panelByTitle(t, uid, "Data age")
		if steps := stepValues(t, p); len(steps) == 0 || steps[len(steps)-1] != float64(alertDataStale) {
			t.Errorf("%s / Data age: red from %v, want LicenseDataStale's %d s", uid, steps, alertDataStale)
		}
	}
}

// TestCountBarsUseInterval: a bar of a count is the increase over its own
// interval, $__interval, so adjacent bars never count one event twice (a
// window wider than the step, such as $__rate_interval, would).
func TestCountBarsUseInterval(t *testing.T) {
	n := 0
	for _, c := range loadCommitted(t) {
		for _, p := range panels(c.JSON) {
			custom, _ := p["fieldConfig"].(map[string]any)["defaults"].(map[string]any)["custom"].(map[string]any)
			if custom["drawStyle"] != "bars" {
				continue
			}
			targets, _ := p["targets"].([]any)
			for _, tg := range targets {
				expr := str(tg.(map[string]any), "expr")
				if !strings.Contains(expr, "increase(") {
					continue
				}
				n++
				if !strings.Contains(expr, "[$__interval])") || strings.Contains(expr, "$__rate_interval") {
					t.Errorf("%s / %q: bars of %s; want increase(...[$__interval])", c.File, p["title"], expr)
				}
				if str(p, "interval") == "" {
					t.Errorf("%s / %q: no minimum interval, so a short $__interval could hold under two scrapes", c.File, p["title"])
				}
			}
		}
	}
	if n == 0 {
		t.Error("no bar chart of counts found; the test looks at nothing")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCapacityReadsHourlySeriesOverRanges: an hourly or daily series has a
// sample once an hour or day, and an instant selector sees it for only five
// minutes after (Prometheus's lookback), so a panel that reads one at an
// instant is empty most of the time. Every such series the capacity
// dashboard reads is inside a range ([$__interval], [$window], ...).
func TestCapacityReadsHourlySeriesOverRanges(t *testing.T) {
	for _, q := range queriesOf(committedByUID(t, "license-capacity")) {
		s, err := substitute(q.Expr, assignments()[0])
		if err != nil {
			t.Fatal(err)
		}
		e, err := promParser.ParseExpr(s)
		if err != nil {
			t.Fatal(err)
		}
		parser.Inspect(e, func(n parser.Node, path []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			if len(path) > 0 {
				if _, ok := path[len(path)-1].(*parser.MatrixSelector); ok {
					return nil
				}
			}
			t.Errorf("%s reads %s at an instant, where it is stale for most of its interval", q, vs.Name)
			return nil
		})
	}
}
