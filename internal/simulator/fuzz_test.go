package simulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
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

// fuzzSim is shared by the fuzz inputs: the control bodies change its state,
// which is fine, as nothing reads the API meanwhile.
func newFuzzSim(f *testing.F) http.Handler {
	clock := newClock()
	s, err := New(Options{Tier: TierSmall, Seed: 1, Start: wed11, Now: clock.Now})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(s.Close)
	return s.Handler()
}

var controlPaths = []string{"/-/control/fault", "/-/control/load", "/-/control/token", "/-/control/sessions"}

func FuzzControlBodies(f *testing.F) {
	seeds := []struct {
		path uint8
		body string
	}{
		{0, `{"kind":"latency","latency":"2s","endpoints":["licenses"]}`},
		{0, `{"kind":"http_5xx","status":503}`},
		{0, `{"kind":"rate_limit","retry_after":5}`},
		{0, `{"kind":"huge","huge_bytes":104857600}`},
		{0, `{"kind":"none"}`},
		{0, `{"kind":"hang","endpoints":[]}`},
		{0, `{"kind":"latency","latency":"1e3h"}`},
		{0, `{"kind":"x","kind":"none"}`},
		{1, `{"mode":"saturate"}`},
		{1, `{"mode":"idle"}`},
		{1, `{"mode":"normal"}`},
		{2, `{"token":"abc"}`},
		{2, `{"token":null}`},
		{3, `{"license_id":"L-ETABS-ULT-1","user":"u@x","checked_out":true,"started_at":"2026-01-01T00:00:00Z"}`},
		{3, `{"license_id":"L-ETABS-ULT-1","user":"u@x","started_at":"2026-01-01T00:00:00+25:00"}`},
		{3, `{"license_id":"L-ETABS-ULT-1","user":"\u0000"}`},
		{3, `[1,2]`},
		{0, `{"kind":"latency"}garbage`},
	}
	for _, s := range seeds {
		f.Add(s.path, []byte(s.body))
	}
	h := newFuzzSim(f)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		// The decoders alone: a fault that parses is stable through its JSON.
		if fault, err := ParseFault(body); err == nil {
			b, err := json.Marshal(fault)
			if err != nil {
				t.Fatal(err)
			}
			again, err := ParseFault(b)
			if err != nil || !reflect.DeepEqual(fault, again) {
				t.Fatalf("%s -> %+v -> %s -> %+v, %v", body, fault, b, again, err)
			}
		}
		_, _ = decodeLoadBody(bytes.NewReader(body))
		_, _ = decodeTokenBody(bytes.NewReader(body))
		_, _, _ = decodeSessionBody(bytes.NewReader(body))

		// Through the handler: a JSON answer of 200/201 or 400, never a crash.
		path := controlPaths[int(which)%len(controlPaths)]
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)))
		if rec.Code != 200 && rec.Code != 201 && rec.Code != 400 {
			t.Fatalf("%s %q: %d %s", path, body, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) || rec.Header().Get("Content-Type") != contentTypeJSON {
			t.Fatalf("%s %q: answer %q", path, body, rec.Body)
		}
	})
}
