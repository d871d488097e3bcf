package collector_test

import (
	"testing"

	"github.com/license-monitor/license-monitor/internal/bench"
)

// The benchmarks of a poll and a scrape on each account tier, next to
// their floors. `make bench` runs the same bodies and prints the ratios;
// these are for profiling one of them, e.g.
//
//	go test -run '^$' -bench 'Poll/huge$' -cpuprofile cpu.out ./collector
func BenchmarkPoll(b *testing.B) {
	for _, tier := range bench.Tiers {
		u := upstream(b, tier)
		b.Run(string(tier), func(b *testing.B) { bench.Poll(b, u) })
		b.Run(string(tier)+"/floor", func(b *testing.B) { bench.PollFloor(b, u) })
	}
}

func BenchmarkScrape(b *testing.B) {
	for _, tier := range bench.Tiers {
		u := upstream(b, tier)
		l, err := bench.Load(u)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(l.Stop)
		for _, gz := range []bool{false, true} {
			name := string(tier) + "/text"
			if gz {
				name = string(tier) + "/gzip"
			}
			b.Run(name, func(b *testing.B) { bench.Scrape(b, l, gz) })
			b.Run(name+"/floor", func(b *testing.B) { bench.ScrapeFloor(b, l, gz) })
		}
	}
}

func upstream(b *testing.B, tier bench.Tier) *bench.Upstream {
	u, err := bench.StartUpstream(tier)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(u.Close)
	return u
}
