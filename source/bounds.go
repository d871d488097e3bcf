package source

import (
	"math"
	"time"
)

// Bounds of a session's start, as docs/architecture.md pins them. A start
// outside them is invalid data: the read fails as ReasonInvalid. They
// never involve this program's clock, which may differ from upstream's
// (the simulator's runs fast); only upstream's own generated_at.
var (
	// MinSessionStart is the earliest start accepted: no license session
	// of a cloud License Monitor predates it.
	MinSessionStart = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	// maxSessionStart is the latest start that Unix nanoseconds can hold
	// (2262-04-11), the collector's unit: past it a start would overflow.
	maxSessionStart = time.Unix(0, math.MaxInt64).UTC()
)

// MaxStartAhead is how far past upstream's generated_at a session may
// start: clock skew between upstream's servers, not a session from the
// future.
const MaxStartAhead = 24 * time.Hour

// StartInBounds reports whether a session that starts at start is
// plausible in a snapshot generated at generatedAt (upstream's clock; zero
// when upstream sent none, and then only the fixed bounds apply).
func StartInBounds(start, generatedAt time.Time) bool {
	if start.Before(MinSessionStart) || start.After(maxSessionStart) {
		return false
	}
	return generatedAt.IsZero() || !start.After(generatedAt.Add(MaxStartAhead))
}
