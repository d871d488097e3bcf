package flexlm

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/source"
)

// FuzzParse: any output parses without panic into bounded results that
// keep their promises (skipped texts short, counts not negative), and
// maps without panic.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"triad.txt", "crlf.txt", "down.txt", "garbage.txt", "no-server-lines.txt", "status-only.txt"} {
		f.Add(readFixture(f, name))
	}
	f.Add([]byte("Users of F:  (Total of 9223372036854775807 licenses issued;  Total of 1 license in use)\n  \"F\" v1, vendor: v, expiry: 29-feb-2028\n    u h d (v1) (s/1 2), start Tue 2/29 0:00, 2 licenses (linger: 1 / 1)\n"))
	f.Add([]byte("Users of F:  (Uncounted, node-locked)\n    1 RESERVATION for USER (s/1)\n    u h (v (v1) (s/1 2) queued for 3 licenses\n\"F\" v\n"))
	f.Add([]byte("License server status: 1@a\nVendor daemon status (on a):\n x: UP\n: \nUsers of :  ()\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		st, err := Parse(out, parseAt, chicago)
		if err != nil {
			if err != errTooMany {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(st.Skipped) > maxSkipped || st.SkippedTotal < len(st.Skipped) {
			t.Fatalf("%d skipped kept of %d", len(st.Skipped), st.SkippedTotal)
		}
		for _, s := range st.Skipped {
			if len(s.Text) > skippedText || s.Line < 1 || s.Line > st.Lines {
				t.Fatalf("skipped %+v of %d lines", s, st.Lines)
			}
		}
		users := 0
		for _, f := range st.Features {
			if f.Issued < 0 || f.InUse < 0 {
				t.Fatalf("feature %+v", f)
			}
			for _, b := range f.Blocks {
				users += len(b.Users) + len(b.Queued) + len(b.Reservations)
				for _, u := range b.Users {
					if u.Licenses <= 0 || u.Start.IsZero() || u.Start.After(parseAt.Add(futureSlack)) {
						t.Fatalf("user %+v", u)
					}
				}
			}
		}
		if users > maxUsers || len(st.Features) > maxFeatures {
			t.Fatalf("%d users, %d features", users, len(st.Features))
		}
		snap := mapStatus(st, "27000@a", map[string]string{})
		ids := map[string]bool{}
		for _, l := range snap.licenses {
			if ids[l.ID] {
				t.Fatalf("license id %q twice", l.ID)
			}
			ids[l.ID] = true
		}
		for _, s := range snap.sessions {
			if int(s.lic) >= len(snap.licenses) || !ids[snap.licenses[s.lic].ID] {
				t.Fatalf("session of unlisted license %d", s.lic)
			}
		}
	})
}

// synthetic is lmstat output of features features and users user lines,
// spread over them, with the variety of the fixtures.
func synthetic(features, users int) []byte {
	var b bytes.Buffer
	b.WriteString("lmutil - Copyright (c) 1989-2023 Flexera. All Rights Reserved.\nFlexible License Manager status on Wed 3/4/2026 10:15\n\n")
	b.WriteString("License server status: 27000@lic-a,27000@lic-b,27000@lic-c\n    License file(s) on lic-a: /opt/flexlm/licenses/engineering.lic:\n\n")
	b.WriteString("     lic-a: license server UP (MASTER) v11.19.0\n     lic-b: license server UP v11.19.0\n     lic-c: license server UP v11.19.0\n\n")
	b.WriteString("Vendor daemon status (on lic-a):\n\n       csi: UP v11.19.0\n\nFeature usage info:\n\n")
	days := []string{"Mon 3/2", "Tue 3/3", "Wed 3/4", "Thu 2/26", "Wed 12/31"}
	per := users / features
	handle := 100
	for fi := 0; fi < features; fi++ {
		n := per
		if fi < users%features {
			n++
		}
		fmt.Fprintf(&b, "Users of FEATURE_%04d:  (Total of %d licenses issued;  Total of %d licenses in use)\n\n", fi, n+10, n)
		if n == 0 {
			continue
		}
		fmt.Fprintf(&b, "  \"FEATURE_%04d\" v2026.1, vendor: csi, expiry: 31-dec-2026\n  floating license\n\n", fi)
		for ui := 0; ui < n; ui++ {
			handle++
			fmt.Fprintf(&b, "    user%05d ws-%05d ws-%05d:0.0 (v2026.1) (lic-a/27000 %d), start %s %d:%02d", handle%7919, handle%4001, handle%4001, handle, days[handle%len(days)], handle%24, handle%60)
			switch handle % 10 {
			case 0:
				b.WriteString(", 2 licenses")
			case 1:
				b.WriteString(" (linger: 604800 / 3600)")
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

func TestSyntheticOutputParsesWhole(t *testing.T) {
	out := synthetic(500, 20000)
	st, err := Parse(out, parseAt, chicago)
	if err != nil {
		t.Fatal(err)
	}
	users := 0
	for _, f := range st.Features {
		for _, b := range f.Blocks {
			users += len(b.Users)
		}
	}
	if st.SkippedTotal != 0 || len(st.Features) != 500 || users != 20000 {
		t.Fatalf("skipped %+v (%d), %d features, %d users", st.Skipped, st.SkippedTotal, len(st.Features), users)
	}
}

// floor reads the same bytes into lines and fields, the least any parser
// of them does.
func floor(out []byte) int {
	sc := bufio.NewScanner(bytes.NewReader(out))
	n := 0
	for sc.Scan() {
		n += len(strings.Fields(sc.Text()))
	}
	return n
}

func BenchmarkParse(b *testing.B) {
	out := synthetic(500, 20000)
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(out, parseAt, chicago); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseFloor(b *testing.B) {
	out := synthetic(500, 20000)
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if floor(out) == 0 {
			b.Fatal("no fields")
		}
	}
}

// TestParseSpeed runs the parser and the floor in interleaved rounds and
// reports the median ratio; the budget is 2x. It only runs when
// FLEXLM_BENCH=1: timing on a shared machine is not a unit test.
func TestParseSpeed(t *testing.T) {
	if os.Getenv("FLEXLM_BENCH") != "1" {
		t.Skip("set FLEXLM_BENCH=1")
	}
	out := synthetic(500, 20000)
	const rounds, reps = 21, 5
	var ratios, parseMs, floorMs []float64
	for r := 0; r < rounds; r++ {
		start := time.Now()
		for i := 0; i < reps; i++ {
			if _, err := Parse(out, parseAt, chicago); err != nil {
				t.Fatal(err)
			}
		}
		p := time.Since(start)
		start = time.Now()
		for i := 0; i < reps; i++ {
			floor(out)
		}
		fl := time.Since(start)
		ratios = append(ratios, float64(p)/float64(fl))
		parseMs = append(parseMs, float64(p.Microseconds())/1000/reps)
		floorMs = append(floorMs, float64(fl.Microseconds())/1000/reps)
	}
	med := func(xs []float64) float64 { s := slices.Clone(xs); sort.Float64s(s); return s[len(s)/2] }
	t.Logf("%d bytes, 500 features, 20,000 users: parse %.2f ms, floor %.2f ms (medians), median ratio %.2fx over %d rounds (min %.2f, max %.2f)",
		len(out), med(parseMs), med(floorMs), med(ratios), rounds, slices.Min(ratios), slices.Max(ratios))
	if med(ratios) > 2 {
		t.Errorf("median ratio %.2f is over the budget of 2", med(ratios))
	}
}

// FuzzParseDenied: any line of a debug log parses or is refused without
// a panic, and what parses is a DENIED line with a feature, a user, a
// host and one of the contract's reasons.
func FuzzParseDenied(f *testing.F) {
	for _, name := range []string{"debug-denied.log", "debug-denied-crlf.log"} {
		for _, line := range strings.Split(string(readFixture(f, name)), "\n") {
			f.Add(line)
		}
	}
	f.Add(`99:99:99 (x) DENIED: "F" u@h (-`)
	f.Add(`1:02:03 DENIED: "F" @h (x (-99999999999999999999,1))`)
	f.Add("DENIED: \"\xff\" u@h\r")
	f.Fuzz(func(t *testing.T, line string) {
		d, ok := parseDenied(line)
		if !ok {
			return
		}
		if !strings.Contains(line, "DENIED:") || d.feature == "" || d.user == "" || d.host == "" || d.clock < -1 || d.clock > 86399 {
			t.Fatalf("parsed %q as %+v", line, d)
		}
		switch d.reason {
		case source.DenialNoSeat, source.DenialNotInGroup, source.DenialOther:
		default:
			t.Fatalf("reason %q", d.reason)
		}
		_ = dateClock(max(d.clock, 0), parseAt, chicago)
	})
}
