package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/simulator"
	"github.com/license-monitor/license-monitor/internal/testenv"
	"github.com/license-monitor/license-monitor/source/csi"
)

// TestScrapesNeverReachUpstream: 200 scrapes, as fast as 4 concurrent
// clients (several Prometheus replicas) send them, cause no request
// upstream; the simulator counts only what the poll interval explains.
func TestScrapesNeverReachUpstream(t *testing.T) {
	const (
		scrapes  = 200
		clients  = 4
		interval = 5 * time.Second
	)
	sim := testenv.StartSimulator(t, "--scale=small")
	exp := testenv.StartExporter(t, testenv.ExporterConfig("acme", sim.BaseURL, "poll_interval: 5s", "timeout: 4s"))
	polls := func() float64 {
		v, _ := testenv.Scrape(t, exp.URL("/metrics")).Get("license_polls_total", map[string]string{"source": "acme"})
		return v
	}
	testenv.Eventually(t, 45*time.Second, 50*time.Millisecond, func() error {
		if v, _ := testenv.Scrape(t, exp.URL("/metrics")).Get("license_up", map[string]string{"source": "acme"}); v != 1 {
			return fmt.Errorf("license_up is %g", v)
		}
		return nil
	})
	// A poll reads the licenses once and each page of sessions once.
	sessions, _ := sim.State(t)["sessions"].(float64)
	pages := (int64(sessions) + csi.MaxPageSize - 1) / csi.MaxPageSize
	if pages == 0 {
		pages = 1
	}

	polls0, req0 := polls(), sim.Requests(t)
	start := time.Now()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed []string
	)
	for c := range clients {
		// Half the clients ask for gzip, as Prometheus does; half for text.
		client := &http.Client{Transport: &http.Transport{DisableCompression: c%2 == 1}}
		defer client.CloseIdleConnections()
		wg.Go(func() {
			for range scrapes / clients {
				resp, err := client.Get(exp.URL("/metrics"))
				if err != nil {
					mu.Lock()
					failed = append(failed, err.Error())
					mu.Unlock()
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`license_up{source="acme"} 1`)) {
					mu.Lock()
					failed = append(failed, fmt.Sprintf("HTTP %d, %d bytes, %v", resp.StatusCode, len(body), err))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	polls1, req1 := polls(), sim.Requests(t)
	if len(failed) > 0 {
		t.Fatalf("%d of %d scrapes failed, first: %s", len(failed), scrapes, failed[0])
	}

	// The polls that the interval allows in the burst, and one more that
	// may have been in flight at either reading.
	dp := int64(polls1 - polls0)
	allowed := int64(elapsed/interval) + 1
	lic, ses := req1[simulator.EndpointLicenses]-req0[simulator.EndpointLicenses], req1[simulator.EndpointSessions]-req0[simulator.EndpointSessions]
	t.Logf("%d scrapes from %d clients in %s: %d polls, %d licenses and %d sessions requests upstream",
		scrapes, clients, elapsed.Round(time.Millisecond), dp, lic, ses)
	if dp > allowed {
		t.Errorf("%d polls in %s; a %s interval allows %d", dp, elapsed, interval, allowed)
	}
	if lic > dp+1 || ses > (dp+1)*pages {
		t.Errorf("upstream saw %d licenses and %d sessions requests during %d polls of %d page(s): scrapes reached upstream", lic, ses, dp, pages)
	}
	// The denials read follows a poll: one page, as few denials as the
	// demo has, once per poll at most.
	if den := req1[simulator.EndpointDenials] - req0[simulator.EndpointDenials]; den > dp+1 {
		t.Errorf("upstream saw %d denials requests during %d polls: scrapes reached upstream", den, dp)
	}
}
