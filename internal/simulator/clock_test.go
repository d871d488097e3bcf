package simulator

import (
	"strings"
	"testing"
	"time"
)

func TestMostRecentWeekday(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name string
		now  string
		loc  *time.Location
		want string
	}{
		{"later the same weekday", "2026-12-02T11:00:00Z", time.UTC, "2026-12-02T10:30:00Z"},
		{"exactly then", "2026-12-02T10:30:00Z", time.UTC, "2026-12-02T10:30:00Z"},
		{"earlier the same weekday", "2026-12-02T10:29:59Z", time.UTC, "2026-12-01T10:30:00Z"},
		{"Monday night goes back to Friday", "2026-11-30T03:00:00Z", time.UTC, "2026-11-27T10:30:00Z"},
		{"Saturday", "2026-11-28T15:00:00Z", time.UTC, "2026-11-27T10:30:00Z"},
		{"Sunday", "2026-11-29T23:59:00Z", time.UTC, "2026-11-27T10:30:00Z"},
		// 03:00 UTC on Wednesday is Tuesday evening in New York.
		{"the account's zone decides the day", "2026-12-02T03:00:00Z", ny, "2026-12-01T15:30:00Z"},
		// Clocks went back on 2026-11-01 in New York: 10:30 EST is 15:30 UTC.
		{"after a zone transition", "2026-11-02T16:00:00Z", ny, "2026-11-02T15:30:00Z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := MostRecentWeekday(utc(c.now), c.loc, 10, 30)
			if !got.Equal(utc(c.want)) {
				t.Errorf("MostRecentWeekday(%s) = %s, want %s", c.now, got.UTC().Format(time.RFC3339), c.want)
			}
			if got.After(utc(c.now)) {
				t.Errorf("%s lies after now", got)
			}
		})
	}
}

func TestParseStart(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC) // a Saturday
	got, err := ParseStart("weekday-09:00", now, time.UTC)
	if err != nil || !got.Equal(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("weekday-09:00 = %s, %v; want Friday 09:00", got, err)
	}
	got, err = ParseStart("2026-01-02T03:04:05+01:00", now, time.UTC)
	if err != nil || !got.Equal(time.Date(2026, 1, 2, 2, 4, 5, 0, time.UTC)) {
		t.Errorf("RFC 3339 = %s, %v", got, err)
	}
	for _, bad := range []string{"", "weekday-", "weekday-25:00", "weekday-9", "tomorrow", "2026-01-02"} {
		if _, err := ParseStart(bad, now, time.UTC); err == nil || !strings.Contains(err.Error(), "RFC 3339") && !strings.Contains(err.Error(), "HH:MM") {
			t.Errorf("ParseStart(%q) = %v, want an error naming the forms", bad, err)
		}
	}
}
