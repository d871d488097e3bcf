package deploycheck

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/testenv"
)

// TestTwoPrometheusReplicasOnePoll backs deploy/README.md: two Prometheus
// replicas scrape one exporter, and upstream still sees one poll per
// poll_interval, whatever the number of scrapes.
func TestTwoPrometheusReplicasOnePoll(t *testing.T) {
	sim := testenv.StartSimulator(t)
	exp := testenv.StartExporter(t, testenv.ExporterConfig("acme", sim.BaseURL, "poll_interval: 5s", "timeout: 4s"))
	cfg := func(replica string) string {
		return fmt.Sprintf(`global:
  scrape_interval: 1s
  external_labels: {replica: %s}
scrape_configs:
  - job_name: license_exporter
    static_configs: [{targets: [%q]}]
`, replica, exp.Addr)
	}
	replicas := []*testenv.Process{testenv.StartPrometheus(t, cfg("a")), testenv.StartPrometheus(t, cfg("b"))}

	scrapes := func(p *testenv.Process) int {
		q := url.QueryEscape(`count_over_time(up{job="license_exporter"}[5m])`)
		_, body := testenv.Get(t, p.URL("/api/v1/query?query="+q))
		m := regexp.MustCompile(`"value":\[[0-9.]+,"([0-9]+)"\]`).FindStringSubmatch(body)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	// Eight scrapes from each replica: over 5s, so at least one poll too.
	testenv.Eventually(t, 60*time.Second, 500*time.Millisecond, func() error {
		for i, p := range replicas {
			if n := scrapes(p); n < 8 {
				return fmt.Errorf("replica %d has scraped %d times", i, n)
			}
		}
		return nil
	})
	total := scrapes(replicas[0]) + scrapes(replicas[1])
	m := testenv.Scrape(t, exp.URL("/metrics"))
	polls, _ := m.Get("license_polls_total", map[string]string{"source": "acme"})
	upstream := sim.Requests(t)["licenses"]
	t.Logf("%d scrapes from two replicas, %g polls, %d upstream /licenses requests", total, polls, upstream)
	if polls < 1 || float64(upstream) > polls+1 {
		// +1: a poll may be in flight between the two reads.
		t.Errorf("upstream saw %d /licenses requests for %g polls", upstream, polls)
	}
	if float64(total) < 2*polls {
		t.Errorf("%d scrapes and %g polls: scrapes should not drive polls", total, polls)
	}
}
