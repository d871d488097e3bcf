// Package collector turns polled License Monitor snapshots into the
// metric contract. Each source is polled in the background; Collect only
// reads the latest snapshot, so a scrape never calls upstream.
package collector

import (
	"log/slog"
	"reflect"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/source"
)

// Collector exports every configured source.
type Collector struct {
	userAgent string
	logger    *slog.Logger

	mu      sync.RWMutex
	pollers []*Poller
}

// New returns a Collector with no sources; Apply sets them.
func New(userAgent string, logger *slog.Logger) *Collector {
	return &Collector{userAgent: userAgent, logger: logger}
}

// Apply makes cfg the running configuration. Sources whose config is
// unchanged keep polling undisturbed; changed ones restart with their
// counters kept; removed ones stop. On error nothing changes.
func (c *Collector) Apply(cfg *config.Exporter) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := make(map[string]*Poller, len(c.pollers))
	for _, p := range c.pollers {
		old[p.Name()] = p
	}
	next := make([]*Poller, 0, len(cfg.Sources))
	var fresh []*Poller
	for _, src := range cfg.Sources {
		if p, ok := old[src.Name]; ok && reflect.DeepEqual(p.cfg, src) {
			next = append(next, p)
			delete(old, src.Name)
			continue
		}
		p, err := NewPoller(src, c.userAgent, c.logger)
		if err != nil {
			return err
		}
		if prev, ok := old[src.Name]; ok {
			p.stats = prev.stats
			if v := prev.view.Load(); v != nil && reflect.DeepEqual(prev.cfg.Products, src.Products) && prev.cfg.UsersEnabled() == src.UsersEnabled() {
				p.view.Store(v)
			}
		}
		next = append(next, p)
		fresh = append(fresh, p)
	}
	// old now holds the pollers that were removed or replaced.
	for _, p := range old {
		p.Stop()
	}
	for _, p := range fresh {
		p.Start()
	}
	c.pollers = next
	return nil
}

// Stop stops every poller and waits for them.
func (c *Collector) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.pollers {
		p.Stop()
	}
	c.pollers = nil
}

// Describe sends every descriptor of the contract.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect sends the latest good data of each source and its poll health,
// as const metrics built fresh. The exporter's /metrics uses Handler,
// which renders the same series without building them.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.snapshotPollers() {
		if v := p.view.Load(); v != nil {
			v.collect(ch)
		}
		p.collectHealth(ch)
	}
}

func (c *Collector) snapshotPollers() []*Poller {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.pollers
}

// healthCollector is the poll health of every source, without the domain
// series: what Handler gathers through client_golang.
type healthCollector struct{ c *Collector }

func (h healthCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range healthDescs {
		ch <- d
	}
}

func (h healthCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range h.c.snapshotPollers() {
		p.collectHealth(ch)
	}
}

func (p *Poller) collectHealth(ch chan<- prometheus.Metric) {
	name := p.cfg.Name
	s := p.stats
	s.mu.Lock()
	up, polled, last, took, polls := s.up, s.polled, s.lastSuccess, s.duration, s.polls
	long, limit := s.droppedLong, s.droppedLimit
	failures := make([]uint64, len(source.Reasons))
	for i, r := range source.Reasons {
		failures[i] = s.failures[r]
	}
	var denialFailures []uint64
	var denials []denialSample
	_, hasDenials := p.src.(source.Denials)
	if hasDenials {
		denialFailures, denials = s.denials.snapshot()
	}
	s.mu.Unlock()

	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, boolFloat(up), name)
	if !last.IsZero() {
		ch <- prometheus.MustNewConstMetric(lastSuccessDesc, prometheus.GaugeValue, float64(last.UnixNano())/1e9, name)
	}
	if polled {
		ch <- prometheus.MustNewConstMetric(pollDurationDesc, prometheus.GaugeValue, took.Seconds(), name)
	}
	ch <- prometheus.MustNewConstMetric(pollsDesc, prometheus.CounterValue, float64(polls), name)
	for i, r := range source.Reasons {
		ch <- prometheus.MustNewConstMetric(pollFailuresDesc, prometheus.CounterValue, float64(failures[i]), name, string(r))
	}
	ch <- prometheus.MustNewConstMetric(userSessionsDroppedDesc, prometheus.CounterValue, float64(long), name, dropLabelTooLong)
	ch <- prometheus.MustNewConstMetric(userSessionsDroppedDesc, prometheus.CounterValue, float64(limit), name, dropSeriesLimit)
	if !hasDenials {
		return
	}
	for i, r := range source.Reasons {
		ch <- prometheus.MustNewConstMetric(denialReadFailuresDesc, prometheus.CounterValue, float64(denialFailures[i]), name, string(r))
	}
	for _, d := range denials {
		k := d.key
		ch <- prometheus.MustNewConstMetric(denialsDesc, prometheus.CounterValue, float64(d.n), name, k.product, k.edition, k.licenseType, string(k.reason))
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
