// Package rounds is the method of `make bench`, shared by the reports of
// internal/bench and source/flexlm: a measure and its floor run in turns
// over several rounds, the median round's ratio is judged against a
// budget, and the rows print in one format. It imports nothing of the
// project, so any package's benchmarks can use it without an import cycle.
package rounds

import (
	"cmp"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// N: each measure and its floor run alternately this many times, in turns
// (measure first in one round, floor first in the next), and each round
// gives a ratio. The median ratio is judged, so a burst of load from
// elsewhere on the machine, which slows one round, does not decide it; the
// spread across the rounds is reported beside it.
const N = 5

// Result is one benchmark's figures per operation.
type Result struct {
	NS, Allocs, Bytes float64
}

func (r Result) String() string {
	return fmt.Sprintf("%12s %10.0f %12s", FmtDuration(r.NS), r.Allocs, FmtBytes(r.Bytes))
}

// FmtDuration prints nanoseconds in the unit that suits them.
func FmtDuration(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.2f s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	default:
		return fmt.Sprintf("%.0f µs", ns/1e3)
	}
}

// FmtRatio keeps two significant digits of a small ratio, which "%.2f"
// would print as 0.00.
func FmtRatio(r float64) string {
	if r < 0.1 {
		return fmt.Sprintf("%.3fx", r)
	}
	return fmt.Sprintf("%.2fx", r)
}

// FmtBytes prints a size in B, KiB or MiB.
func FmtBytes(b float64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	default:
		return fmt.Sprintf("%.0f B", b)
	}
}

// run runs one benchmark and returns its figures per operation.
func run(f func(*testing.B)) Result {
	r := testing.Benchmark(f)
	if r.N == 0 {
		return Result{}
	}
	return Result{NS: float64(r.T.Nanoseconds()) / float64(r.N), Allocs: float64(r.AllocsPerOp()), Bytes: float64(r.AllocedBytesPerOp())}
}

// Pair is a measure, its floor and the budget of their ratio.
type Pair struct {
	Name           string
	Measure, Floor func(*testing.B)
	Budget         float64 // the greatest median ratio allowed
}

// Row is one measure of one tier: the median round's figures and the
// median, least and greatest ratio over the rounds.
type Row struct {
	Tier, Name                string
	Measure, Floor            Result
	Ratio, MinRatio, MaxRatio float64
	Budget                    float64
}

// Over says whether the row breaks its budget.
func (r Row) Over() bool { return r.Ratio > r.Budget }

// Measure runs each pair for N interleaved rounds.
func Measure(t *testing.T, tier string, pairs []Pair) []Row {
	var rows []Row
	for _, p := range pairs {
		type round struct {
			measure, floor Result
			ratio          float64
		}
		rs := make([]round, 0, N)
		for i := range N {
			var r round
			// Alternate which goes first, so a drift in the machine's
			// state during a round is paid by each side in turn.
			if i%2 == 0 {
				r.measure, r.floor = run(p.Measure), run(p.Floor)
			} else {
				r.floor, r.measure = run(p.Floor), run(p.Measure)
			}
			if r.measure.NS == 0 || r.floor.NS == 0 {
				t.Fatalf("%s %s: a benchmark failed", tier, p.Name)
			}
			r.ratio = r.measure.NS / r.floor.NS
			rs = append(rs, r)
		}
		slices.SortFunc(rs, func(a, b round) int { return cmp.Compare(a.ratio, b.ratio) })
		med := rs[len(rs)/2]
		rows = append(rows, Row{Tier: tier, Name: p.Name, Measure: med.measure, Floor: med.floor,
			Ratio: med.ratio, MinRatio: rs[0].ratio, MaxRatio: rs[len(rs)-1].ratio, Budget: p.Budget})
	}
	return rows
}

// Print prints rows as a table and says whether one broke its budget.
func Print(rows []Row) (over bool) {
	fmt.Printf("\n%-6s %-12s %12s %10s %12s | %12s %10s %12s | %6s %13s\n", "tier", "measure", "time/op", "allocs/op", "bytes/op", "floor time", "allocs/op", "bytes/op", "ratio", "spread")
	fmt.Println(strings.Repeat("-", 126))
	for _, r := range rows {
		mark := ""
		if r.Over() {
			mark, over = fmt.Sprintf("  OVER BUDGET (%.1fx)", r.Budget), true
		}
		fmt.Printf("%-6s %-12s %s | %s | %6s %6s–%6s%s\n", r.Tier, r.Name, r.Measure, r.Floor, FmtRatio(r.Ratio), FmtRatio(r.MinRatio), FmtRatio(r.MaxRatio), mark)
	}
	fmt.Printf("ratio: the median over %d interleaved rounds of measure/floor (time/op); spread: the least and greatest round\n", N)
	return over
}

// Machine prints the machine's CPUs, Go and load average, which the
// absolute figures depend on.
func Machine() {
	model := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("machine: %d CPUs (%s), GOMAXPROCS %d, %s %s/%s, load average at start %s\n",
		runtime.NumCPU(), model, runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH,
		strings.Join(strings.Fields(string(load))[:3], " "))
}

// PeakRSS reads a process's peak resident set (VmHWM) in bytes.
func PeakRSS(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// Selected says whether tier is measured: BENCH_TIERS, a comma-separated
// list of tier names (small,large,huge,flexlm), limits a run; unset or
// empty, every tier is.
func Selected(tier string) bool {
	env := strings.TrimSpace(os.Getenv("BENCH_TIERS"))
	if env == "" {
		return true
	}
	for f := range strings.SplitSeq(env, ",") {
		if strings.TrimSpace(f) == tier {
			return true
		}
	}
	return false
}
