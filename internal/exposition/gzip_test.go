package exposition

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/license-monitor/license-monitor/internal/testenv"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// TestCRC32Combine checks the combination against the CRC of the
// concatenation, for random lengths including empty parts.
func TestCRC32Combine(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		a, b := make([]byte, r.IntN(3000)), make([]byte, r.IntN(3000))
		for i := range a {
			a[i] = byte(r.Uint32())
		}
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		want := crc32.ChecksumIEEE(append(append([]byte{}, a...), b...))
		if got := crc32Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(len(b))); got != want {
			t.Fatalf("len %d+%d: combined %08x, want %08x", len(a), len(b), got, want)
		}
	}
}

// FuzzSplicedGzip: segments compressed apart and spliced by writeSpliced
// are one gzip member that decodes, CRC and length checked, to the
// concatenation of their texts, whatever the texts and their sizes.
func FuzzSplicedGzip(f *testing.F) {
	f.Add([]byte("# HELP a A.\n# TYPE a gauge\n"), []byte(`a{x="1"} 1`+"\n"), []byte(""), 1)
	f.Add([]byte(""), []byte(""), []byte(""), 0)
	f.Add(bytes.Repeat([]byte("license_user_sessions{user=\"ann\"} 1\n"), 5000), []byte{0, 255, 0x1f, 0x8b}, []byte("z"), 3)
	f.Fuzz(func(t *testing.T, a, b, c []byte, repeat int) {
		// repeat stretches b past a deflate block and the 32 KiB window.
		b = bytes.Repeat(b, 1+min(max(repeat, 0), 1<<14)/(len(b)+1))
		var segs []*segment
		for _, text := range [][]byte{a, b, c} {
			s := compress(0, func(w *Writer) { w.Write(text) })
			segs = append(segs, &s)
		}
		var out bytes.Buffer
		if err := writeSpliced(&out, segs); err != nil {
			t.Fatal(err)
		}
		got := testenv.GunzipOne(t, out.Bytes())
		if want := bytes.Join([][]byte{a, b, c}, nil); !bytes.Equal(got, want) {
			t.Fatalf("decoded %d bytes, want %d", len(got), len(want))
		}
	})
}

// writeMembers is the alternative to writeSpliced that the package
// comment weighs: each segment its own gzip member, which needs no CRC
// combining. Kept here for BenchmarkGzipMembers.
func writeMembers(w io.Writer, segs []*segment) error {
	for _, s := range segs {
		var trailer [10]byte
		copy(trailer[:], finalBlock)
		binary.LittleEndian.PutUint32(trailer[2:], s.crc)
		binary.LittleEndian.PutUint32(trailer[6:], uint32(s.size))
		for _, p := range [][]byte{gzipHeader, s.data, trailer[:]} {
			if _, err := w.Write(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// hugeTier is a Renderer shaped like the simulator's huge tier as the
// exporter serves it: 193,000 user series in three families (about
// 580,000 samples), made up on the fly so the benchmark holds no rows.
type hugeTier struct{ users int }

func (h *hugeTier) Count(f int) int { return h.users }

func (h *hugeTier) Render(w *Writer, f int) {
	names := []string{"license_user_checked_out_sessions", "license_user_session_start_timestamp_seconds", "license_user_sessions"}
	products := []string{"CSiBridge", "CSiCol", "ETABS", "SAFE", "SAP2000"}
	editions := []string{"Plus", "Standard", "Ultimate"}
	var user, host [32]byte
	for i := range h.users {
		u := append(strconv.AppendInt(append(user[:0], "user"...), int64(i), 10), "@acme.example"...)
		hst := strconv.AppendInt(append(host[:0], "WS-"...), int64(i%40000), 10)
		value := float64(i % 3)
		if f == 1 {
			value = 1764489600 + float64(i%28800)
		}
		w.Sample(names[f], []Label{
			{"edition", editions[i%len(editions)]},
			{"host", string(hst)},
			{"product", products[i%len(products)]},
			{"source", "huge"},
			{"user", string(u)},
		}, value)
	}
}

// BenchmarkGzipMembers weighs the two ways of writing a steady gzip
// scrape of the huge tier: one member spliced from the cached segments
// (writeSpliced, what the handler does) and one member per segment
// (writeMembers). Run with -count for interleaved rounds; bytes/scrape is
// the response's size.
func BenchmarkGzipMembers(b *testing.B) {
	families := []Family{
		{Name: "license_user_checked_out_sessions", Help: "Of this user's sessions on this host, those checked out."},
		{Name: "license_user_session_start_timestamp_seconds", Help: "Start of the oldest of this user's sessions on this host, in Unix seconds."},
		{Name: "license_user_sessions", Help: "Sessions this user holds on this host."},
	}
	rs := []Renderer{&hugeTier{users: 193_000}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h := NewHandler(families, func() []Renderer { return rs }, reg, HandlerOpts{}).(*handler)
	compressed := h.cache.lookup(rs)
	var text []byte
	for _, v := range []struct {
		name  string
		write func(io.Writer, []*segment) error
	}{{"spliced", writeSpliced}, {"members", writeMembers}} {
		b.Run(v.name, func(b *testing.B) {
			scrape := func(w io.Writer) {
				mfs, err := reg.Gather()
				if err != nil {
					b.Fatal(err)
				}
				var live []*bytes.Buffer
				segs, err := h.gzipSegments(rs, compressed, mfs, &live)
				if err == nil {
					err = v.write(w, segs)
				}
				releaseLive(live)
				if err != nil {
					b.Fatal(err)
				}
			}
			// Both decode, as Go's gzip.Reader reads them by default, to
			// the same series (the gathered go_ and process_ rest differs
			// by scrape).
			var out bytes.Buffer
			scrape(&out)
			zr, err := gzip.NewReader(&out)
			if err != nil {
				b.Fatal(err)
			}
			got, err := io.ReadAll(zr)
			if err != nil {
				b.Fatal(err)
			}
			got = got[:bytes.Index(got, []byte("# HELP go_"))]
			if text == nil {
				text = got
			} else if !bytes.Equal(got, text) {
				b.Fatal("the variants decode differently")
			}
			var n countingWriter
			b.ReportAllocs()
			for b.Loop() {
				scrape(&n)
			}
			b.ReportMetric(float64(n.n)/float64(b.N), "bytes/scrape")
		})
	}
}
