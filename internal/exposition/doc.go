// Package exposition serves metrics in the Prometheus text format without
// building them as client_model messages first: the owner hands it
// families and, per scrape, Renderers that write each family's samples
// straight from their own rows; the few families of client_golang
// collectors are gathered as usual and merged in by name. The output is
// byte for byte what promhttp writes for the same series
// (collector/handler_test.go and handler_test.go check it).
//
// It exists for size. The simulator's huge tier is 580,000 series: through
// promhttp a scrape took 2.65 s and the exporter peaked at 888 MiB; with
// this engine it peaks at 173 MiB (README.md, "Performance").
//
// A gzip scrape is mostly cached: each Renderer's samples are compressed
// once, by family, into deflate segments (cache.go), and every gzip
// response splices them, with the gathered rest compressed per scrape,
// into one gzip member whose CRC-32 is combined from the segments' own
// (gzip.go).
//
// One member, not one per segment: RFC 1952 allows several members in a
// stream, and concatenating complete members would need no CRC
// arithmetic. Prometheus reads them (its scrape package's gzip.Reader
// keeps Go's multistream default; Debian's prometheus 2.42 scraped a
// two-member body whole), but curl --compressed (7.88) fails after the
// first member, and wget (1.21) and Chromium (156) silently show only the
// first: a person checking /metrics would see a fraction of it. Nor do the
// numbers favour members: a huge-tier gzip scrape (BenchmarkGzipMembers,
// six interleaved rounds) is 4,577,293 bytes spliced and 4,577,435 as
// members, in 1.19 and 1.24 ms (medians; minima 0.82 and 0.79 ms). So the
// CRC combining stays.
package exposition
