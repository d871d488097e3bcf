package collector

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/license-monitor/license-monitor/internal/exposition"
)

// HandlerOpts configure Handler.
type HandlerOpts struct {
	// ErrorLog logs what the other collectors fail to gather; the rest is
	// still served. nil discards.
	ErrorLog *slog.Logger
	// MaxRequestsInFlight bounds concurrent scrapes; a scrape over it gets
	// 503. 0: no bound.
	MaxRequestsInFlight int
	// StallTimeout and WriteTimeout bound how long a scraper that stops
	// reading keeps its slot; see internal/exposition's HandlerOpts.
	StallTimeout, WriteTimeout time.Duration
}

// Handler serves the exposition of every source's latest view and poll
// health, and of the collectors in others, which must not hold c.
//
// It exists for size: promhttp would gather each domain series as a
// client_model message first, which at 580,000 series (the huge tier)
// takes seconds and hundreds of MiB a scrape. Here internal/exposition
// renders the domain series straight from the views' rows (view.Render)
// and compresses each view once for every gzip scrape. The output is what
// promhttp would write for the same series (TestHandlerMatchesPromhttp).
func (c *Collector) Handler(others prometheus.Gatherer, opts HandlerOpts) http.Handler {
	health := prometheus.NewRegistry()
	health.MustRegister(healthCollector{c})
	g := prometheus.Gatherers{health}
	if others != nil {
		g = append(g, others)
	}
	return exposition.NewHandler(exposedFamilies, c.renderers, g, exposition.HandlerOpts{
		ErrorLog:            opts.ErrorLog,
		MaxRequestsInFlight: opts.MaxRequestsInFlight,
		StallTimeout:        opts.StallTimeout,
		WriteTimeout:        opts.WriteTimeout,
	})
}

// exposedFamilies are the domain families as the engine serves them; the
// index of each is its fam constant, as view.Render takes it.
var exposedFamilies = func() []exposition.Family {
	fs := make([]exposition.Family, numFamilies)
	for f := range fs {
		fs[f] = exposition.Family{Name: families[f].name, Help: families[f].help, Type: dto.MetricType_GAUGE}
	}
	return fs
}()

// renderers returns the latest view of each source that has one.
func (c *Collector) renderers() []exposition.Renderer {
	pollers := c.snapshotPollers()
	rs := make([]exposition.Renderer, 0, len(pollers))
	for _, p := range pollers {
		if v := p.view.Load(); v != nil {
			rs = append(rs, v)
		}
	}
	return rs
}
