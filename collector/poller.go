package collector

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/source"
)

// Bounds of the retry schedule after a failed poll.
const (
	firstRetry  = time.Second
	maxJitter   = 2 * time.Second
	jitterShare = 10 // the first poll waits up to interval/jitterShare
	// maxPending is how many sessions a poll holds while the licenses
	// are still on their way: one page.
	maxPending = 1000
)

// stats are a source's poll counters. They outlive a Poller across a
// reload that keeps the source, so counters never go backwards.
type stats struct {
	mu          sync.Mutex
	up          bool
	polled      bool
	lastSuccess time.Time
	duration    time.Duration
	polls       uint64
	failures    map[source.Reason]uint64
	// dropped counts sessions left out of the user series, by reason.
	droppedLong, droppedLimit uint64
	denials                   *denialState // for a source with source.Denials
}

func newStats() *stats {
	s := &stats{failures: make(map[source.Reason]uint64, len(source.Reasons)), denials: newDenialState()}
	for _, r := range source.Reasons {
		s.failures[r] = 0
	}
	return s
}

// Poller polls one source in the background and keeps its latest view.
// Scrapes read the view; they never call upstream.
type Poller struct {
	cfg    config.Source
	src    source.Source
	logger *slog.Logger
	stats  *stats
	view   atomic.Pointer[view]
	now    func() time.Time
	// agg is the view builder's map, kept empty between polls; failing
	// says the last poll failed. Only the polling goroutine uses them.
	agg     map[userKey]int32
	failing bool

	cancel context.CancelFunc
	done   chan struct{}
}

// NewPoller builds a poller for one source; Start begins polling.
func NewPoller(cfg config.Source, userAgent string, logger *slog.Logger) (*Poller, error) {
	src, err := cfg.Open(userAgent)
	if err != nil {
		return nil, err
	}
	return &Poller{
		cfg:    cfg,
		src:    src,
		logger: logger.With("source", cfg.Name),
		stats:  newStats(),
		now:    time.Now,
	}, nil
}

// Name is the source's name.
func (p *Poller) Name() string { return p.cfg.Name }

// Start polls in a goroutine until Stop.
func (p *Poller) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done = make(chan struct{})
	go p.run(ctx)
}

// Stop ends polling, cancelling a poll in flight, and waits for it; then
// it closes the source if it holds something open (FlexLM's denials_log).
func (p *Poller) Stop() {
	if p.cancel == nil {
		return
	}
	p.cancel()
	<-p.done
	if c, ok := p.src.(io.Closer); ok {
		if err := c.Close(); err != nil {
			p.logger.Warn("closing the source", "err", err)
		}
	}
}

func (p *Poller) run(ctx context.Context) {
	defer close(p.done)
	interval := time.Duration(p.cfg.PollInterval)
	// Jitter spreads the first polls of many sources and replicas.
	wait := rand.N(min(interval/jitterShare, maxJitter) + 1)
	p.logger.Info("polling source", "host", p.src.Host(), "interval", interval, "first_poll_in", wait.Round(time.Millisecond))
	failures := 0
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := p.now()
		err := p.Poll(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			// After the view is stored: a slow or failing denials read
			// never delays or spoils the seat data.
			p.pollDenials(ctx, p.view.Load())
		}
		var next time.Duration
		if err == nil {
			failures = 0
			next = interval
		} else {
			failures++
			next = retryDelay(err, failures, interval)
		}
		// Intervals run start to start, so slow polls don't drift.
		timer.Reset(max(next-p.now().Sub(start), 0))
	}
}

// retryDelay is the wait after the n-th failure in a row: exponential from
// firstRetry, capped at the poll interval, never before Retry-After, and a
// full interval for a configuration problem (4xx), which retrying soon
// cannot fix.
func retryDelay(err error, n int, interval time.Duration) time.Duration {
	if source.ReasonOf(err) == source.ReasonHTTP4xx {
		return interval
	}
	d := interval
	if n < 31 {
		d = min(firstRetry<<(n-1), interval)
	}
	if ra := source.RetryAfterOf(err); ra > d {
		d = ra
	}
	return d
}

// Poll reads the source once, within the source's timeout, and updates the
// view and the counters. A failure keeps the last good view.
func (p *Poller) Poll(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(p.cfg.Timeout))
	defer cancel()
	start := p.now()
	v, unknown, drop, xdrop, err := p.read(ctx)
	took := p.now().Sub(start)
	p.failing = err != nil
	if err == nil {
		p.view.Store(v)
		if unknown > 0 {
			p.logger.Warn("sessions name licenses that /licenses does not list; they are reported under product \"unknown\"",
				"sessions", unknown)
		}
		if drop.labelTooLong > 0 {
			p.logger.Warn("sessions whose user or host is longer than max_label_length are left out of the user series",
				"sessions", drop.labelTooLong, "max_label_length", p.cfg.LabelLimit())
		}
		if xdrop.unknown > 0 {
			p.logger.Warn("the source sent series that the metric contract does not have; they are dropped",
				"series", xdrop.unknown, "names", xdrop.names)
		}
		if xdrop.tooLong > 0 {
			p.logger.Warn("source series with a label longer than max_label_length (or not UTF-8) are dropped",
				"series", xdrop.tooLong, "max_label_length", p.cfg.LabelLimit())
		}
		if drop.seriesLimit > 0 {
			p.logger.Warn("more user series than max_user_series: this poll exports none; the license series stay",
				"sessions", drop.seriesLimit, "max_user_series", p.cfg.UserSeriesLimit())
		}
	}
	s := p.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	s.polls++
	s.polled = true
	s.duration = took
	if err != nil {
		if ctx.Err() != nil && ctx.Err() != context.DeadlineExceeded {
			// Shutting down: not a failure of the source.
			s.polls--
			return err
		}
		reason := source.ReasonOf(err)
		if reason == "" {
			reason = source.ReasonConnection
		}
		s.failures[reason]++
		s.up = false
		p.logger.Error("poll failed; keeping the last good data", "reason", reason, "err", err, "duration", took.Round(time.Millisecond))
		return err
	}
	s.up = true
	s.lastSuccess = p.now()
	s.droppedLong += uint64(drop.labelTooLong)
	s.droppedLimit += uint64(drop.seriesLimit)
	p.logger.Debug("poll succeeded", "licenses", len(v.licenses), "series", len(v.users), "duration", took.Round(time.Millisecond))
	return nil
}

// read reads the licenses and the sessions, page by page, then the
// source's own series (source.ExtraSeries), into a new view, and counts
// the sessions of licenses that are not listed.
//
// While upstream answers, the licenses are fetched while the first pages
// of sessions are: a small account's poll is mostly two round trips, and
// this overlaps them. Sessions that arrive before the licenses wait in
// pending. After a failed poll the two are read one after the other, so a
// struggling upstream is not sent two requests at once. When both fail,
// the licenses' error is the poll's, as when they were read first.
func (p *Poller) read(ctx context.Context) (*view, int, dropped, extraDrops, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type licenses struct {
		snap *source.Snapshot
		err  error
	}
	licc := make(chan licenses, 1)
	fetch := func() {
		snap, err := p.src.Licenses(ctx)
		if err != nil {
			cancel() // the poll has failed; stop reading sessions
		}
		licc <- licenses{snap, err}
	}

	var (
		b       *viewBuilder
		licErr  error
		got     bool
		pending []source.Session
	)
	start := func(r licenses) {
		got = true
		if licErr = r.err; licErr != nil {
			return
		}
		hint := 0
		if last := p.view.Load(); last != nil {
			hint = len(last.users)
		}
		if p.agg == nil && p.cfg.UsersEnabled() {
			p.agg = make(map[userKey]int32, hint)
		}
		b = newViewBuilder(p.cfg.Name, r.snap, &p.cfg.Products, p.cfg.UsersEnabled(),
			limits{maxLabel: p.cfg.LabelLimit(), maxUserSeries: p.cfg.UserSeriesLimit()}, hint, p.agg)
		for i := range pending {
			b.add(&pending[i])
		}
		pending = nil
	}
	if p.failing {
		fetch()
		if start(<-licc); licErr != nil {
			return nil, 0, dropped{}, extraDrops{}, licErr
		}
	} else {
		go fetch()
	}
	err := p.src.EachSession(ctx, func(s *source.Session) {
		if !got {
			if len(pending) < maxPending {
				select {
				case r := <-licc:
					start(r)
				default:
					pending = append(pending, *s)
					return
				}
			} else {
				// A page's worth waits at most: each holds upstream's
				// strings, which may be long.
				start(<-licc)
			}
		}
		if b != nil {
			b.add(s)
			if b.err != nil {
				cancel() // the poll has failed; stop reading sessions
			}
		}
	})
	if !got {
		start(<-licc) // also waits for the goroutine
	}
	if licErr == nil && b.err != nil {
		licErr = b.err
	}
	if licErr == nil {
		licErr = err
	}
	var xdrop extraDrops
	if xs, ok := p.src.(source.ExtraSeries); ok && licErr == nil {
		// In the poll's timeout, after the sessions; a failure fails the
		// poll, so the view never pairs seats with stale extras.
		series, err := xs.Extra(ctx)
		if licErr = err; err == nil {
			b.v.extras, xdrop = buildExtras(series, &p.cfg.Products, p.cfg.LabelLimit())
		}
	}
	if licErr != nil {
		clear(p.agg)
		return nil, 0, dropped{}, extraDrops{}, licErr
	}
	drop := b.dropped()
	return b.view(), b.unknownSessions, drop, xdrop, nil
}
