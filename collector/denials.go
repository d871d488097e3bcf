package collector

import (
	"context"
	"errors"
	"hash/maphash"
	"slices"
	"time"

	"github.com/license-monitor/license-monitor/source"
)

// maxDenialIDs bounds the denial ids a source remembers to deduplicate:
// 100,000 ids are kept as 64-bit hashes with their time, about 4 MiB.
// Past it, the oldest quarter is forgotten and events older than the
// newest forgotten one are no longer counted (see denialState.floor), so
// a forgotten event sent again is never counted twice.
const maxDenialIDs = 100_000

// maxDenialSeries bounds license_denials_total's series per source, in
// case upstream names far more products, editions or types than it lists.
const maxDenialSeries = 10_000

// denialKey is one license_denials_total series, beside source.
type denialKey struct {
	product, edition, licenseType string
	reason                        source.DenialReason
}

// denialState is a source's denial counters and what deduplicates them.
// Like stats, it outlives a Poller across a reload that keeps the source,
// so the counters never go backwards and no event is counted twice.
//
// The counters are guarded by stats.mu. The rest is used only by the
// polling goroutine (one at a time: Apply stops the old poller before the
// new one starts).
type denialState struct {
	// supported is false while the source answers that the account keeps
	// no denials: license_denials_total is then not exported.
	supported bool
	// started says the first read is done. Its events, recorded before
	// the exporter watched, are remembered but not counted, so every
	// counter starts at 0 and the first denial seen is an increase.
	started  bool
	counts   map[denialKey]uint64
	failures map[source.Reason]uint64

	seed  maphash.Seed
	seen  map[uint64]int64 // id hash -> the event's time, Unix nanoseconds
	floor time.Time        // events before it are not counted (forgotten ids)
	// newest is the newest event's time, on the source's clock.
	newest time.Time
	// notBefore honours upstream's Retry-After for the denials read.
	notBefore time.Time
}

func newDenialState() *denialState {
	d := &denialState{
		supported: true,
		counts:    map[denialKey]uint64{},
		failures:  make(map[source.Reason]uint64, len(source.Reasons)),
		seed:      maphash.MakeSeed(),
		seen:      map[uint64]int64{},
	}
	for _, r := range source.Reasons {
		d.failures[r] = 0
	}
	return d
}

// denialsSince is where a read starts: the newest event seen or the
// source's generated_at, the earlier of the two, minus overlap. Both are
// upstream's clock, never the exporter's: a clock that runs behind or
// ahead of ours must not open a gap. The earlier one, so that an event
// stamped in the future does not pull the window past late ones. Zero
// (no since) when neither is known.
func denialsSince(newest, generatedAt time.Time, overlap time.Duration) time.Time {
	t := newest
	if t.IsZero() || (!generatedAt.IsZero() && generatedAt.Before(t)) {
		t = generatedAt
	}
	if t.IsZero() {
		return t
	}
	return t.Add(-overlap)
}

// pollDenials reads the source's denials after a good poll stored v, in
// a context of its own bounded by the source's timeout. Its failure never
// touches the poll's health (license_up): it is counted in
// license_denials_read_failures_total and logged.
func (p *Poller) pollDenials(ctx context.Context, v *view) {
	src, ok := p.src.(source.Denials)
	if !ok || v == nil {
		return
	}
	d := p.stats.denials
	if p.now().Before(d.notBefore) {
		return
	}
	since := denialsSince(d.newest, v.generatedAt, time.Duration(p.cfg.DenialsOverlap))
	if since.Before(d.floor) {
		since = d.floor
	}
	// Ids older than the window are not asked for again: forget them.
	if !since.IsZero() {
		cut := since.UnixNano()
		for h, at := range d.seen {
			if at < cut {
				delete(d.seen, h)
			}
		}
		d.floor = since
	}

	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, time.Duration(p.cfg.Timeout))
	defer cancel()
	fresh := map[denialKey]uint64{}
	newest := d.newest
	err := src.EachDenial(ctx, since, func(e *source.Denial) {
		if e.Time.Before(d.floor) || !p.cfg.Products.Match(e.Product) {
			return
		}
		h := maphash.String(d.seed, e.ID)
		if _, dup := d.seen[h]; dup {
			return
		}
		d.seen[h] = e.Time.UnixNano()
		if e.Time.After(newest) {
			newest = e.Time
		}
		if d.started {
			fresh[denialKey{e.Product, e.Edition, e.LicenseType, e.Reason}]++
		}
	})
	d.newest = newest
	d.trim()

	s := p.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	// Events read before a failure (or a shutdown, when a reload hands the
	// state on) are real and now remembered: count them.
	dropped := 0
	for k, n := range fresh {
		if _, ok := d.counts[k]; !ok && len(d.counts) >= maxDenialSeries {
			dropped += int(n)
			continue
		}
		d.counts[k] += n
	}
	if dropped > 0 {
		p.logger.Warn("denials of more label sets than the limit are not counted", "limit", maxDenialSeries, "denials", dropped)
	}
	switch {
	case parent.Err() != nil:
		return // shutting down: not a failure of the source
	case errors.Is(err, source.ErrNotSupported):
		if d.supported {
			p.logger.Info("the source's account keeps no denials; license_denials_total is not exported for it")
		}
		d.supported = false
		return
	case err != nil:
		reason := source.ReasonOf(err)
		if reason == "" {
			reason = source.ReasonConnection
		}
		d.failures[reason]++
		if ra := source.RetryAfterOf(err); ra > 0 {
			d.notBefore = p.now().Add(ra)
		}
		p.logger.Warn("denials read failed; the seat data is not affected", "reason", reason, "err", err)
		return
	}
	d.supported = true
	d.started = true
	// Every listed (product, edition, license type) and reason starts at 0.
	for i := range v.licenses {
		l := &v.licenses[i]
		for _, r := range source.DenialReasons {
			k := denialKey{l.Product, l.Edition, l.Type, r}
			if _, ok := d.counts[k]; !ok {
				d.counts[k] = 0
			}
		}
	}
}

// trim keeps at most maxDenialIDs ids, forgetting the oldest quarter
// when over, and raises floor so that none of them is counted again.
func (d *denialState) trim() {
	if len(d.seen) <= maxDenialIDs {
		return
	}
	ats := make([]int64, 0, len(d.seen))
	for _, at := range d.seen {
		ats = append(ats, at)
	}
	slices.Sort(ats)
	cut := ats[len(ats)-maxDenialIDs*3/4]
	for h, at := range d.seen {
		if at < cut {
			delete(d.seen, h)
		}
	}
	if t := time.Unix(0, cut); t.After(d.floor) {
		d.floor = t
	}
}

// denialSample is one license_denials_total series, copied for a scrape.
type denialSample struct {
	key denialKey
	n   uint64
}

// snapshot copies the counters for a scrape; the caller holds stats.mu.
// samples is nil when license_denials_total is not exported.
func (d *denialState) snapshot() (failures []uint64, samples []denialSample) {
	failures = make([]uint64, len(source.Reasons))
	for i, r := range source.Reasons {
		failures[i] = d.failures[r]
	}
	if !d.supported || !d.started {
		return failures, nil
	}
	samples = make([]denialSample, 0, len(d.counts))
	for k, n := range d.counts {
		samples = append(samples, denialSample{k, n})
	}
	return failures, samples
}
