package simulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/license-monitor/license-monitor/source/csi"
)

var nextTokenKey = []byte(`"next_page_token":"`)

// BenchmarkServeSessions reads all 200,000 sessions of the huge tier over
// loopback, 1,000 a page. "bytes" only moves the cached bytes (the
// simulator's cost), "cold" first builds every page, and "decode" also
// decodes them into the wire types: the floor an exporter's poll can reach.
func BenchmarkServeSessions(b *testing.B) {
	h := start(b, Options{Tier: TierHuge, Seed: 1, Start: wed11})
	client := h.srv.Client()
	fetch := func(b *testing.B, decode bool) (int64, int) {
		var total int64
		n := 0
		tok := ""
		var buf bytes.Buffer
		for {
			resp, err := client.Get(h.base + "sessions?page_size=1000&page_token=" + tok)
			if err != nil {
				b.Fatal(err)
			}
			buf.Reset()
			m, err := io.Copy(&buf, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("%d %v", resp.StatusCode, err)
			}
			total += m
			body := buf.Bytes()
			if decode {
				var doc csi.SessionsDoc
				if err := json.Unmarshal(body, &doc); err != nil {
					b.Fatal(err)
				}
				n += len(doc.Sessions)
				tok = doc.NextPageToken
			} else {
				i := bytes.LastIndex(body, nextTokenKey)
				if i < 0 {
					b.Fatal("no next_page_token")
				}
				rest := body[i+len(nextTokenKey):]
				tok = string(rest[:bytes.IndexByte(rest, '"')])
				n += 1000
			}
			if tok == "" {
				return total, n
			}
		}
	}
	report := func(b *testing.B, size int64) {
		b.SetBytes(size)
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/200_000, "ns/session")
	}
	// cold: every read starts a new snapshot version, so every page is
	// assembled from the sessions' stored encodings (a poll under churn).
	b.Run("cold", func(b *testing.B) {
		var size int64
		for b.Loop() {
			h.sim.mu.Lock()
			h.sim.dirty = true
			h.sim.mu.Unlock()
			size, _ = fetch(b, false)
		}
		report(b, size)
	})
	fetch(b, false) // fill the page cache, as the first poll does
	for _, decode := range []bool{false, true} {
		name := "bytes"
		if decode {
			name = "decode"
		}
		b.Run(name, func(b *testing.B) {
			var size int64
			for b.Loop() {
				size, _ = fetch(b, decode)
			}
			report(b, size)
		})
	}
}
