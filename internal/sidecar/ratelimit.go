package sidecar

import (
	"sync"
	"time"
)

// maxBuckets bounds the limiter's memory; past it, full buckets (callers
// idle long enough to have their whole burst back) are dropped.
const maxBuckets = 10000

// limiter is a token bucket per identity: a burst of `burst` requests,
// refilled at burst per interval.
type limiter struct {
	mu      sync.Mutex
	burst   float64
	perSec  float64
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter() *limiter { return &limiter{buckets: map[string]*bucket{}} }

// configure changes the limits; existing buckets keep their tokens, capped.
func (l *limiter) configure(requests int, interval time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.burst = float64(requests)
	l.perSec = float64(requests) / interval.Seconds()
	for _, b := range l.buckets {
		b.tokens = min(b.tokens, l.burst)
	}
}

// allow takes one token from key's bucket at time now.
func (l *limiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(l.burst, b.tokens+el*l.perSec)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.perSec >= l.burst {
			delete(l.buckets, k)
		}
	}
}
