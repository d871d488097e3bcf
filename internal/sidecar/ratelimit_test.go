package sidecar

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	l := newLimiter()
	l.configure(3, time.Minute) // a burst of 3, one more every 20s
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		if !l.allow("bob", t0) {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	if l.allow("bob", t0) {
		t.Fatal("the 4th request at once was allowed")
	}
	// Identities are exact (internal/identity): BOB is another identity.
	if !l.allow("BOB", t0.Add(19*time.Second)) {
		t.Fatal("identities differing in case shared a bucket")
	}
	if !l.allow("carol", t0) {
		t.Fatal("one identity's limit held back another's")
	}
	if !l.allow("bob", t0.Add(20*time.Second)) {
		t.Fatal("no token back after a third of the interval")
	}
	if l.allow("bob", t0.Add(21*time.Second)) {
		t.Fatal("more than one token back after 20s")
	}
	// A long idle refills to the burst, not beyond.
	t1 := t0.Add(time.Hour)
	for i := 0; i < 3; i++ {
		if !l.allow("bob", t1) {
			t.Fatalf("request %d after a long idle refused", i+1)
		}
	}
	if l.allow("bob", t1) {
		t.Fatal("idle time built up more than the burst")
	}
	// Lowering the limit caps existing buckets.
	l.configure(1, time.Hour)
	if !l.allow("carol", t1) || l.allow("carol", t1) {
		t.Fatal("a lowered limit was not applied to an existing bucket")
	}
}

func TestLimiterMemoryBounded(t *testing.T) {
	l := newLimiter()
	l.configure(1, time.Second)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < maxBuckets; i++ {
		l.allow(fmt.Sprint("user", i), t0)
	}
	// Once their buckets are full again, the idle callers are dropped.
	l.allow("late", t0.Add(time.Minute))
	if n := len(l.buckets); n > 1 {
		t.Fatalf("%d buckets kept after a sweep, want 1", n)
	}
}
