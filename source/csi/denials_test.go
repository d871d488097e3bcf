package csi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/source"
)

// denialsServer serves the recorded denials pages and records each query.
func denialsServer(t *testing.T, queries *[]string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/"+PathDenials) {
			http.NotFound(w, r)
			return
		}
		*queries = append(*queries, r.URL.RawQuery)
		switch r.URL.Query().Get(ParamPageToken) {
		case "":
			w.Write(readTestdata(t, "denials-page1.json"))
		case "p2":
			w.Write(readTestdata(t, "denials-page2.json"))
		default:
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestEachDenialRecorded(t *testing.T) {
	var queries []string
	srv := denialsServer(t, &queries)
	c := newTestClient(t, srv.URL+"/v1?key=s3cret-link")
	since := time.Date(2026, 12, 2, 8, 0, 0, 900_000_000, time.FixedZone("CET", 3600))
	var got []source.Denial
	if err := c.EachDenial(context.Background(), since, func(d *source.Denial) { got = append(got, *d) }); err != nil {
		t.Fatal(err)
	}
	// The repeat of D-7f1 is handed on: deduplicating is the caller's.
	if len(got) != 4 || got[0].ID != "D-7f1" || got[2].ID != "D-7f1" || got[3].ID != "D-7f0" {
		t.Fatalf("denials: %+v", got)
	}
	want0 := source.Denial{ID: "D-7f1", Time: time.Date(2026, 12, 2, 9, 1, 2, 0, time.UTC), Product: "ETABS", Edition: "Ultimate",
		LicenseType: "cloud_sign_in", User: "jdoe@acme.example", Host: "WS-042", Reason: source.DenialNoSeat}
	if !got[0].Time.Equal(want0.Time) || got[0].Product != want0.Product || got[0].Edition != want0.Edition ||
		got[0].LicenseType != want0.LicenseType || got[0].User != want0.User || got[0].Host != want0.Host || got[0].Reason != want0.Reason {
		t.Errorf("first denial %+v, want %+v", got[0], want0)
	}
	if got[1].Reason != source.DenialNotInGroup || got[1].LicenseType != "cloud_sign_in" {
		t.Errorf("second denial: reason %q, type %q (types are lower-cased)", got[1].Reason, got[1].LicenseType)
	}
	if got[3].Reason != source.DenialOther || got[3].Edition != "" || got[3].Host != "" {
		t.Errorf("an unknown reason must read as other: %+v", got[3])
	}
	if len(queries) != 2 {
		t.Fatalf("%d requests, want 2", len(queries))
	}
	for _, q := range queries {
		// since in UTC, whole seconds rounded down; the link's key kept.
		if !strings.Contains(q, "since=2026-12-02T07%3A00%3A00Z") || !strings.Contains(q, "key=s3cret-link") || !strings.Contains(q, "page_size=1000") {
			t.Errorf("query %q", q)
		}
	}
}

func TestEachDenialNotSupported(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	c := newTestClient(t, srv.URL+"/v1")
	err := c.EachDenial(context.Background(), time.Time{}, func(*source.Denial) { t.Error("visited") })
	if !errors.Is(err, source.ErrNotSupported) {
		t.Fatalf("404: got %v, want ErrNotSupported", err)
	}
}

func TestEachDenialFailures(t *testing.T) {
	cases := []struct {
		name, body string
		status     int
		reason     source.Reason
	}{
		{"500", `{"error":{"code":"internal","message":"boom"}}`, 500, source.ReasonHTTP5xx},
		{"403", ``, 403, source.ReasonHTTP4xx},
		{"not json", `<html>`, 200, source.ReasonDecode},
		{"no array", `{"next_page_token":""}`, 200, source.ReasonInvalid},
		{"no id", `{"denials":[{"at":"2026-12-02T09:01:02Z","product":"ETABS"}]}`, 200, source.ReasonInvalid},
		{"bad at", `{"denials":[{"id":"D","at":"yesterday","product":"ETABS"}]}`, 200, source.ReasonInvalid},
		{"no product", `{"denials":[{"id":"D","at":"2026-12-02T09:01:02Z"}]}`, 200, source.ReasonInvalid},
		{"page loop", `{"denials":[],"next_page_token":"same"}`, 200, source.ReasonInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c := newTestClient(t, srv.URL+"/v1?key=s3cret-link")
			err := c.EachDenial(context.Background(), time.Now(), func(*source.Denial) {})
			if got := source.ReasonOf(err); got != tc.reason {
				t.Fatalf("reason %q, want %q (err: %v)", got, tc.reason, err)
			}
			if errors.Is(err, source.ErrNotSupported) || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %v", err)
			}
		})
	}
}

// FuzzDecodeDenials feeds arbitrary bodies through the denials decoder
// and validation: no panic, classified errors, and what it accepts holds
// the documented invariants.
func FuzzDecodeDenials(f *testing.F) {
	f.Add(readTestdata(f, "denials-page1.json"))
	f.Add(readTestdata(f, "denials-page2.json"))
	f.Add([]byte(`{"denials":[{"id":"D","at":"2026-12-02T09:01:02+01:00","product":"P","reason":7}]}`))
	f.Add([]byte(`{"denials":null,"next_page_token":"x"}`))
	c := &Client{maxBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, body []byte) {
		var doc DenialsDoc
		if err := c.decode("fuzz", io.NopCloser(bytes.NewReader(body)), &doc); err != nil {
			if source.ReasonOf(err) == "" {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		for i := range doc.Denials {
			d, err := denialFromDoc("fuzz", &doc.Denials[i])
			if err != nil {
				if source.ReasonOf(err) != source.ReasonInvalid {
					t.Fatalf("validation error not invalid: %v", err)
				}
				continue
			}
			if d.ID == "" || d.Product == "" || d.Time.IsZero() || !validReason(d.Reason) || d.LicenseType != strings.ToLower(d.LicenseType) {
				t.Fatalf("accepted an invalid denial: %+v", d)
			}
		}
	})
}

func validReason(r source.DenialReason) bool {
	for _, v := range source.DenialReasons {
		if r == v {
			return true
		}
	}
	return false
}
