package dashboards

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/testenv"
	"github.com/license-monitor/license-monitor/source/csi"
)

// allowedEmpty lists panel queries that may return no data against the
// end-to-end stack whatever the variables, keyed "uid / panel title /
// refId", with the reason. Keep it short: every entry is a panel a user
// could open and see empty. Entries whose reason is a pending metric
// (queries_test.go) must go once the exporter serves it; the test says so.
var allowedEmpty = map[string]string{}

// allowedEmptyForCSI lists the panel queries that may return no data when
// the variables select only CSI sources or products: they read FlexLM's
// own series, which a CSI source never has. The flex source shows them.
var allowedEmptyForCSI = map[string]string{
	"license-monitor / License servers / A":                             csiHasNoServers,
	"license-monitor / Vendor daemons / A":                              csiHasNoServers,
	"license-monitor / Queued requests and reserved seats / A":          csiHasNoQueue,
	"license-monitor / Queued requests and reserved seats / B":          csiHasNoQueue,
	"license-capacity / In use without reservations against issued / A": csiHasNoQueue,
	"license-capacity / In use without reservations against issued / B": csiHasNoQueue,
	"license-capacity / Queued requests / A":                            csiHasNoQueue,
}

const (
	csiHasNoServers = "FlexLM-only: a CSI source has no license servers or vendor daemons"
	csiHasNoQueue   = "FlexLM-only: a CSI source has no reservations or queue"
)

// allowedEmptyAtNight lists the panel queries that may return no data for
// the night source with one product selected, with the reason. At a
// weekday 03:00 nobody works on most products: only the demo's pinned
// sessions (ETABS and SAP2000) and a few check-outs remain.
var allowedEmptyAtNight = map[string]string{
	"license-monitor / Sessions / A":                              "a product nobody uses at night has no user series",
	"license-monitor / Sessions / B":                              "a product nobody uses at night has no user series",
	"license-monitor / Sessions / C":                              "a product nobody uses at night has no user series",
	"license-capacity / Top users by seat-hours over $window / A": "the window holds only this test's minutes of night, when a product may have no user",
}

// e2eStack is the simulator, the exporter and the sidecar, scraped by
// Debian's prometheus with alerts/ loaded. The exporter reads three
// sources: "demo" on a weekday morning, "night" at a weekday 03:00, the
// quietest the account gets, so empty panels at night are found in the
// same run, and "flex", the demo simulator's FlexLM account read through
// its fake lmutil, for the FlexLM panels.
type e2eStack struct {
	sim, night        *testenv.Simulator
	exporter, sidecar *testenv.Process
	prom              *testenv.Process
}

func startStack(t *testing.T) *e2eStack {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: starts the real binaries and prometheus")
	}
	testenv.RequireTool(t, "prometheus")
	s := &e2eStack{}
	// A simulated hour per real minute, so use moves while the test runs.
	s.sim = testenv.StartSimulator(t, "--speed=60")
	s.night = testenv.StartSimulator(t, "--speed=60", "--start-time=weekday-03:00")
	s.exporter = testenv.StartExporter(t,
		testenv.ExporterConfig("demo", s.sim.BaseURL, "poll_interval: 5s", "timeout: 4s")+
			strings.TrimPrefix(testenv.ExporterConfig("night", s.night.BaseURL, "poll_interval: 5s", "timeout: 4s"), "sources:\n")+
			strings.TrimPrefix(testenv.FlexLMExporterConfig("flex", testenv.Lmutil(t), s.sim, "poll_interval: 5s", "timeout: 4s",
				// An empty debug log: with one, the source offers denials,
				// so the denial panels read its zero counters.
				fmt.Sprintf("denials_log: %q", testenv.WriteFile(t, "flex-debug.log", ""))), "sources:\n"))
	s.sidecar = startSidecar(t, s.sim.BaseURL)

	rules := ruleCopies(t)
	quoted := make([]string, len(rules))
	for i, r := range rules {
		quoted[i] = strconv.Quote(r)
	}
	// Scrapes and rule evaluations every second, so a test minute holds
	// enough samples for rates, derivatives and quantiles.
	s.prom = testenv.StartPrometheus(t, fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%s]
scrape_configs:
  - job_name: license_exporter
    static_configs: [{targets: [%q]}]
  - job_name: license_sidecar
    static_configs: [{targets: [%q]}]
`, strings.Join(quoted, ", "), s.exporter.Addr, s.sidecar.Addr))
	return s
}

// The rewrites of the rules' copies: the capacity groups run every second
// instead of every minute and hour, and the daily, weekday and weekly rules
// write at every evaluation instead of after 00:00 UTC, on weekdays and on
// Mondays, so a test of a few minutes, on any day, sees every rule.
var ruleRewrites = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?m)^(\s+interval: )1[mh]$`), "${1}1s"},
	{regexp.MustCompile(`hour\(\) == 0`), "hour() >= 0"},
	{regexp.MustCompile(`(day_of_week\(vector\(time\(\) - 3600\)\)) >= 1 <= 5`), "$1 >= 0 <= 6"},
	{regexp.MustCompile(`day_of_week\(\) == 1`), "day_of_week() >= 0"},
}

// ruleCopies writes alerts/*.yml to a temporary directory, with
// ruleRewrites applied, and returns their paths. Each rewrite must apply.
func ruleCopies(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "alerts", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files in alerts/ (%v)", err)
	}
	dir := t.TempDir()
	applied := make([]int, len(ruleRewrites))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for i, r := range ruleRewrites {
			applied[i] += len(r.re.FindAllString(text, -1))
			text = r.re.ReplaceAllString(text, r.with)
		}
		p := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	for i, n := range applied {
		if n == 0 {
			t.Fatalf("rewrite %s matched nothing in alerts/; update ruleRewrites", ruleRewrites[i].re)
		}
	}
	return out
}

// startSidecar runs license_sidecar against the simulator, so that its
// terminations counter (at 0 for every outcome) is scraped too.
func startSidecar(t *testing.T, baseURL string) *testenv.Process {
	t.Helper()
	cfg := testenv.WriteFile(t, "license_sidecar.yml", fmt.Sprintf(`source:
  name: demo
  type: csi
  url: %q
roles:
  license_monitor: [view_monitor]
default_roles: [license_monitor]
audit_log: "-"
`, baseURL))
	addr := testenv.FreeAddr(t)
	p := testenv.Start(t, addr, testenv.Binary(t, "license_sidecar"), "--config.file="+cfg, "--web.listen-address="+addr)
	testenv.WaitHTTP(t, p, p.URL("/-/ready"), 30*time.Second)
	return p
}

// promResult is the data of a Prometheus query answer.
type promResult struct {
	ResultType string `json:"resultType"`
	Result     []struct {
		Metric map[string]string `json:"metric"`
		Value  []any             `json:"value"`
		Values [][]any           `json:"values"`
	} `json:"result"`
}

// promAPI POSTs a form to the Prometheus HTTP API and decodes the data.
func promAPI(prom *testenv.Process, path string, form url.Values, data any) error {
	resp, err := http.PostForm(prom.URL(path), form)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, env.Error)
	}
	return json.Unmarshal(env.Data, data)
}

func instantQuery(prom *testenv.Process, expr string, at time.Time) (promResult, error) {
	var r promResult
	err := promAPI(prom, "/api/v1/query", url.Values{"query": {expr}, "time": {unix(at)}}, &r)
	return r, err
}

func rangeQuery(prom *testenv.Process, expr string, start, end time.Time, step time.Duration) (promResult, error) {
	var r promResult
	err := promAPI(prom, "/api/v1/query_range", url.Values{
		"query": {expr}, "start": {unix(start)}, "end": {unix(end)}, "step": {step.String()},
	}, &r)
	return r, err
}

func unix(t time.Time) string { return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64) }

func sampleValue(t *testing.T, v []any) float64 {
	t.Helper()
	s, _ := v[1].(string)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("sample %v: %v", v, err)
	}
	return f
}

// waitForData waits until prometheus holds the exporter's series, every
// recording rule and the sidecar's counter, then until a whole minute has
// begun since: the subqueries step on minute boundaries, so their first
// step needs a sample at or before it.
func (s *e2eStack) waitForData(t *testing.T) {
	t.Helper()
	need := []string{
		`license_up{source="demo"} == 1`,
		`license_up{source="night"} == 1`,
		`license_up{source="flex"} == 1`,
		"license_user_sessions",
		ruleIssued, ruleInUse, ruleUtilisation, ruleDailyPeak,
		ruleTypeIssued1h, ruleTypeInUse1h, ruleTypeExpiry1h, ruleTypePeak1d, ruleTypePeakWeekdays,
		ruleTypePeak1w, ruleTypeExhausted1d, ruleTypeHigh1d, ruleUserSeatHours1d,
		ruleTypeUnreserved1h, ruleTypeQueued1h,
		sidecarMetric,
	}
	testenv.Eventually(t, 90*time.Second, 500*time.Millisecond, func() error {
		for _, q := range need {
			r, err := instantQuery(s.prom, q, time.Now())
			if err != nil {
				return fmt.Errorf("%s: %v", q, err)
			}
			if len(r.Result) == 0 {
				return fmt.Errorf("no data yet for %s", q)
			}
		}
		return nil
	})
	// A few more evaluations, so that rates and derivatives have two points.
	ready := time.Now().Add(3 * time.Second).Truncate(time.Minute).Add(time.Minute + 2*time.Second)
	t.Logf("data present; waiting %s for the next minute boundary", time.Until(ready).Round(time.Second))
	time.Sleep(time.Until(ready))
}

// demoAccount reads the simulator's licenses with the wire types.
func demoAccount(t *testing.T, sim *testenv.Simulator) csi.LicensesDoc {
	t.Helper()
	code, body := testenv.Get(t, sim.BaseURL+"/"+csi.PathLicenses)
	if code != http.StatusOK {
		t.Fatalf("simulator licenses: HTTP %d", code)
	}
	var doc csi.LicensesDoc
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// metricNamesServed lists the license_* metric families a /metrics page declares.
func metricNamesServed(t *testing.T, p *testenv.Process) []string {
	t.Helper()
	code, body := testenv.Get(t, p.URL("/metrics"))
	if code != http.StatusOK {
		t.Fatalf("%s /metrics: HTTP %d", p.Name, code)
	}
	var names []string
	for _, line := range strings.Split(body, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" && strings.HasPrefix(f[2], "license_") {
			names = append(names, f[2])
		}
	}
	slices.Sort(names)
	return names
}

func TestDashboardsAgainstPrometheus(t *testing.T) {
	s := startStack(t)

	s.waitForData(t)

	// Every contract metric the static tests accept is really served (after
	// the first poll, so the domain series are there).
	served := metricNamesServed(t, s.exporter)
	for _, m := range contractMetrics {
		if !slices.Contains(served, m) {
			t.Errorf("contract metric %s (queries_test.go) is not served by the exporter: %v", m, served)
		}
	}
	for _, m := range served {
		if !slices.Contains(contractMetrics, m) {
			t.Logf("the exporter also serves %s, which is not in the contract table", m)
		}
	}
	// A pending metric that is now served moves to contractMetrics, and the
	// empty panels excused for it must show data.
	for m, reason := range pendingMetrics {
		if !slices.Contains(served, m) {
			t.Logf("%s is not served yet (%s)", m, reason)
			continue
		}
		t.Errorf("the exporter serves %s: move it from pendingMetrics to contractMetrics (queries_test.go)", m)
		for k, r := range allowedEmpty {
			if r == reason {
				t.Errorf("allowedEmpty[%q] excuses it with %q: remove the entry", k, r)
			}
		}
	}
	for _, m := range sidecarMetrics {
		if got := metricNamesServed(t, s.sidecar); !slices.Contains(got, m) {
			t.Errorf("sidecar serves %v, without %s", got, m)
		}
	}
	if got := metricNamesServed(t, s.sidecar); !slices.Contains(got, sidecarMetric) {
		t.Errorf("sidecar serves %v, without %s", got, sidecarMetric)
	}

	account := demoAccount(t, s.sim)
	products := map[string]bool{}
	for _, l := range account.Licenses {
		products[l.Product] = true
	}
	// The flex source's products are the FlexLM account's features.
	flexProducts := map[string]bool{}
	for _, f := range s.sim.FlexLM(t).Features {
		flexProducts[f.Name] = true
	}

	t.Run("variables", func(t *testing.T) { checkVariables(t, s, products, flexProducts) })
	t.Run("gauge per product", func(t *testing.T) { checkGauges(t, s, account) })
	t.Run("sessions table", func(t *testing.T) { checkSessionsTable(t, s) })
	t.Run("every query", func(t *testing.T) {
		// Every source and product: nothing may be empty.
		checkEveryQuery(t, s, allowedEmpty, []map[string]string{
			withVars("source", ".*", "product", ".*", "window", WindowDefault, "horizon", HorizonDefault),
		})
		// One kind of source, or one real product of it (the value a
		// repeated panel gets). A CSI selection may leave the FlexLM panels
		// empty; a FlexLM one fills every panel, CSI's included.
		csiOne, flexOne := sortedKeys(products)[0], sortedKeys(flexProducts)[0]
		checkEveryQuery(t, s, merged(allowedEmpty, allowedEmptyForCSI), []map[string]string{
			withVars("source", "demo", "product", ".*", "window", WindowDefault, "horizon", HorizonDefault),
			withVars("source", ".*", "product", csiOne, "window", "7d", "horizon", "31536000"),
		})
		checkFlexLMOnly(t, s, withVars("source", "demo", "product", ".*", "window", WindowDefault, "horizon", HorizonDefault))
		checkEveryQuery(t, s, allowedEmpty, []map[string]string{
			withVars("source", "flex", "product", ".*", "window", WindowDefault, "horizon", HorizonDefault),
			withVars("source", ".*", "product", flexOne, "window", "7d", "horizon", "31536000"),
		})
	})
	t.Run("every query at night", func(t *testing.T) {
		checkEveryQuery(t, s, merged(allowedEmpty, allowedEmptyForCSI), []map[string]string{
			withVars("source", "night", "product", ".*", "window", WindowDefault, "horizon", HorizonDefault),
		})
		night := merged(allowedEmpty, allowedEmptyForCSI, allowedEmptyAtNight)
		for p := range products {
			checkEveryQuery(t, s, night, []map[string]string{
				withVars("source", "night", "product", p, "window", "7d", "horizon", HorizonDefault),
			})
		}
	})
}

// merged is the union of excuse lists.
func merged(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

// checkVariables runs each variable's label_values query the way Grafana
// does (the label values API with a match[] selector).
func checkVariables(t *testing.T, s *e2eStack, products, flexProducts map[string]bool) {
	all := maps.Clone(products)
	maps.Copy(all, flexProducts)
	for _, c := range loadCommitted(t) {
		for _, v := range variablesOf(c) {
			if v.Type != "query" {
				continue
			}
			sel, lbl, err := variablePromQL(v.Query)
			if err != nil {
				t.Fatal(err)
			}
			sel, err = substitute(sel, withVars("source", ".*"))
			if err != nil {
				t.Fatal(err)
			}
			code, body := testenv.Get(t, s.prom.URL("/api/v1/label/"+lbl+"/values?"+url.Values{"match[]": {sel}}.Encode()))
			var env struct {
				Data []string `json:"data"`
			}
			if code != http.StatusOK || json.Unmarshal([]byte(body), &env) != nil {
				t.Fatalf("%s variable %s: HTTP %d: %s", c.File, v.Name, code, body)
			}
			values := env.Data
			if len(values) == 0 {
				t.Errorf("%s: variable %s lists nothing", c.File, v.Name)
			}
			switch v.Name {
			case "source":
				if !slices.Equal(values, []string{"demo", "flex", "night"}) {
					t.Errorf("%s: source values %v, want [demo flex night]", c.File, values)
				}
			case "product":
				got := map[string]bool{}
				for _, p := range values {
					got[p] = true
				}
				if !mapsEqual(got, all) {
					t.Errorf("%s: product values %v, want the demo account's products and FlexLM features %v", c.File, values, sortedKeys(all))
				}
			}
		}
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// checkGauges runs the repeated gauge once per product of the demo
// account: each must show one value, and its maximum (query B) must be
// the seats the account was issued for that product.
func checkGauges(t *testing.T, s *e2eStack, account csi.LicensesDoc) {
	issued := map[string]float64{}
	for _, l := range account.Licenses {
		issued[l.Product] += float64(*l.Seats)
	}
	gauges := gaugePanels(t)
	if len(gauges) != 1 {
		t.Fatalf("want one repeated gauge panel, got %d", len(gauges))
	}
	var qs []panelQuery
	for _, q := range queriesOf(committedByUID(t, "license-monitor")) {
		if q.PanelType == "gauge" {
			qs = append(qs, q)
		}
	}
	now := time.Now()
	for product, seats := range issued {
		vals := map[string]float64{}
		for _, q := range qs {
			expr, err := substitute(q.Expr, withVars("source", "demo", "product", product))
			if err != nil {
				t.Fatal(err)
			}
			r, err := instantQuery(s.prom, expr, now)
			if err != nil || len(r.Result) != 1 {
				t.Errorf("gauge %s query %s: %d values, %v", product, q.Ref, len(r.Result), err)
				continue
			}
			vals[q.Ref] = sampleValue(t, r.Result[0].Value)
		}
		if vals["B"] != seats {
			t.Errorf("gauge %s: maximum %v, want the %v seats issued", product, vals["B"], seats)
		}
		if vals["A"] < 0 || vals["A"] > vals["B"] {
			t.Errorf("gauge %s: %v in use of %v", product, vals["A"], vals["B"])
		}
	}
}

// checkSessionsTable runs the sessions table's queries and replays its
// transformations on the fields they really return.
func checkSessionsTable(t *testing.T, s *e2eStack) {
	p, qs := sessionsTable(t)
	now := time.Now()
	var fields []string
	users := map[string]bool{}
	for _, q := range qs {
		expr, err := substitute(q.Expr, withVars("source", "demo", "product", ".*"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := instantQuery(s.prom, expr, now)
		if err != nil || len(r.Result) == 0 {
			t.Fatalf("%s: %d rows, %v", q, len(r.Result), err)
		}
		for _, row := range r.Result {
			for l := range row.Metric {
				if !slices.Contains(fields, l) {
					fields = append(fields, l)
				}
			}
			users[row.Metric["user"]] = true
		}
		fields = append(fields, "Time", "Value #"+q.Ref)
	}
	want := wantSessionColumns
	if cols := tableColumns(t, p, fields); !slices.Equal(cols, want) {
		t.Errorf("with real data the columns are %q, want %q", cols, want)
	}
	// The simulator's pinned demo sessions are always there.
	for _, u := range []string{"bob@acme.example", "carol@acme.example"} {
		if !users[u] {
			t.Errorf("user %s missing from the sessions table", u)
		}
	}
}

// checkEveryQuery executes every panel query of every dashboard, instantly
// and over the last five minutes, for each variable assignment. Each must
// succeed and return data, unless allowedEmpty says why not.
func checkEveryQuery(t *testing.T, s *e2eStack, allowedEmpty map[string]string, assignments []map[string]string) {
	end := time.Now()
	start := end.Add(-5 * time.Minute)
	n := 0
	for _, c := range loadCommitted(t) {
		uid, _ := c.JSON["uid"].(string)
		for _, q := range queriesOf(c) {
			key := fmt.Sprintf("%s / %s / %s", uid, q.Panel, q.Ref)
			reason, mayBeEmpty := allowedEmpty[key]
			for _, vars := range assignments {
				expr, err := substitute(q.Expr, vars)
				if err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				inst, err := instantQuery(s.prom, expr, end)
				if err != nil {
					t.Errorf("%s: instant: %v\n  %s", key, err, expr)
					continue
				}
				rng, err := rangeQuery(s.prom, expr, start, end, 15*time.Second)
				if err != nil {
					t.Errorf("%s: range: %v\n  %s", key, err, expr)
					continue
				}
				n += 2
				if mayBeEmpty {
					t.Logf("%s: allowed to be empty (%s): %d instant, %d range series", key, reason, len(inst.Result), len(rng.Result))
					continue
				}
				t.Logf("%s: %d instant series (first %s), %d range series", key, len(inst.Result), firstSample(inst), len(rng.Result))
				if len(inst.Result) == 0 || len(rng.Result) == 0 {
					t.Errorf("%s: no data (%d instant, %d range series)\n  %s", key, len(inst.Result), len(rng.Result), expr)
				}
			}
		}
	}
	t.Logf("%d queries executed against prometheus", n)
}

// checkFlexLMOnly runs the queries allowedEmptyForCSI excuses with a CSI
// source selected: they must be empty (the panels then say "No FlexLM
// source selected"), or the excuse would hide CSI data gone missing.
func checkFlexLMOnly(t *testing.T, s *e2eStack, csiVars map[string]string) {
	n := 0
	for _, c := range loadCommitted(t) {
		uid, _ := c.JSON["uid"].(string)
		for _, q := range queriesOf(c) {
			key := fmt.Sprintf("%s / %s / %s", uid, q.Panel, q.Ref)
			if _, ok := allowedEmptyForCSI[key]; !ok {
				continue
			}
			n++
			expr, err := substitute(q.Expr, csiVars)
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			r, err := instantQuery(s.prom, expr, time.Now())
			if err != nil || len(r.Result) != 0 {
				t.Errorf("%s: %d series for a CSI source (%v), want none\n  %s", key, len(r.Result), err, expr)
			}
		}
	}
	if n != len(allowedEmptyForCSI) {
		t.Errorf("found %d of the %d queries allowedEmptyForCSI names", n, len(allowedEmptyForCSI))
	}
}

// firstSample describes an instant result's first series, for the log.
func firstSample(r promResult) string {
	if len(r.Result) == 0 {
		return "-"
	}
	return fmt.Sprintf("%v = %v", r.Result[0].Metric, r.Result[0].Value[1])
}

// TestAllowedEmptyNamesQueries: every excuse names a panel query that
// exists, so a renamed panel cannot leave an entry that excuses nothing.
func TestAllowedEmptyNamesQueries(t *testing.T) {
	keys := map[string]bool{}
	for _, c := range loadCommitted(t) {
		uid, _ := c.JSON["uid"].(string)
		for _, q := range queriesOf(c) {
			keys[fmt.Sprintf("%s / %s / %s", uid, q.Panel, q.Ref)] = true
		}
	}
	for _, m := range []map[string]string{allowedEmpty, allowedEmptyForCSI, allowedEmptyAtNight} {
		for k, reason := range m {
			if !keys[k] {
				t.Errorf("%q (%s) names no panel query", k, reason)
			}
			if strings.TrimSpace(reason) == "" {
				t.Errorf("%q has no reason", k)
			}
		}
	}
}
