package collector

import (
	"io"
	"log/slog"
	"testing"

	"github.com/license-monitor/license-monitor/internal/config"
)

func loadConfig(t *testing.T, yaml string) *config.Exporter {
	t.Helper()
	cfg, err := config.LoadExporter([]byte(yaml), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A reload keeps unchanged sources polling undisturbed, restarts changed
// ones with their counters, and stops removed ones.
func TestApplyKeepsUnchangedSources(t *testing.T) {
	c := New("test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer c.Stop()
	// Port 1 refuses connections; polls fail fast and that is fine here.
	const a = "  - name: a\n    url: http://127.0.0.1:1/v1?key=x\n    products: {include: 'ETABS|SAFE'}\n"
	const b = "  - name: b\n    url: http://127.0.0.1:1/v1\n"
	if err := c.Apply(loadConfig(t, "sources:\n"+a+b)); err != nil {
		t.Fatal(err)
	}
	pa, pb := c.pollers[0], c.pollers[1]
	pb.stats.mu.Lock()
	pb.stats.polls = 41
	pb.stats.mu.Unlock()

	if err := c.Apply(loadConfig(t, "sources:\n"+a+b+"    poll_interval: 30s\n")); err != nil {
		t.Fatal(err)
	}
	if c.pollers[0] != pa {
		t.Error("an unchanged source was restarted by a reload")
	}
	if c.pollers[1] == pb {
		t.Error("a changed source kept its old poller")
	}
	if c.pollers[1].stats.polls < 41 {
		t.Errorf("a changed source's counters went back to %d", c.pollers[1].stats.polls)
	}
	if err := c.Apply(loadConfig(t, "sources:\n"+b)); err != nil {
		t.Fatal(err)
	}
	if len(c.pollers) != 1 || c.pollers[0].Name() != "b" {
		t.Fatalf("after removing a: %d pollers", len(c.pollers))
	}
	select {
	case <-pa.done:
	default:
		t.Error("the removed source's poller still runs")
	}
}
