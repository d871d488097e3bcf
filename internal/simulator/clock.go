package simulator

import (
	"fmt"
	"strings"
	"time"
)

// WeekdayPrefix starts a relative start time: "weekday-HH:MM" is the most
// recent Monday-to-Friday HH:MM at or before now, in the account's zone.
// Demos and tests use it so the account looks like a working day whatever
// the hour they run at, while expiry dates (set relative to the start) stay
// near the real date.
const WeekdayPrefix = "weekday-"

// ParseStart reads a start time: RFC 3339, or WeekdayPrefix+"HH:MM"
// resolved against now in loc.
func ParseStart(v string, now time.Time, loc *time.Location) (time.Time, error) {
	if clock, ok := strings.CutPrefix(v, WeekdayPrefix); ok {
		hm, err := time.Parse("15:04", clock)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: want %sHH:MM, e.g. %s10:30", v, WeekdayPrefix, WeekdayPrefix)
		}
		return MostRecentWeekday(now, loc, hm.Hour(), hm.Minute()), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want RFC 3339 (2026-12-01T10:30:00Z) or %sHH:MM", v, WeekdayPrefix)
	}
	return t, nil
}

// MostRecentWeekday is the latest Monday-to-Friday moment at hour:minute
// in loc that is not after now.
func MostRecentWeekday(now time.Time, loc *time.Location, hour, minute int) time.Time {
	local := now.In(loc)
	// A week back always holds five weekdays; the ninth day back is only
	// reached when a zone transition swallows the wanted hour.
	for back := 0; back < 9; back++ {
		t := time.Date(local.Year(), local.Month(), local.Day()-back, hour, minute, 0, 0, loc)
		if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday || t.After(now) {
			continue
		}
		return t
	}
	panic("unreachable: no weekday in nine days")
}
