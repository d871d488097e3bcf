package simulator

import (
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/source/csi"
)

func FuzzPageToken(f *testing.F) {
	f.Add(int64(1), encodeToken(1, 3, 500), uint64(3), uint64(500))
	f.Add(int64(1), encodeToken(2, 3, 500), uint64(0), uint64(0))
	f.Add(int64(-9), "", uint64(1<<63), uint64(1))
	f.Add(int64(0), "AAAAAAAAAAAAAAAAAAAAAAAAAAA", uint64(0), uint64(0))
	f.Add(int64(0), "AAAAAAAAAAAAAAAAAAAAAAAAAA=", uint64(7), uint64(7))
	f.Add(int64(5), "not a token at all", uint64(1), uint64(2))
	f.Add(int64(5), "////////////////////////////", uint64(1), uint64(2))
	f.Fuzz(func(t *testing.T, seed int64, tok string, v, o uint64) {
		// Any string: refused, or the one canonical token of what it names.
		if gv, goff, err := decodeToken(seed, tok); err == nil {
			if encodeToken(seed, gv, goff) != tok {
				t.Fatalf("%q decodes to (%d, %d), which encodes differently", tok, gv, goff)
			}
		}
		// Any position round-trips, and only under its own seed.
		enc := encodeToken(seed, v, o)
		gv, goff, err := decodeToken(seed, enc)
		if err != nil || gv != v || goff != o {
			t.Fatalf("(%d, %d) -> %q -> (%d, %d, %v)", v, o, enc, gv, goff, err)
		}
		if _, _, err := decodeToken(seed^1, enc); err == nil {
			// The 32-bit check collides once in four billion.
			t.Fatalf("token %q also valid for seed %d", enc, seed^1)
		}
	})
}

func TestPageTokens(t *testing.T) {
	h := start(t, Options{Tier: TierSmall, Seed: 1, Start: wed11, Churn: true})
	first := decode[csi.SessionsDoc](t, h.get(h.api("sessions")+"?page_size=10"))
	if len(first.Sessions) != 10 || first.NextPageToken == "" {
		t.Fatalf("first page: %d sessions, token %q", len(first.Sessions), first.NextPageToken)
	}
	// The final page has an empty token.
	all := decode[csi.SessionsDoc](t, h.get(h.api("sessions")+"?page_size=1000"))
	if len(all.Sessions) != 60 || all.NextPageToken != "" {
		t.Fatalf("one page: %d sessions, token %q", len(all.Sessions), all.NextPageToken)
	}
	def := decode[csi.SessionsDoc](t, h.get(h.api("sessions")))
	if len(def.Sessions) != 60 {
		t.Fatalf("default page size gave %d", len(def.Sessions))
	}
	bad := []string{
		"page_size=0", "page_size=1001", "page_size=-1", "page_size=ten", "page_size=", "page_size=1.5",
		"page_token=nonsense", "page_token=" + first.NextPageToken[:len(first.NextPageToken)-2] + "AA",
		"page_token=" + encodeToken(99, 1, 10), // another seed's token
		"page_token=" + encodeToken(1, 1, 60),  // past the end
		"page_token=" + encodeToken(1, 999, 0), // no such version
	}
	for _, q := range bad {
		r := h.get(h.api("sessions") + "?" + q)
		e := decode[csi.ErrorDoc](t, r)
		if r.status != 400 || e.Error.Code == "" || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
	// Tokens expire once eight newer snapshots exist.
	for range keepVersions {
		h.clock.Advance(30 * time.Minute)
		h.get(h.api("sessions") + "?page_size=1")
	}
	if r := h.get(h.api("sessions") + "?page_size=10&page_token=" + first.NextPageToken); r.status != 400 {
		t.Fatalf("expired token: %d", r.status)
	}
}
