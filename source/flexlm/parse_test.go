package flexlm

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the tests' server zone, whatever the machine has
)

// The parse clock of every fixture: the server's Wed 4 March 2026, 10:15.
var (
	chicago = mustZone("America/Chicago")
	parseAt = time.Date(2026, 3, 4, 10, 15, 0, 0, chicago)
)

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func at(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, chicago)
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseFixture(t *testing.T, name string) *Status {
	t.Helper()
	st, err := Parse(readFixture(t, name), parseAt, chicago)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestParseServersAndVendors(t *testing.T) {
	st := parseFixture(t, "triad.txt")
	wantServers := []Server{
		{Name: "lic-a", Up: true, Master: true, Version: "v11.19.0"},
		{Name: "lic-b", Up: true, Version: "v11.19.0"},
		{Name: "lic-c", Detail: `Cannot connect to license server system. (-15,10:111 "Connection refused")`},
	}
	if !reflect.DeepEqual(st.Servers, wantServers) {
		t.Errorf("servers\n got %+v\nwant %+v", st.Servers, wantServers)
	}
	wantVendors := []Vendor{
		{Name: "csi", Up: true, Version: "v11.19.0"},
		{Name: "ansyslmd", Detail: "The desired vendor daemon is down. (-97,121)"},
	}
	if !reflect.DeepEqual(st.Vendors, wantVendors) {
		t.Errorf("vendors\n got %+v\nwant %+v", st.Vendors, wantVendors)
	}
	if len(st.Errors) != 0 || !st.sawHeader || st.Lines != 61 {
		t.Errorf("errors %q, header %v, lines %d", st.Errors, st.sawHeader, st.Lines)
	}
}

func TestParseFeatures(t *testing.T) {
	st := parseFixture(t, "triad.txt")
	var names []string
	for _, f := range st.Features {
		names = append(names, fmt.Sprintf("%s %d/%d uncounted=%v err=%q blocks=%d", f.Name, f.Issued, f.InUse, f.Uncounted, f.Error, len(f.Blocks)))
	}
	want := []string{
		`ETABS 10/7 uncounted=false err="" blocks=1`,
		`SAP2000 6/4 uncounted=false err="" blocks=2`,
		`SAFE 0/0 uncounted=true err="" blocks=1`,
		`CSiBridge 0/0 uncounted=false err="Error: 2 licenses, unsupported by licensed server" blocks=0`,
		`CSiCol 5/0 uncounted=false err="" blocks=0`,
		`ANSYS_MECH 0/0 uncounted=false err="Cannot get users of ANSYS_MECH: The desired vendor daemon is down. (-97,121)" blocks=0`,
	}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("features\n got %q\nwant %q", names, want)
	}

	etabs := st.Features[0].Blocks[0]
	if etabs.Version != "21.0" || etabs.Vendor != "csi" || !etabs.Expiry.Equal(at(2026, 12, 31, 0, 0)) || etabs.Permanent || etabs.Type != TypeFloating {
		t.Errorf("ETABS block %+v", etabs)
	}
	wantUsers := []User{
		{Line: 25, Name: "alice", Host: "ws-01", Display: "ws-01:0.0", Version: "21.0", Server: "lic-a", Port: "27000", Handle: "101", Start: at(2026, 3, 2, 9, 41), Licenses: 1},
		// No year is printed: 31 December is last year's, a Wednesday.
		{Line: 26, Name: "bob", Host: "ws-02", Display: "/dev/pts/3 tmux", Version: "21.0", Server: "lic-a", Port: "27000", Handle: "202", Start: at(2025, 12, 31, 16, 0), Licenses: 2},
		// 4 March this year is a Wednesday: the Tuesday is last year's.
		{Line: 27, Name: "carol", Host: "laptop-7", Display: "laptop-7", Version: "21.0", Server: "lic-a", Port: "27000", Handle: "303", Start: at(2025, 3, 4, 9, 0), Licenses: 1, Borrowed: true, Linger: 2592000 * time.Second},
		{Line: 28, Name: "dan", Host: "ws-04", Display: "ws-04", Version: "21.0", Server: "lic-b", Port: "27000", Handle: "404", Start: at(2026, 3, 4, 10, 2), Licenses: 1, PID: 4711},
	}
	if !reflect.DeepEqual(etabs.Users, wantUsers) {
		t.Errorf("ETABS users\n got %+v\nwant %+v", etabs.Users, wantUsers)
	}
	wantQueued := []User{
		{Line: 31, Name: "erin", Host: "ws-05", Display: "ws-05", Version: "21.0", Server: "lic-a", Port: "27000", Handle: "505", Licenses: 1},
		{Line: 32, Name: "frank", Host: "ws-06", Display: "ws-06", Version: "21.0", Server: "lic-a", Port: "27000", Handle: "606", Licenses: 2},
	}
	if !reflect.DeepEqual(etabs.Queued, wantQueued) {
		t.Errorf("ETABS queued\n got %+v\nwant %+v", etabs.Queued, wantQueued)
	}
	wantRes := []Reservation{{1, "GROUP", "structures", "lic-a"}, {1, "HOST", "ws-09", "lic-a"}}
	if !reflect.DeepEqual(etabs.Reservations, wantRes) {
		t.Errorf("ETABS reservations %+v", etabs.Reservations)
	}

	sap := st.Features[1].Blocks
	if sap[0].Version != "24.0" || sap[0].Type != TypeFloating || !sap[0].Expiry.Equal(at(2026, 6, 30, 0, 0)) ||
		len(sap[0].Users) != 1 || sap[0].Users[0].Name != "gina" || !reflect.DeepEqual(sap[0].Reservations, []Reservation{{2, "USER", "hank", "lic-a"}}) {
		t.Errorf("SAP2000 v24.0 block %+v", sap[0])
	}
	if sap[1].Version != "23.1" || sap[1].Type != TypeNodelocked || !sap[1].Permanent || !sap[1].Expiry.IsZero() ||
		len(sap[1].Users) != 1 || !sap[1].Users[0].Start.Equal(at(2026, 2, 26, 17, 30)) {
		t.Errorf("SAP2000 v23.1 block %+v", sap[1])
	}
	safe := st.Features[2].Blocks[0]
	if safe.Type != TypeUncounted || !safe.Permanent || len(safe.Users) != 1 || !safe.Users[0].Start.Equal(at(2026, 3, 4, 7, 15)) {
		t.Errorf("SAFE block %+v", safe)
	}
}

// Every line the parser did not understand is recorded, for the probe.
func TestParseRecordsSkippedLines(t *testing.T) {
	st := parseFixture(t, "triad.txt")
	want := []Skipped{
		{60, "    kim ws-11 ws-11 (v21.0) lic-a/27000 999, start Mon 3/2 9:00"},
		{61, "This line is not lmstat's: the probe lists it."},
	}
	if !reflect.DeepEqual(st.Skipped, want) || st.SkippedTotal != 2 {
		t.Errorf("skipped %+v (%d)", st.Skipped, st.SkippedTotal)
	}
	// Cut at a character boundary, without the CR.
	st, _ = Parse([]byte(strings.Repeat("a", skippedText-1)+"é\r\nshort\r\n"), parseAt, chicago)
	if st.Skipped[0].Text != strings.Repeat("a", skippedText-1) || st.Skipped[1].Text != "short" {
		t.Errorf("skipped %+v", st.Skipped)
	}
	// A line past maxLineLen is skipped unread, even one that would parse.
	huge := "    alice ws-01 " + strings.Repeat(" (v", maxLineLen) + " (v21.0) (lic-a/27000 101), start Mon 3/2 9:41\n"
	st, err := Parse([]byte("Users of F:  (Total of 1 license issued;  Total of 1 license in use)\n"+huge), parseAt, chicago)
	if err != nil || st.SkippedTotal != 1 || len(st.Features[0].Blocks) != 0 {
		t.Errorf("a huge line: %v, %d skipped, %+v", err, st.SkippedTotal, st.Features)
	}
	long := "x" + strings.Repeat("y", 300) + "\n"
	st, err = Parse([]byte(strings.Repeat(long, maxSkipped+5)), parseAt, chicago)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Skipped) != maxSkipped || st.SkippedTotal != maxSkipped+5 || len(st.Skipped[0].Text) != skippedText || st.Skipped[maxSkipped-1].Line != maxSkipped {
		t.Errorf("%d kept of %d, first %d characters", len(st.Skipped), st.SkippedTotal, len(st.Skipped[0].Text))
	}
}

func TestParseCRLF(t *testing.T) {
	st := parseFixture(t, "crlf.txt")
	if len(st.Skipped) != 0 || len(st.Servers) != 1 || !st.Servers[0].Up || st.Servers[0].Master || st.Servers[0].Version != "v11.18.2" {
		t.Fatalf("skipped %+v, servers %+v", st.Skipped, st.Servers)
	}
	f := st.Features[0]
	if f.Name != "ETABS" || f.Issued != 1 || f.InUse != 1 || len(f.Blocks) != 1 {
		t.Fatalf("feature %+v", f)
	}
	u := f.Blocks[0].Users[0]
	if u.Name != "alice" || u.Host != "WS-01" || u.Display != "WS-01" || !u.Start.Equal(at(2026, 3, 4, 8, 5)) || !f.Blocks[0].Expiry.Equal(at(2027, 1, 15, 0, 0)) {
		t.Errorf("user %+v, expiry %v", u, f.Blocks[0].Expiry)
	}
}

// Start times carry no year: the most recent past date whose weekday
// matches, in the server's zone, relative to the clock passed in.
func TestStartTimeInference(t *testing.T) {
	p := newParser(parseAt, chicago)
	for _, tc := range []struct {
		wd, md, hm string
		want       time.Time // zero: refused
	}{
		{"Wed", "3/4", "10:15", at(2026, 3, 4, 10, 15)},
		{"Wed", "3/4", "11:00", at(2026, 3, 4, 11, 0)}, // the server's clock runs ahead
		{"Thu", "3/5", "9:00", at(2026, 3, 5, 9, 0)},   // a day ahead is still clock skew
		{"Thu", "3/5", "13:00", time.Time{}},           // past the slack, on the day just read: never from the cache
		{"Wed", "3/5", "9:00", at(2025, 3, 5, 9, 0)},   // not this year's Thursday: last year's Wednesday
		{"Tue", "3/4", "9:00", at(2025, 3, 4, 9, 0)},
		{"Wed", "12/31", "23:59", at(2025, 12, 31, 23, 59)},
		{"Wed", "12/31", "1:00", at(2025, 12, 31, 1, 0)}, // the cached year, another hour
		{"Thu", "12/31", "8:00", time.Time{}},            // the cache is by weekday too
		{"Sat", "2/29", "12:00", at(2020, 2, 29, 12, 0)}, // leap days: 2024's was a Thursday
		{"Fri", "2/29", "12:00", time.Time{}},            // neither of the last two leap days
		{"Tue", "3/2", "9:41", time.Time{}},              // 2026's is a Monday, 2025's a Sunday
		{"Xyz", "3/4", "9:00", time.Time{}},
		{"Wed", "13/4", "9:00", time.Time{}},
		{"Wed", "3/4", "24:00", time.Time{}},
		{"Wed", "2/30", "9:00", time.Time{}},
		{"Wed", "3/4", "9", time.Time{}},
	} {
		got, ok := p.startTime(tc.wd, tc.md, tc.hm)
		if ok != !tc.want.IsZero() || !got.Equal(tc.want) {
			t.Errorf("%s %s %s: %v %v, want %v", tc.wd, tc.md, tc.hm, got, ok, tc.want)
		}
	}
	// The same line read a year later is a year older.
	p = newParser(parseAt.AddDate(1, 0, 0), chicago) // Thu 4 March 2027
	if got, _ := p.startTime("Wed", "3/4", "10:15"); !got.Equal(at(2026, 3, 4, 10, 15)) {
		t.Errorf("a year later: %v", got)
	}
}

// User lines the parser must refuse rather than misread.
func TestParseUserRefusals(t *testing.T) {
	p := newParser(parseAt, chicago)
	for _, line := range []string{
		"alice ws-01 ws-01 (v21.0) (lic-a/27000 101), start Mon 3/2 9:41, zero licenses",
		"alice ws-01 ws-01 (v21.0) (lic-a/27000 101), start Mon 3/2 9:41, 0 licenses",
		"alice ws-01 ws-01 (v21.0) (lic-a/27000 101), start Mon 3/2 9:41 trailing words",
		"alice ws-01 ws-01 (v21.0) (lic-a/27000 101), start Tue 3/2 9:41", // wrong weekday in both years tried
		"alice ws-01 ws-01 (v21.0) (lic-a/port 101), start Mon 3/2 9:41",
		"alice ws-01 ws-01 (v21.0) (lic-a/27000 101) queued for many licenses",
		"alice (v21.0) (lic-a/27000 101), start Mon 3/2 9:41",
		"alice ws-01 ws-01 (v21.0) (lic-a/27000 101), start Mon 3/2 9:41 (linger: -5 / 2)",
	} {
		if u, _, ok := p.parseUser(line); ok {
			t.Errorf("%q read as %+v", line, u)
		}
	}
	// A display holding " (v" is passed over for the real version.
	u, _, ok := p.parseUser("alice ws-01 term (v2) x (v21.0) (lic-a/27000 101), start Mon 3/2 9:41")
	if !ok || u.Display != "term (v2) x" || u.Version != "21.0" {
		t.Errorf("%+v %v", u, ok)
	}
}

func TestParseExpiry(t *testing.T) {
	for in, want := range map[string]string{
		"31-dec-2026":                   "2026-12-31T00:00:00-06:00",
		"1-JAN-2030":                    "2030-01-01T00:00:00-06:00",
		"permanent":                     "permanent",
		"permanent(no expiration date)": "permanent",
		"1-jan-0":                       "permanent",
		"1-jan-00":                      "permanent",
		"31-feb-2026":                   "refused",
		"31-dec":                        "refused",
		"x-dec-2026":                    "refused",
	} {
		exp, perm, ok := parseExpiry(in, chicago)
		got := exp.Format(time.RFC3339)
		switch {
		case !ok:
			got = "refused"
		case perm:
			got = "permanent"
		}
		if got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
}

// The bounds hold: output past them fails instead of growing without end.
func TestParseBounds(t *testing.T) {
	defer func(u, f int) { maxUsers, maxFeatures = u, f }(maxUsers, maxFeatures)
	maxUsers, maxFeatures = 1000, 100
	var b strings.Builder
	b.WriteString("Users of F:  (Total of 1 license issued;  Total of 1 license in use)\n")
	for i := 0; i < maxUsers; i++ {
		b.WriteString("    1 RESERVATION for USER u (lic-a/27000)\n")
	}
	if _, err := Parse([]byte(b.String()), parseAt, chicago); err != nil {
		t.Errorf("at the bound: %v", err)
	}
	b.WriteString("    1 RESERVATION for USER u (lic-a/27000)\n")
	if _, err := Parse([]byte(b.String()), parseAt, chicago); err != errTooMany {
		t.Errorf("users: %v", err)
	}
	b.Reset()
	b.WriteString("Users of F:  (Total of 1 license issued;  Total of 1 license in use)\n")
	for i := 0; i <= maxUsers; i++ {
		b.WriteString("  \"F\" v1, vendor: csi, expiry: permanent\n")
	}
	if _, err := Parse([]byte(b.String()), parseAt, chicago); err != errTooMany {
		t.Errorf("version blocks: %v", err)
	}
	if _, err := Parse([]byte(strings.Repeat("Error getting status: x\n", maxServers+1)), parseAt, chicago); err != errTooMany {
		t.Errorf("status errors: %v", err)
	}
	b.Reset()
	for i := 0; i <= maxFeatures; i++ {
		fmt.Fprintf(&b, "Users of F%d:  (Uncounted, node-locked)\n", i)
	}
	if _, err := Parse([]byte(b.String()), parseAt, chicago); err != errTooMany {
		t.Errorf("features: %v", err)
	}
	b.Reset()
	b.WriteString("License server status: 27000@a\n")
	for i := 0; i <= maxServers; i++ {
		fmt.Fprintf(&b, "s%d: license server UP\n", i)
	}
	if _, err := Parse([]byte(b.String()), parseAt, chicago); err != errTooMany {
		t.Errorf("servers: %v", err)
	}
}

// On the day daylight saving time starts, times from the cache are the
// zone's wall clock too, before and after the change.
func TestStartTimeAcrossZoneChanges(t *testing.T) {
	p := newParser(at(2026, 3, 20, 12, 0), chicago)
	for i := 0; i < 2; i++ { // the first fills the cache, the second reads it
		for hm, want := range map[string]string{"1:30": "2026-03-08 01:30 CST", "3:30": "2026-03-08 03:30 CDT", "23:00": "2026-03-08 23:00 CDT"} {
			got, ok := p.startTime("Sun", "3/8", hm)
			if s := got.In(chicago).Format("2006-01-02 15:04 MST"); !ok || s != want {
				t.Errorf("round %d, %s: %s, want %s", i, hm, s, want)
			}
		}
		if got, _ := p.startTime("Mon", "3/9", "9:00"); got.In(chicago).Format("15:04 MST") != "09:00 CDT" {
			t.Errorf("the day after: %v", got)
		}
	}
}
