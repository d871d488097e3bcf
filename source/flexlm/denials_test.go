package flexlm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/source"
)

func TestParseDenied(t *testing.T) {
	var got []string
	for _, name := range []string{"debug-denied.log", "debug-denied-crlf.log"} {
		for _, line := range strings.Split(string(readFixture(t, name)), "\n") {
			d, ok := parseDenied(line)
			if !ok {
				continue
			}
			got = append(got, fmt.Sprintf("%d %s %s@%s %d %s", d.clock, d.feature, d.user, d.host, d.code, d.reason))
		}
	}
	want := []string{
		"50531 87545ACD_2024_0F bob@ws-12 -4 no_seat_available",
		"33300 ETABS dave@lab-4 -39 not_in_license_group",
		"33301 SAP2000 erin@lab-5 -38 not_in_license_group",
		"86399 MATLAB frank@pc-9 -10 other",
		"-1 SAFE gina@ws-1 -4 no_seat_available",
		"50700 ETABS hank@ws-2 0 no_seat_available",
		"50701 ETABS ivan@ws-3 0 not_in_license_group",
		"50702 ETABS judy@ws-4 0 other",
		"50531 ETABS bob@ws-12 -4 no_seat_available",
		"50532 SAFE carol@ws-13 -39 not_in_license_group",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("parsed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, ok := parseDenied("14:02:11 (csi) DENIED: \"F\" u@h" + strings.Repeat(" ", maxDenialLine)); ok {
		t.Error("a line over maxDenialLine was parsed")
	}
}

// A time of day is dated to its most recent past moment, a little skew
// allowed, in the source's zone, across DST.
func TestDateClock(t *testing.T) {
	read := time.Date(2026, 3, 8, 14, 0, 0, 0, chicago) // the day DST starts in Chicago
	for _, tc := range []struct {
		clock int
		want  time.Time
	}{
		{13*3600 + 59*60, time.Date(2026, 3, 8, 13, 59, 0, 0, chicago)},
		{14*3600 + 4*60, time.Date(2026, 3, 8, 14, 4, 0, 0, chicago)}, // 4 min ahead: clock skew, today
		{14*3600 + 6*60, time.Date(2026, 3, 7, 14, 6, 0, 0, chicago)}, // past the skew: yesterday
		{1 * 3600, time.Date(2026, 3, 8, 1, 0, 0, 0, chicago)},
		{23 * 3600, time.Date(2026, 3, 7, 23, 0, 0, 0, chicago)},
	} {
		if got := dateClock(tc.clock, read.UTC(), chicago); !got.Equal(tc.want) {
			t.Errorf("clock %d: %v, want %v", tc.clock, got, tc.want)
		}
	}
}

// logFile is a debug log a test writes to, and a tailer reading it.
type logFile struct {
	t    *testing.T
	path string
	tail *tailer
	now  time.Time
}

func newLogFile(t *testing.T) *logFile {
	l := &logFile{t: t, path: filepath.Join(t.TempDir(), "csi.log"), now: time.Date(2026, 3, 4, 15, 0, 0, 0, chicago)}
	l.tail = newTailer(l.path, chicago, func() time.Time { return l.now }, func(f string) string {
		if f == "ETABS" {
			return TypeFloating
		}
		return ""
	})
	t.Cleanup(func() { l.tail.Close() })
	return l
}

func (l *logFile) append(s string) {
	l.t.Helper()
	f, err := os.OpenFile(l.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		l.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		l.t.Fatal(err)
	}
}

// read is one EachDenial since the zero time: every denial kept, as
// "user reason time".
func (l *logFile) read() []string {
	l.t.Helper()
	var out []string
	ids := map[string]bool{}
	err := l.tail.eachDenial(context.Background(), time.Time{}, func(d *source.Denial) {
		if ids[d.ID] || !strings.HasPrefix(d.ID, "flexlm-denial-") || strings.Contains(d.ID, d.User) {
			l.t.Errorf("id %q repeated or not opaque", d.ID)
		}
		ids[d.ID] = true
		out = append(out, fmt.Sprintf("%s %s %s %s %s", d.User, d.Product, d.LicenseType, d.Reason, d.Time.In(chicago).Format("01-02T15:04:05")))
	})
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

func denyLine(clock, user string) string {
	return clock + ` (csi) DENIED: "ETABS" ` + user + `@ws-1  (Licensed number of users already reached. (-4,342))` + "\n"
}

func expect(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("denials:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The tail starts at the end, follows appends, waits for a line's
// newline, and keeps what it read for later calls.
func TestTailAppendAndPartialLine(t *testing.T) {
	l := newLogFile(t)
	l.append(denyLine("14:00:00", "old") + "14:00:01 (csi) DENIED: \"ETABS\" half")
	expect(t, l.read()) // the end: nothing from before, not the half line
	l.append("-done@ws-1  (Licensed number of users already reached. (-4,342))\n")
	expect(t, l.read()) // the rest of a line begun before the start
	l.append(denyLine("14:10:00", "ann") + "14:11:00 (csi) DENIED: \"ETABS\" bo")
	expect(t, l.read(), "ann ETABS floating no_seat_available 03-04T14:10:00")
	l.append("b@ws-1  (User/host not on INCLUDE list for feature. (-39,147))\n")
	expect(t, l.read(), "ann ETABS floating no_seat_available 03-04T14:10:00", "bob ETABS floating not_in_license_group 03-04T14:11:00")
}

// A log that does not exist at the start is fine, and read from its
// beginning when it appears.
func TestTailMissingAtStart(t *testing.T) {
	l := newLogFile(t)
	expect(t, l.read())
	l.append(denyLine("14:20:00", "cy"))
	expect(t, l.read(), "cy ETABS floating no_seat_available 03-04T14:20:00")
}

// Rotation: the old file's last lines, even one without a newline, are
// read, then the new file at the path from its beginning.
func TestTailRotation(t *testing.T) {
	l := newLogFile(t)
	l.append("start\n")
	expect(t, l.read())
	l.append(denyLine("14:30:00", "ann") + strings.TrimSuffix(denyLine("14:30:01", "bob"), "\n"))
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		t.Fatal(err)
	}
	expect(t, l.read(), "ann ETABS floating no_seat_available 03-04T14:30:00") // no new file yet
	l.append(denyLine("14:31:00", "cy"))
	expect(t, l.read(),
		"ann ETABS floating no_seat_available 03-04T14:30:00",
		"bob ETABS floating no_seat_available 03-04T14:30:01",
		"cy ETABS floating no_seat_available 03-04T14:31:00")
}

// Truncation in place: the size falls below the offset, so the log is
// read again from 0; the same bytes at the same offset are a new event.
func TestTailTruncation(t *testing.T) {
	l := newLogFile(t)
	l.append(strings.Repeat("filler line of the debug log\n", 20))
	expect(t, l.read())
	line := denyLine("14:40:00", "ann")
	l.append(line)
	expect(t, l.read(), "ann ETABS floating no_seat_available 03-04T14:40:00")
	if err := os.Truncate(l.path, 0); err != nil {
		t.Fatal(err)
	}
	l.append(line)
	expect(t, l.read(), "ann ETABS floating no_seat_available 03-04T14:40:00", "ann ETABS floating no_seat_available 03-04T14:40:00")
}

// Bounds: an overlong line is skipped whole; a call reads at most
// maxTailBytes and the next one goes on; the kept denials are bounded.
func TestTailBounds(t *testing.T) {
	l := newLogFile(t)
	expect(t, l.read())
	l.append("14:50:00 (csi) DENIED: \"ETABS\" " + strings.Repeat("x", 3*maxDenialLine) + "@ws-1 (-4,342)\n" + denyLine("14:50:01", "ann"))
	expect(t, l.read(), "ann ETABS floating no_seat_available 03-04T14:50:01")

	var b strings.Builder
	for b.Len() < maxTailBytes+1<<20 {
		b.WriteString(denyLine("14:51:00", "many"))
	}
	total := strings.Count(b.String(), "\n")
	l.append(b.String())
	before := l.tail.off
	n1 := len(l.read())
	if read := l.tail.off - before; read > maxTailBytes || read < maxTailBytes-maxDenialLine {
		t.Fatalf("one call read %d bytes, want about maxTailBytes (%d)", read, maxTailBytes)
	}
	if n1 <= 1 || n1 > maxRecentDenials {
		t.Fatalf("%d denials kept after the first call", n1)
	}
	l.read()
	if n := len(l.read()); n != maxRecentDenials || total+1 < maxRecentDenials {
		t.Fatalf("%d denials kept, want the bound %d (of %d written)", n, maxRecentDenials, total+1)
	}
	// A day later, they are forgotten.
	l.now = l.now.Add(recentDenialsAge + time.Hour)
	expect(t, l.read())
}

// since filters what a call hands over, and concurrent calls are safe.
func TestTailSinceAndConcurrency(t *testing.T) {
	l := newLogFile(t)
	expect(t, l.read())
	l.append(denyLine("14:00:00", "ann") + denyLine("14:30:00", "bob"))
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.tail.eachDenial(context.Background(), time.Time{}, func(*source.Denial) {})
		}()
	}
	wg.Wait()
	var got []string
	since := time.Date(2026, 3, 4, 14, 15, 0, 0, chicago)
	if err := l.tail.eachDenial(context.Background(), since, func(d *source.Denial) { got = append(got, d.User) }); err != nil {
		t.Fatal(err)
	}
	expect(t, got, "bob")
}

// The Source: without denials_log it offers none; with one, it tails it
// and names a feature's license type from the last lmstat.
func TestSourceDenials(t *testing.T) {
	f := newFake(t, "cat "+fixturePath(t, "triad.txt"))
	s := newSource(t, f, nil)
	if err := s.EachDenial(context.Background(), time.Time{}, func(*source.Denial) {}); err != source.ErrNotSupported {
		t.Fatalf("without denials_log: %v", err)
	}
	log := filepath.Join(t.TempDir(), "csi.log")
	s = newSource(t, f, func(c *Config) { c.DenialsLog = log })
	t.Cleanup(func() { s.Close() })
	if _, err := s.Licenses(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []source.Denial
	visit := func(d *source.Denial) { got = append(got, *d) }
	if err := s.EachDenial(context.Background(), time.Time{}, visit); err != nil || len(got) != 0 {
		t.Fatalf("first read: %v %v", got, err)
	}
	os.WriteFile(log, readFixture(t, "debug-denied-crlf.log"), 0o600)
	if err := s.EachDenial(context.Background(), time.Time{}, visit); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Product != "ETABS" || got[0].LicenseType != TypeFloating || got[0].User != "bob" || got[0].Host != "ws-12" ||
		got[1].LicenseType != TypeUncounted || got[1].Reason != source.DenialNotInGroup ||
		!got[0].Time.Equal(time.Date(2026, 3, 4, 14, 2, 11, 0, chicago).Add(-24*time.Hour)) {
		t.Errorf("denials: %+v", got)
	}
	// parseAt is 10:15: 14:02:11 is yesterday's.
}

// A log that cannot be read (here a directory at the path, which root
// cannot read as a file either) is a failure of the denials read, with
// its reason; once readable it is still read from its end, not its
// history.
func TestTailUnreadable(t *testing.T) {
	l := newLogFile(t)
	if err := os.Mkdir(l.path, 0o700); err != nil {
		t.Fatal(err)
	}
	err := l.tail.eachDenial(context.Background(), time.Time{}, func(*source.Denial) {})
	if source.ReasonOf(err) != source.ReasonHTTP4xx || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), l.path) {
		t.Fatalf("unreadable log: %v", err)
	}
	if err := os.Remove(l.path); err != nil {
		t.Fatal(err)
	}
	l.append(denyLine("14:00:00", "old"))
	expect(t, l.read())
	l.append(denyLine("14:01:00", "new"))
	expect(t, l.read(), "new ETABS floating no_seat_available 03-04T14:01:00")
}

// BenchmarkTailRead: one EachDenial reading a full budget (8 MiB) of
// DENIED lines, the most a read does.
func BenchmarkTailRead(b *testing.B) {
	path := filepath.Join(b.TempDir(), "csi.log")
	var sb strings.Builder
	for sb.Len() < maxTailBytes {
		sb.WriteString(denyLine("14:51:00", "many"))
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 3, 4, 15, 0, 0, 0, chicago)
	b.SetBytes(maxTailBytes)
	b.ReportAllocs()
	for b.Loop() {
		t := newTailer(path, chicago, func() time.Time { return now }, func(string) string { return TypeFloating })
		t.started = true // from the start of the file, not its end
		n := 0
		if err := t.eachDenial(context.Background(), time.Time{}, func(*source.Denial) { n++ }); err != nil || n != maxRecentDenials {
			b.Fatalf("%d denials, %v", n, err)
		}
		t.Close()
	}
}
