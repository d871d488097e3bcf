package dashboards

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/license-monitor/license-monitor/internal/testenv"
)

// TestRecommendedSeats runs the renewal table's formula (RecommendedSeats)
// with Debian's promtool, the engine users run, on daily samples made for
// each side of its two thresholds: denials on more than 5 % of weekdays,
// every seat in use more than 1 hour a week.
func TestRecommendedSeats(t *testing.T) {
	promtool := testenv.RequireTool(t, "promtool")
	expr, err := substitute(RecommendedSeats(), withVars("source", ".*", "product", ".*", "window", "30d"))
	if err != nil {
		t.Fatal(err)
	}
	type pool struct {
		name                         string
		issued, peaks, hours, denied string // promtool series values, one a day
		want                         int
	}
	pools := []pool{
		// Denials on 2 of 21 weekdays: short. max(10, 10) + max(1, ⌈1⌉).
		{"denied", "10x20", "10x20", "0x20", "0x18 1 1", 11},
		// One of 21 (4.8 %): not short, so ⌈p95⌉ of peaks 6..8.
		{"rarely_denied", "10x20", "6 7 8x18", "0x20", "0x19 1", 8},
		// 0.3 h a day at 100 %, 2.1 h a week: short. 40 + ⌈4⌉.
		{"full_often", "40x20", "30x20", "0.3x20", "0x20", 44},
		// 0.14 h a day, 0.98 h a week: not short; the peak's p95, 39.
		{"full_briefly", "40x20", "39x20", "0.14x20", "0x20", 39},
		// Never near full: fewer seats than issued.
		{"spare", "25x20", "10+0.25x20", "0x20", "0x20", 15},
		// Short, with the weekday peak above issued (an overdraft):
		// max(12, 13) + ⌈1.2⌉.
		{"overdrawn", "12x20", "13x20", "2x20", "1x20", 15},
	}
	var in, exp strings.Builder
	for _, p := range pools {
		l := fmt.Sprintf(`source="acme",product="P",edition="E",license_type=%q`, p.name)
		for _, s := range []struct{ rule, values, extra string }{
			{ruleTypeIssued1h, p.issued, ""},
			{ruleTypePeakWeekdays, p.peaks, ""},
			{ruleTypeExhausted1d, p.hours, ""},
			{ruleTypeDeniedDays, p.denied, `,reason="no_seat_available"`},
			// Other reasons never make a license type short.
			{ruleTypeDeniedDays, "1x20", `,reason="not_in_license_group"`},
		} {
			fmt.Fprintf(&in, "      - series: '%s{%s%s}'\n        values: '%s'\n", s.rule, l, s.extra, s.values)
		}
		fmt.Fprintf(&exp, "          - labels: '{%s}'\n            value: %d\n", l, p.want)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "empty.yml"), []byte("groups: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	test := fmt.Sprintf(`rule_files: [empty.yml]
evaluation_interval: 1d
tests:
  - interval: 1d
    input_series:
%s    promql_expr_test:
      - expr: %q
        eval_time: 20d
        exp_samples:
%s`, in.String(), expr, exp.String())
	file := filepath.Join(dir, "recommend_test.yml")
	if err := os.WriteFile(file, []byte(test), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "test", "rules", file)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool: %v\n%s\nthe test file:\n%s", err, out, test)
	}
}
