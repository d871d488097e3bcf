package dashboards

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// repoRoot is the main module, two levels above this package.
var repoRoot = filepath.Join("..", "..")

// dashboardsDir is where the generated JSON is committed.
var dashboardsDir = filepath.Join(repoRoot, "dashboards")

// contractMetrics are the metric names in the contract table of
// docs/architecture.md ("Metrics"), plus the sidecar's
// license_sidecar_terminations_total. The end-to-end test checks this list
// against a running exporter's /metrics, so it cannot silently drift.
var contractMetrics = []string{
	"license_seats_issued",
	"license_seats_in_use",
	"license_seats_checked_out",
	"license_expiry_timestamp_seconds",
	"license_info",
	"license_user_sessions",
	"license_user_checked_out_sessions",
	"license_user_session_start_timestamp_seconds",
	"license_up",
	"license_last_poll_success_timestamp_seconds",
	"license_poll_duration_seconds",
	"license_polls_total",
	"license_poll_failures_total",
	"license_exporter_config_last_reload_successful",
	"license_exporter_build_info",
	"license_user_sessions_dropped_total",
	"license_denials_total",
	"license_exporter_http_connections_refused_total",
	// FlexLM sources only; the end-to-end stack has one.
	"license_server_up",
	"license_vendor_daemon_up",
	"license_seats_reserved",
	"license_queued_requests",
}

// sidecarMetrics are the sidecar's metrics the dashboards read (the
// contract's sidecar table).
var sidecarMetrics = []string{
	"license_sidecar_terminations_total",
	"license_sidecar_config_last_reload_successful",
}

const sidecarMetric = "license_sidecar_terminations_total"

// prometheusMetrics are series Prometheus writes itself for every target.
var prometheusMetrics = []string{"up", "scrape_samples_scraped"}

// pendingMetrics are contract metrics another branch adds, with that
// reason. The dashboards may read them; the end-to-end test fails once the
// exporter serves one, so it moves to contractMetrics and its allowedEmpty
// entries go. None is pending now.
var pendingMetrics = map[string]string{}

// panelQuery is one Prometheus target of a committed dashboard panel.
type panelQuery struct {
	File, Panel, PanelType, Ref string
	Expr                        string
	Instant, Range              bool
	Format                      string
	Repeat                      string // variable the panel repeats over
}

func (q panelQuery) String() string {
	return fmt.Sprintf("%s / %q / %s", q.File, q.Panel, q.Ref)
}

// variableQuery is the query of a template variable.
type variableQuery struct {
	File, Name, Type string
	Query            string
}

// committed is a parsed committed dashboard file.
type committed struct {
	File string
	Raw  []byte
	JSON map[string]any
}

func loadCommitted(t *testing.T) []committed {
	t.Helper()
	var out []committed
	for _, f := range Files() {
		raw, err := os.ReadFile(filepath.Join(dashboardsDir, f.Name))
		if err != nil {
			t.Fatalf("%v (run `make dashboards`)", err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		out = append(out, committed{f.Name, raw, m})
	}
	return out
}

// panels returns every panel of a dashboard, rows' nested panels included,
// rows themselves excluded.
func panels(d map[string]any) []map[string]any {
	var out []map[string]any
	var walk func(list []any)
	walk = func(list []any) {
		for _, p := range list {
			pm, _ := p.(map[string]any)
			if pm == nil {
				continue
			}
			if pm["type"] == "row" {
				nested, _ := pm["panels"].([]any)
				walk(nested)
				continue
			}
			out = append(out, pm)
		}
	}
	list, _ := d["panels"].([]any)
	walk(list)
	return out
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func queriesOf(c committed) []panelQuery {
	var out []panelQuery
	for _, p := range panels(c.JSON) {
		targets, _ := p["targets"].([]any)
		for _, tg := range targets {
			tm := tg.(map[string]any)
			instant, _ := tm["instant"].(bool)
			rng, _ := tm["range"].(bool)
			out = append(out, panelQuery{
				File: c.File, Panel: str(p, "title"), PanelType: str(p, "type"),
				Ref: str(tm, "refId"), Expr: str(tm, "expr"),
				Instant: instant, Range: rng, Format: str(tm, "format"),
				Repeat: str(p, "repeat"),
			})
		}
	}
	return out
}

func variablesOf(c committed) []variableQuery {
	var out []variableQuery
	tmpl, _ := c.JSON["templating"].(map[string]any)
	list, _ := tmpl["list"].([]any)
	for _, v := range list {
		vm := v.(map[string]any)
		q, _ := vm["query"].(string)
		out = append(out, variableQuery{File: c.File, Name: str(vm, "name"), Type: str(vm, "type"), Query: q})
	}
	return out
}

func variable(t *testing.T, c committed, name string) map[string]any {
	t.Helper()
	tmpl, _ := c.JSON["templating"].(map[string]any)
	list, _ := tmpl["list"].([]any)
	for _, v := range list {
		if vm := v.(map[string]any); vm["name"] == name {
			return vm
		}
	}
	t.Fatalf("%s: no variable %q", c.File, name)
	return nil
}

// grafanaVar matches the variable syntaxes Grafana interpolates:
// $name, ${name}, ${name:format}, ${name.path:format} and [[name]].
var grafanaVar = regexp.MustCompile(`\$(\w+)|\$\{(\w+)(?:\.[^:}]+)?(?::[^}]+)?\}|\[\[(\w+)(?::\w+)?\]\]`)

// substitute replaces every Grafana variable in expr with its value in
// vars, the way Grafana does before sending a query. A variable without a
// value is an error, so a query cannot hide a typo behind a "$".
func substitute(expr string, vars map[string]string) (string, error) {
	var missing []string
	out := grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
		sub := grafanaVar.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[3]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("no value for variable(s) %v in %q", missing, expr)
	}
	return out, nil
}

// builtins are Grafana's own variables, set to what a dashboard would send.
func builtins() map[string]string {
	return map[string]string{
		"__interval":      "15s",
		"__interval_ms":   "15000",
		"__rate_interval": "1m",
		"__range":         "3600s",
		"__range_s":       "3600",
		"__range_ms":      "3600000",
	}
}

// withVars merges variable values over the builtins.
func withVars(kv ...string) map[string]string {
	vars := builtins()
	for i := 0; i+1 < len(kv); i += 2 {
		vars[kv[i]] = kv[i+1]
	}
	return vars
}

var promParser = parser.NewParser(parser.Options{})

// labelValuesCall is Grafana's label_values(selector, label) variable query.
var labelValuesCall = regexp.MustCompile(`^label_values\((.*),\s*(\w+)\)$`)

// variablePromQL turns a Prometheus variable query into the PromQL selector
// it evaluates and the label whose values it lists.
func variablePromQL(q string) (selector, label string, err error) {
	m := labelValuesCall.FindStringSubmatch(strings.TrimSpace(q))
	if m == nil {
		return "", "", fmt.Errorf("variable query %q is not label_values(selector, label)", q)
	}
	return m[1], m[2], nil
}

// metricNames lists the metric names an expression selects. A selector
// without a fixed name is reported as "" (unknown).
func metricNames(expr parser.Expr) []string {
	var names []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		names = append(names, name)
		return nil
	})
	return names
}

// recordingRules reads the recording rule names from alerts/*.yml with
// Prometheus's own rule file parser.
func recordingRules(t *testing.T) map[string]bool {
	t.Helper()
	rules := map[string]bool{}
	for name := range recordingRuleIntervals(t) {
		rules[name] = true
	}
	return rules
}

// recordingRuleIntervals maps each recording rule to its group's interval
// (0: the global evaluation_interval).
func recordingRuleIntervals(t *testing.T) map[string]model.Duration {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "alerts", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no rule files in alerts/")
	}
	rules := map[string]model.Duration{}
	for _, f := range files {
		groups, errs := rulefmt.ParseFile(f, false, model.UTF8Validation, promParser, promslog.NewNopLogger())
		if len(errs) > 0 {
			t.Fatalf("%s: %v", f, errs)
		}
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					rules[r.Record] = g.Interval
				}
			}
		}
	}
	return rules
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
