//go:build bench

package flexlm

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/bench/lmstat"
	"github.com/license-monitor/license-monitor/internal/bench/rounds"
	"github.com/license-monitor/license-monitor/source"
)

// The budgets of the FlexLM tier. Issue 13's: the parse (and the mapping
// with it) costs at most 2× splitting the same bytes into fields. The
// poll's floor is the subprocess alone, to which the poll adds the parse
// and mapping, on this tier about half to once the subprocess's cost; its
// budget leaves room for them and catches what the Source adds around
// the run.
const (
	maxParseRatio = 2.0
	maxPollRatio  = 2.5
)

// benchNow is the tier's clock, the same Wednesday 11:00 as the CSI
// tiers' simulator (internal/bench), so every run parses the same bytes
// with the same years inferred.
var benchNow = time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)

// benchTier is the FlexLM tier's lmstat output, in memory and in a file
// that a fake lmutil prints.
type benchTier struct {
	out    []byte
	counts lmstat.Counts
	lmutil string // the fake, in cat mode
}

func newBenchTier(tb testing.TB) *benchTier {
	tb.Helper()
	out, counts := lmstat.Generate(lmstat.FlexLM, benchNow)
	checkParse(tb, out, counts)
	dir := tb.TempDir()
	file := filepath.Join(dir, "lmstat.txt")
	if err := os.WriteFile(file, out, 0o600); err != nil {
		tb.Fatal(err)
	}
	lmutil := filepath.Join(dir, "lmutil")
	cmd := exec.Command("go", "build", "-o", lmutil, "./testdata/fakelmutil")
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("building the fake lmutil: %v\n%s", err, b)
	}
	if err := os.WriteFile(lmutil+".mode", []byte("cat "+file), 0o600); err != nil {
		tb.Fatal(err)
	}
	return &benchTier{out: out, counts: counts, lmutil: lmutil}
}

// checkParse holds the generator to the parser: every line understood,
// every feature, checkout, queued request and reservation found. A
// benchmark of output the parser skips would measure the wrong thing.
func checkParse(tb testing.TB, out []byte, want lmstat.Counts) {
	tb.Helper()
	st, err := Parse(out, benchNow, time.UTC)
	if err != nil {
		tb.Fatal(err)
	}
	var got lmstat.Counts
	got.Features = len(st.Features)
	for _, f := range st.Features {
		got.Blocks += len(f.Blocks)
		for _, b := range f.Blocks {
			got.Checkouts += len(b.Users)
			got.Queued += len(b.Queued)
			got.Reservations += len(b.Reservations)
		}
	}
	if got != want || st.SkippedTotal != 0 || len(st.Servers) != 3 || judge("lmstat", st, nil) != nil {
		tb.Fatalf("the parser read %+v with %d lines skipped (first %v), %d servers; the generator wrote %+v",
			got, st.SkippedTotal, st.Skipped[:min(len(st.Skipped), 3)], len(st.Servers), want)
	}
}

// benchParse measures what a poll does with lmutil's output once it has
// it (Source.lmstat): parse, judge, and map onto licenses, sessions and
// series, with the vendors remembered across polls as the Source does.
func benchParse(b *testing.B, out []byte, mapToo bool) {
	known := map[string]string{}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		st, err := Parse(out, benchNow, time.UTC)
		if err != nil {
			b.Fatal(err)
		}
		if !mapToo {
			continue
		}
		if err := judge("lmstat", st, nil); err != nil {
			b.Fatal(err)
		}
		if snap := mapStatus(st, lmstat.Server, known); len(snap.licenses) == 0 {
			b.Fatal("no licenses")
		}
	}
}

// benchParseFloor is the least a parse can cost with the standard
// library: the same bytes split into lines by bufio.Scanner and each line
// into fields by strings.Fields.
func benchParseFloor(b *testing.B, out []byte) {
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		sc := bufio.NewScanner(bytes.NewReader(out))
		fields := 0
		for sc.Scan() {
			fields += len(strings.Fields(sc.Text()))
		}
		if sc.Err() != nil || fields == 0 {
			b.Fatal("no fields", sc.Err())
		}
	}
}

// newBenchSource is the flexlm Source of the exporter for the tier's fake.
func newBenchSource(tb testing.TB, lmutil string) *Source {
	c := NewConfig()
	c.LicenseServer = lmstat.Server
	c.Lmutil = lmutil
	c.Timezone = "UTC"
	if err := c.Validate(tb.TempDir()); err != nil {
		tb.Fatal(err)
	}
	s, err := New(c)
	if err != nil {
		tb.Fatal(err)
	}
	s.now = func() time.Time { return benchNow }
	return s
}

// benchPoll measures one poll as the poller makes it of the Source:
// Licenses, EachSession and Extra, which share one lmutil run (the
// subprocess, its output read through the size cap, parsed and mapped).
func benchPoll(b *testing.B, t *benchTier) {
	s := newBenchSource(b, t.lmutil)
	ctx := context.Background()
	b.SetBytes(int64(len(t.out)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Licenses(ctx); err != nil {
			b.Fatal(err)
		}
		n := 0
		if err := s.EachSession(ctx, func(*source.Session) { n++ }); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Extra(ctx); err != nil {
			b.Fatal(err)
		}
		if n != t.counts.Checkouts {
			b.Fatalf("%d sessions, want %d", n, t.counts.Checkouts)
		}
	}
}

// benchPollFloor runs the same fake lmutil with the same arguments with
// os/exec and reads its output into memory: the subprocess's cost, which
// the poll pays too.
func benchPollFloor(b *testing.B, t *benchTier) {
	b.SetBytes(int64(len(t.out)))
	b.ReportAllocs()
	for b.Loop() {
		out, err := exec.Command(t.lmutil, "lmstat", "-a", "-c", lmstat.Server).Output()
		if err != nil || len(out) != len(t.out) {
			b.Fatalf("%d bytes, %v", len(out), err)
		}
	}
}

// TestReport is the FlexLM tier of `make bench`: the parse and the poll
// next to their floors. It fails when a budget is broken.
func TestReport(t *testing.T) {
	if !rounds.Selected("flexlm") {
		t.Skip("BENCH_TIERS leaves out the flexlm tier")
	}
	rounds.Machine()
	tier := newBenchTier(t)
	fmt.Printf("flexlm tier: %s\n", lmstat.Summary(tier.out, tier.counts))
	rows := rounds.Measure(t, "flexlm", []rounds.Pair{
		{Name: "parse", Measure: func(b *testing.B) { benchParse(b, tier.out, false) },
			Floor: func(b *testing.B) { benchParseFloor(b, tier.out) }, Budget: maxParseRatio},
		{Name: "parse+map", Measure: func(b *testing.B) { benchParse(b, tier.out, true) },
			Floor: func(b *testing.B) { benchParseFloor(b, tier.out) }, Budget: maxParseRatio},
		{Name: "poll", Measure: func(b *testing.B) { benchPoll(b, tier) },
			Floor: func(b *testing.B) { benchPollFloor(b, tier) }, Budget: maxPollRatio},
	})
	over := rounds.Print(rows)
	fmt.Printf("floors: parse, bufio.Scanner and strings.Fields over the same bytes; poll, the same fake lmutil run with os/exec, its output read into memory\n")
	fmt.Printf("budget: parse and parse+map at most %.1fx, poll at most %.1fx\n\n", maxParseRatio, maxPollRatio)
	if over {
		t.Error("a budget is broken; see the table above")
	}
}

// The same bodies as benchmarks, for profiling one of them, e.g.
//
//	go test -tags bench -run '^$' -bench 'FlexLM/parse\+map$' -cpuprofile cpu.out ./source/flexlm
func BenchmarkFlexLM(b *testing.B) {
	tier := newBenchTier(b)
	b.Run("parse", func(b *testing.B) { benchParse(b, tier.out, false) })
	b.Run("parse+map", func(b *testing.B) { benchParse(b, tier.out, true) })
	b.Run("parse/floor", func(b *testing.B) { benchParseFloor(b, tier.out) })
	b.Run("poll", func(b *testing.B) { benchPoll(b, tier) })
	b.Run("poll/floor", func(b *testing.B) { benchPollFloor(b, tier) })
}
