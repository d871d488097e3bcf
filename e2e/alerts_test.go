package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/testenv"
	"github.com/license-monitor/license-monitor/source"
	"github.com/license-monitor/license-monitor/source/csi"
)

// The alert rules and the example Alertmanager config, proven with real
// parts: the simulator and the exporter as built binaries, Debian's
// prometheus loading alerts/, and Debian's alertmanager running
// deploy/alertmanager/alertmanager.yml, which delivers to a webhook here.
// The only changes to those files are rewrites of copies: shorter `for:`,
// shorter grouping waits, and receiver URLs pointing at the test.

// testFor replaces every `for:`. It is long enough that startup blips (no
// scrape yet, so absent(up)) stay pending, and short enough to be quick.
const testFor = "3s"

var (
	alertLineRE = regexp.MustCompile(`(?m)^\s+- alert: (\S+)$`)
	forLineRE   = regexp.MustCompile(`(?m)^(\s+for: )\S+$`)
	// The capacity groups record every minute and hour; the test's
	// Prometheus evaluates them every second, as the dashboards' test does.
	intervalLineRE = regexp.MustCompile(`(?m)^(\s+interval: )1[mh]$`)
	urlLineRE      = regexp.MustCompile(`(?m)^\s+(?:- )?url: .*$`)
	amURLRE        = regexp.MustCompile(`(?m)^(\s+- url: )http://[^/\s]+(/\S*)?$`)
	amTimingRE     = regexp.MustCompile(`(?m)^(\s+(?:group_wait|group_interval): )\S+$`)
	headingRE      = regexp.MustCompile(`(?m)^## (\S+)$`)
)

// The contract of issue 4 (and issue 13's FlexLM alerts): alert names and
// their severities, and the recording rules.
var (
	contractAlerts = map[string][]string{
		"LicenseSeatsExhausted":      {"critical"},
		"LicenseSaturationHigh":      {"warning"},
		"LicenseExhaustionPredicted": {"warning"},
		"LicenseExpiringSoon":        {"critical", "warning"},
		"LicenseSourceDown":          {"warning"},
		"LicenseDataStale":           {"critical"},
		"LicenseExporterDown":        {"critical"},
		"LicenseSidecarAuditFailing": {"critical"},
		"LicenseSidecarLoginFlood":   {"warning"},
		"LicenseUserSeriesDropped":   {"warning"},
		"LicenseDenials":             {"warning"},
		"LicenseDenialsUnreadable":   {"warning"},
		"LicenseServerDown":          {"warning"},
		"LicenseVendorDaemonDown":    {"critical"},
	}
	contractRecords = []string{
		"source_product_edition:license_seats_in_use:max_over_time1d",
		"source_product_edition:license_seats_in_use:sum",
		"source_product_edition:license_seats_issued:sum",
		"source_product_edition:license_seats_utilisation:ratio",
		"source_product_edition_license_type:license_denials:any1d_weekdays",
		"source_product_edition_license_type:license_denials:increase1d",
		"source_product_edition_license_type:license_denials:increase1h",
		"source_product_edition_license_type:license_expiry_timestamp_seconds:min1h",
		"source_product_edition_license_type:license_queued_requests:max1h",
		"source_product_edition_license_type:license_queued_requests:sum",
		"source_product_edition_license_type:license_seats_exhausted:bool",
		"source_product_edition_license_type:license_seats_exhausted:hours1d",
		"source_product_edition_license_type:license_seats_in_use:max1d",
		"source_product_edition_license_type:license_seats_in_use:max1d_weekdays",
		"source_product_edition_license_type:license_seats_in_use:max1h",
		"source_product_edition_license_type:license_seats_in_use:max1w",
		"source_product_edition_license_type:license_seats_in_use:sum",
		"source_product_edition_license_type:license_seats_issued:max1h",
		"source_product_edition_license_type:license_seats_issued:sum",
		"source_product_edition_license_type:license_seats_saturation_high:bool",
		"source_product_edition_license_type:license_seats_saturation_high:hours1d",
		"source_product_edition_license_type:license_seats_unreserved_in_use:max1h",
		"source_product_edition_license_type:license_seats_unreserved_in_use:sum",
		"source_product_edition_user:license_user_seat_hours:sum1d",
		"source_product_edition_user:license_user_seat_hours:sum1h",
	}
)

const runbookURL = "https://github.com/license-monitor/license-monitor/blob/main/alerts/runbook.md#"

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ruleCopies writes alerts/rules.yml and alerts/alerts.yml to a temporary
// directory, with every `for:` set to testFor, and returns their paths.
func ruleCopies(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	rules := readRepoFile(t, "alerts/rules.yml")
	alerts := readRepoFile(t, "alerts/alerts.yml")
	nAlerts := len(alertLineRE.FindAllString(alerts, -1))
	if nFor := len(forLineRE.FindAllString(alerts, -1)); nAlerts == 0 || nFor != nAlerts {
		t.Fatalf("alerts.yml has %d alerts and %d `for:` lines; the rewrite expects one each", nAlerts, nFor)
	}
	alerts = forLineRE.ReplaceAllString(alerts, "${1}"+testFor)
	if len(intervalLineRE.FindAllString(rules, -1)) == 0 {
		t.Fatal("rules.yml has no 1m or 1h group interval; update the rewrite")
	}
	rules = intervalLineRE.ReplaceAllString(rules, "${1}1s")
	var paths []string
	for name, content := range map[string]string{"rules.yml": rules, "alerts.yml": alerts} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// amConfigCopy is deploy/alertmanager/alertmanager.yml with each receiver's
// URL moved to base (keeping its path) and the grouping waits at 1s.
func amConfigCopy(t *testing.T, base string) string {
	t.Helper()
	cfg := readRepoFile(t, "deploy/alertmanager/alertmanager.yml")
	nURL := len(urlLineRE.FindAllString(cfg, -1))
	if n := len(amURLRE.FindAllString(cfg, -1)); n == 0 || n != nURL {
		t.Fatalf("alertmanager.yml: %d of %d url lines are webhook URLs the test can redirect", n, nURL)
	}
	if n := len(amTimingRE.FindAllString(cfg, -1)); n != 2 {
		t.Fatalf("alertmanager.yml: want one group_wait and one group_interval at the top, found %d", n)
	}
	cfg = amURLRE.ReplaceAllString(cfg, "${1}"+base+"${2}")
	return amTimingRE.ReplaceAllString(cfg, "${1}1s")
}

// amAlert is one alert of Alertmanager's webhook payload (version 4).
type amAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type amNotification struct {
	Receiver string    `json:"receiver"`
	Status   string    `json:"status"`
	Alerts   []amAlert `json:"alerts"`
}

// webhook records what Alertmanager delivers.
type webhook struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []amNotification
	bad []string
}

func startWebhook(t *testing.T) *webhook {
	w := &webhook{}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var n amNotification
		err := json.NewDecoder(r.Body).Decode(&n)
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil {
			w.bad = append(w.bad, err.Error())
			http.Error(rw, "bad payload", http.StatusBadRequest)
			return
		}
		if r.URL.Path != "/"+n.Receiver {
			w.bad = append(w.bad, fmt.Sprintf("receiver %s delivered to %s", n.Receiver, r.URL.Path))
		}
		w.got = append(w.got, n)
	}))
	t.Cleanup(w.srv.Close)
	return w
}

// find returns the first alert delivered to receiver with the given
// status whose labels include match; "" matches any receiver or status.
func (w *webhook) find(receiver, status string, match map[string]string) (amAlert, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range w.got {
		if receiver != "" && n.Receiver != receiver {
			continue
		}
		for _, a := range n.Alerts {
			if (status == "" || a.Status == status) && labelsInclude(a.Labels, match) {
				return a, true
			}
		}
	}
	return amAlert{}, false
}

func (w *webhook) summary() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var lines []string
	for _, n := range w.got {
		for _, a := range n.Alerts {
			lines = append(lines, fmt.Sprintf("%s %s %v", n.Receiver, a.Status, a.Labels))
		}
	}
	return strings.Join(lines, "\n")
}

func labelsInclude(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// getJSON GETs url and decodes the body into v.
func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// amAPIAlert is one alert of Alertmanager's GET /api/v2/alerts.
type amAPIAlert struct {
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	Status      struct {
		State       string   `json:"state"`
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status"`
}

func amAlerts(am *testenv.Process) ([]amAPIAlert, error) {
	var out []amAPIAlert
	err := getJSON(am.URL("/api/v2/alerts"), &out)
	return out, err
}

func findAMAlert(alerts []amAPIAlert, match map[string]string) (amAPIAlert, bool) {
	for _, a := range alerts {
		if labelsInclude(a.Labels, match) {
			return a, true
		}
	}
	return amAPIAlert{}, false
}

// promRule is one rule of Prometheus' GET /api/v1/rules.
type promRule struct {
	Type        string            `json:"type"`
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Health      string            `json:"health"`
	LastError   string            `json:"lastError"`
}

func promRules(prom *testenv.Process) ([]promRule, error) {
	var body struct {
		Data struct {
			Groups []struct {
				Rules []promRule `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := getJSON(prom.URL("/api/v1/rules"), &body); err != nil {
		return nil, err
	}
	var out []promRule
	for _, g := range body.Data.Groups {
		out = append(out, g.Rules...)
	}
	return out, nil
}

// promQueryCount runs an instant query and returns how many series it gave.
func promQueryCount(prom *testenv.Process, q string) (int, error) {
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := getJSON(prom.URL("/api/v1/query?query="+url.QueryEscape(q)), &body); err != nil {
		return 0, err
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("query %s: status %s", q, body.Status)
	}
	return len(body.Data.Result), nil
}

type productEdition struct{ product, edition string }

// seatTotals sums what the simulator itself serves by product and edition.
func seatTotals(s *source.Snapshot) (issued, inUse map[productEdition]int64) {
	issued, inUse = map[productEdition]int64{}, map[productEdition]int64{}
	for _, l := range s.Licenses {
		k := productEdition{l.Product, l.Edition}
		issued[k] += l.Seats
		inUse[k] += l.InUse
	}
	return issued, inUse
}

func exhausted(issued, inUse map[productEdition]int64) map[productEdition]bool {
	out := map[productEdition]bool{}
	for k, n := range issued {
		if n > 0 && inUse[k] >= n {
			out[k] = true
		}
	}
	return out
}

// checkRuleMetadata checks what Prometheus loaded against the contract:
// the alert names and severities, the recording names, every alert's
// annotations, and a runbook section behind every runbook_url.
func checkRuleMetadata(t *testing.T, rules []promRule) {
	t.Helper()
	anchors := map[string]bool{}
	for _, m := range headingRE.FindAllStringSubmatch(readRepoFile(t, "alerts/runbook.md"), -1) {
		anchors[strings.ToLower(m[1])] = true
	}
	severities := map[string][]string{}
	var records []string
	for _, r := range rules {
		if r.Type == "recording" {
			records = append(records, r.Name)
			continue
		}
		severities[r.Name] = append(severities[r.Name], r.Labels["severity"])
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("alert %s (%s) has no %s annotation", r.Name, r.Labels["severity"], a)
			}
		}
		anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbookURL)
		if !ok || !anchors[anchor] {
			t.Errorf("alert %s: runbook_url %q is not a section of alerts/runbook.md", r.Name, r.Annotations["runbook_url"])
		}
	}
	for name := range severities {
		sort.Strings(severities[name])
	}
	if fmt.Sprint(severities) != fmt.Sprint(contractAlerts) {
		t.Errorf("alerts and severities:\n got %v\nwant %v", severities, contractAlerts)
	}
	sort.Strings(records)
	if !slices.Equal(records, contractRecords) {
		t.Errorf("recording rules:\n got %v\nwant %v", records, contractRecords)
	}
}

func TestAlertsReachAlertmanager(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	testenv.RequireTool(t, "prometheus")
	testenv.RequireTool(t, "prometheus-alertmanager")
	const source = "acme"
	// The same simulator's FlexLM account, read through its fake lmutil.
	const flexSource = "flex"
	const wait, poll = 90 * time.Second, 200 * time.Millisecond

	hook := startWebhook(t)
	am := testenv.StartAlertmanager(t, amConfigCopy(t, hook.srv.URL))

	// A still account: no churn, and idle ends every session that is
	// neither pinned nor checked out, so nothing the test looks for is
	// full before it saturates.
	sim := testenv.StartSimulator(t, "--no-churn")
	sim.SetLoad(t, "idle")
	fullBefore := exhausted(seatTotals(sim.Read(t, csi.Options{})))

	exp := testenv.StartExporter(t, testenv.ExporterConfig(source, sim.BaseURL, "poll_interval: 5s", "timeout: 4s")+
		strings.TrimPrefix(testenv.FlexLMExporterConfig(flexSource, testenv.Lmutil(t), sim, "poll_interval: 5s", "timeout: 4s"), "sources:\n"))
	// Prometheus starts only after the first good polls, so the license_up 0
	// of a fresh exporter can't pass for the faults below.
	testenv.Eventually(t, 30*time.Second, poll, func() error {
		m, err := testenv.TryScrape(exp.URL("/metrics"))
		if err != nil {
			return err
		}
		for _, src := range []string{source, flexSource} {
			if v, ok := m.Get("license_up", map[string]string{"source": src}); !ok || v != 1 {
				return fmt.Errorf("license_up{source=%q} is not 1 yet", src)
			}
		}
		return nil
	})

	ruleFiles := ruleCopies(t)
	prom := testenv.StartPrometheus(t, fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q, %q]
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%q]
scrape_configs:
  - job_name: license_exporter
    static_configs:
      - targets: [%q]
`, ruleFiles[0], ruleFiles[1], am.Addr, exp.Addr))

	// Both files loaded and evaluating on real data.
	testenv.Eventually(t, wait, poll, func() error {
		n, err := promQueryCount(prom, "source_product_edition:license_seats_utilisation:ratio")
		if err == nil && n == 0 {
			err = fmt.Errorf("no utilisation recorded yet")
		}
		return err
	})
	rules, err := promRules(prom)
	if err != nil {
		t.Fatal(err)
	}
	checkRuleMetadata(t, rules)

	// Saturation: the pools the simulator fills run out of seats.
	sim.SetLoad(t, "saturate")
	issued, inUse := seatTotals(sim.Read(t, csi.Options{}))
	var newlyFull []productEdition
	for k := range exhausted(issued, inUse) {
		if !fullBefore[k] {
			newlyFull = append(newlyFull, k)
		}
	}
	if len(newlyFull) == 0 {
		t.Fatal("saturate exhausted no product and edition that wasn't already full")
	}
	exhaustedFP := map[string]bool{}
	for _, k := range newlyFull {
		want := map[string]string{
			"alertname": "LicenseSeatsExhausted", "severity": "critical",
			"source": source, "product": k.product, "edition": k.edition,
		}
		var got amAlert
		testenv.Eventually(t, wait, poll, func() error {
			var ok bool
			if got, ok = hook.find("license-critical", "firing", want); !ok {
				return fmt.Errorf("no firing %v at license-critical; delivered so far:\n%s", want, hook.summary())
			}
			return nil
		})
		if !maps.Equal(got.Labels, want) {
			t.Errorf("LicenseSeatsExhausted labels:\n got %v\nwant %v", got.Labels, want)
		}
		desc := fmt.Sprintf("%s %s at source %s has %d seats in use, every seat it was issued.", k.product, k.edition, source, inUse[k])
		if !strings.HasPrefix(got.Annotations["description"], desc) {
			t.Errorf("description %q does not start with %q", got.Annotations["description"], desc)
		}
		if got.Annotations["runbook_url"] != runbookURL+"licenseseatsexhausted" {
			t.Errorf("runbook_url %q", got.Annotations["runbook_url"])
		}

		// Exhausted inhibits LicenseSaturationHigh for the same seats.
		testenv.Eventually(t, wait, poll, func() error {
			alerts, err := amAlerts(am)
			if err != nil {
				return err
			}
			ex, ok := findAMAlert(alerts, want)
			if !ok {
				return fmt.Errorf("Alertmanager has no %v", want)
			}
			exhaustedFP[ex.Fingerprint] = true
			sat, ok := findAMAlert(alerts, map[string]string{
				"alertname": "LicenseSaturationHigh", "source": source, "product": k.product, "edition": k.edition,
			})
			if !ok {
				return fmt.Errorf("Alertmanager has no LicenseSaturationHigh for %v", k)
			}
			if sat.Status.State != "suppressed" || !slices.Contains(sat.Status.InhibitedBy, ex.Fingerprint) {
				return fmt.Errorf("LicenseSaturationHigh for %v is %s, inhibited by %v; want suppressed by %s",
					k, sat.Status.State, sat.Status.InhibitedBy, ex.Fingerprint)
			}
			return nil
		})
	}

	// A refusal: LicenseDenials reaches the warning receiver for its
	// edition. The counter started at 0, so one denial is an increase.
	var denied csi.LicenseDoc
	for _, l := range sim.Read(t, csi.Options{}).Licenses {
		if l.Product != "" {
			denied = csi.LicenseDoc{ID: l.ID, Product: l.Product, Edition: l.Edition}
			break
		}
	}
	testenv.Eventually(t, wait, poll, func() error {
		n, err := promQueryCount(prom, fmt.Sprintf(`license_denials_total{product=%q,edition=%q}`, denied.Product, denied.Edition))
		if err == nil && n == 0 {
			err = fmt.Errorf("Prometheus has no zero license_denials_total for %s %s yet", denied.Product, denied.Edition)
		}
		return err
	})
	sim.AddDenial(t, map[string]any{"license_id": denied.ID, "user": "e2e@acme.example", "host": "WS-E2E"})
	wantDenials := map[string]string{
		"alertname": "LicenseDenials", "severity": "warning",
		"source": source, "product": denied.Product, "edition": denied.Edition,
	}
	testenv.Eventually(t, wait, poll, func() error {
		a, ok := hook.find("license-warning", "firing", wantDenials)
		if !ok {
			return fmt.Errorf("no firing %v at license-warning; delivered so far:\n%s", wantDenials, hook.summary())
		}
		if !maps.Equal(a.Labels, wantDenials) || a.Annotations["runbook_url"] != runbookURL+"licensedenials" {
			return fmt.Errorf("LicenseDenials %v %v", a.Labels, a.Annotations)
		}
		return nil
	})

	// Now on real data, every rule evaluates without error (a many-to-many
	// match, say, would show here).
	rules, err = promRules(prom)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.Health != "ok" {
			t.Errorf("rule %s: health %q: %s", r.Name, r.Health, r.LastError)
		}
	}

	// FlexLM: one triad member down fires LicenseServerDown, the poll still
	// good. Switching the fault to a vendor daemon down resolves it and
	// fires LicenseVendorDaemonDown; clearing the fault resolves that.
	for _, name := range []string{"LicenseServerDown", "LicenseVendorDaemonDown"} {
		if _, ok := hook.find("", "", map[string]string{"alertname": name}); ok {
			t.Fatalf("%s was delivered while the FlexLM servers were all up:\n%s", name, hook.summary())
		}
	}
	flexAlert := func(receiver, status, runbook string, want map[string]string) {
		t.Helper()
		testenv.Eventually(t, wait, poll, func() error {
			a, ok := hook.find(receiver, status, want)
			if !ok {
				return fmt.Errorf("no %s %v at %s; delivered so far:\n%s", status, want, receiver, hook.summary())
			}
			if !maps.Equal(a.Labels, want) || a.Annotations["runbook_url"] != runbookURL+runbook {
				return fmt.Errorf("%s: labels %v, runbook_url %q; want %v, %s", want["alertname"], a.Labels, a.Annotations["runbook_url"], want, runbook)
			}
			return nil
		})
	}
	wantServerDown := map[string]string{
		"alertname": "LicenseServerDown", "severity": "warning",
		"source": flexSource, "server": "flex-c", "job": "license_exporter", "instance": exp.Addr,
	}
	sim.SetFlexLMFault(t, map[string]any{"kind": "server_down", "server": "flex-c"})
	flexAlert("license-warning", "firing", "licenseserverdown", wantServerDown)
	wantVendorDown := map[string]string{
		"alertname": "LicenseVendorDaemonDown", "severity": "critical",
		"source": flexSource, "vendor": "tidalsim", "job": "license_exporter", "instance": exp.Addr,
	}
	sim.SetFlexLMFault(t, map[string]any{"kind": "vendor_down", "vendor": "tidalsim"})
	flexAlert("license-critical", "firing", "licensevendordaemondown", wantVendorDown)
	flexAlert("license-warning", "resolved", "licenseserverdown", wantServerDown)
	sim.ClearFlexLMFault(t)
	flexAlert("license-critical", "resolved", "licensevendordaemondown", wantVendorDown)

	// A 5xx fault: the source goes down, and says so.
	sim.SetFault(t, map[string]any{"kind": "http_5xx"})
	wantDown := map[string]string{
		"alertname": "LicenseSourceDown", "severity": "warning",
		"source": source, "job": "license_exporter", "instance": exp.Addr,
	}
	var down amAlert
	testenv.Eventually(t, wait, poll, func() error {
		var ok bool
		if down, ok = hook.find("license-warning", "firing", wantDown); !ok {
			return fmt.Errorf("no firing %v at license-warning; delivered so far:\n%s", wantDown, hook.summary())
		}
		return nil
	})
	if !maps.Equal(down.Labels, wantDown) {
		t.Errorf("LicenseSourceDown labels:\n got %v\nwant %v", down.Labels, wantDown)
	}
	// The source being down inhibits nothing: the seat alerts, on the last
	// good snapshot, stay active next to it.
	alerts, err := amAlerts(am)
	if err != nil {
		t.Fatal(err)
	}
	downAM, ok := findAMAlert(alerts, wantDown)
	if !ok {
		t.Fatalf("Alertmanager has no %v", wantDown)
	}
	for _, a := range alerts {
		if slices.Contains(a.Status.InhibitedBy, downAM.Fingerprint) {
			t.Errorf("LicenseSourceDown inhibits %v", a.Labels)
		}
		if exhaustedFP[a.Fingerprint] && a.Status.State != "active" {
			t.Errorf("%v is %s while the source is down; want active", a.Labels, a.Status.State)
		}
	}

	sim.ClearFault(t)
	testenv.Eventually(t, wait, poll, func() error {
		if _, ok := hook.find("license-warning", "resolved", wantDown); !ok {
			return fmt.Errorf("LicenseSourceDown not resolved yet")
		}
		return nil
	})

	// The exporter goes away: Prometheus' own `up` says so.
	if err := exp.Stop(); err != nil {
		t.Logf("exporter exit: %v", err)
	}
	wantExpDown := map[string]string{
		"alertname": "LicenseExporterDown", "severity": "critical",
		"job": "license_exporter", "instance": exp.Addr,
	}
	testenv.Eventually(t, wait, poll, func() error {
		a, ok := hook.find("license-critical", "firing", wantExpDown)
		if !ok {
			return fmt.Errorf("no firing %v at license-critical", wantExpDown)
		}
		if !maps.Equal(a.Labels, wantExpDown) {
			return fmt.Errorf("LicenseExporterDown labels %v, want %v", a.Labels, wantExpDown)
		}
		return nil
	})

	// Inhibited alerts were never delivered.
	for _, k := range newlyFull {
		sat := map[string]string{"alertname": "LicenseSaturationHigh", "source": source, "product": k.product, "edition": k.edition}
		if _, ok := hook.find("license-warning", "firing", sat); ok {
			t.Errorf("an inhibited %v was delivered", sat)
		}
	}
	hook.mu.Lock()
	if len(hook.bad) > 0 {
		t.Errorf("bad webhook deliveries: %v", hook.bad)
	}
	hook.mu.Unlock()
}
