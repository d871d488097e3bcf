package collector

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/internal/simulator"
)

// BenchmarkFirstGzipScrape measures what the first gzip scrape after a
// poll pays on top of a steady one: compressing the new view, once. The
// report of `make bench` measures steady scrapes.
func BenchmarkFirstGzipScrape(b *testing.B) {
	for _, tier := range []simulator.Tier{simulator.TierLarge, simulator.TierHuge} {
		b.Run(string(tier), func(b *testing.B) {
			sim, err := simulator.New(simulator.Options{Tier: tier, Seed: 1, Start: time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)})
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(sim.Handler())
			defer srv.Close()
			defer sim.Close()
			cfg, err := config.LoadExporter([]byte("sources:\n  - name: bench\n    url: "+srv.URL+simulator.APIPrefix+"\n    timeout: 50s\n    max_response_bytes: 268435456\n"), b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			p, err := NewPoller(cfg.Sources[0], "bench", slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Poll(context.Background()); err != nil {
				b.Fatal(err)
			}
			polled := p.view.Load()
			b.ReportAllocs()
			for b.Loop() {
				v := &view{source: polled.source, licenses: polled.licenses, users: polled.users}
				if err := writeGzip(io.Discard, []*view{v}, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
