package simulator

import (
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/source/csi"
)

func countAt(t *testing.T, seed int64, at time.Time, loc *time.Location) (sessions int, lic csi.LicensesDoc) {
	h := start(t, Options{Seed: seed, Start: at, Churn: true, Location: loc})
	lic = h.licenses()
	sess := h.sessions(1000, nil)
	checkInvariants(t, lic, sess, true)
	return len(sess), lic
}

func TestWorkingHoursShape(t *testing.T) {
	sunday11 := wed11.AddDate(0, 0, 4)
	for seed := int64(1); seed <= 5; seed++ {
		peak, _ := countAt(t, seed, wed11, nil)
		night, _ := countAt(t, seed, wed11.Add(-8*time.Hour), nil)
		sunday, _ := countAt(t, seed, sunday11, nil)
		t.Logf("seed %d: Wed 11:00 %d, Wed 03:00 %d, Sun 11:00 %d sessions", seed, peak, night, sunday)
		if peak <= 2*night || peak <= 2*sunday {
			t.Errorf("seed %d: Wed 11:00 has %d sessions, Wed 03:00 %d, Sun 11:00 %d", seed, peak, night, sunday)
		}
	}
}

// The account's working hours are in its time zone: 11:00 UTC is 06:00 in
// New York, before the office opens there.
func TestWorkingHoursFollowTimezone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tz database:", err)
	}
	utc, _ := countAt(t, 1, wed11, time.UTC)
	early, _ := countAt(t, 1, wed11, ny)
	late, _ := countAt(t, 1, wed11.Add(5*time.Hour), ny) // 11:00 in New York
	if !(early*2 < utc && early*2 < late) {
		t.Fatalf("11:00 UTC: %d sessions in UTC, %d in New York; 16:00 UTC in New York %d", utc, early, late)
	}
}

// Each weekday's peak hours saturate ETABS Ultimate: in_use == seats, and
// never more.
func TestSaturationAtWeekdayPeak(t *testing.T) {
	for seed := int64(1); seed <= 3; seed++ {
		mon := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
		h := start(t, Options{Seed: seed, Start: mon, Churn: true})
		for d := range 5 {
			full := 0
			for q := range 7 * 4 { // 09:00 to 16:00 each quarter hour
				lic := h.licenses()
				for _, l := range lic.Licenses {
					if l.ID == "L-ETABS-ULT-1" && *l.InUse == *l.Seats {
						full++
					}
				}
				if q < 7*4-1 {
					h.clock.Advance(15 * time.Minute)
				}
			}
			if full == 0 {
				t.Errorf("seed %d, day %d: ETABS Ultimate never full between 09:00 and 16:00", seed, d)
			}
			h.clock.Advance(17*time.Hour + 15*time.Minute)
		}
	}
}
