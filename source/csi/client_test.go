package csi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/config"

	"github.com/license-monitor/license-monitor/source"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recorded serves the recorded responses in testdata.
func recorded(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/licenses"):
			w.Write(readTestdata(t, "licenses.json"))
		case strings.HasSuffix(r.URL.Path, "/sessions") && r.URL.Query().Get(ParamPageToken) == "":
			w.Write(readTestdata(t, "sessions-page1.json"))
		case strings.HasSuffix(r.URL.Path, "/sessions") && r.URL.Query().Get(ParamPageToken) == "p2":
			w.Write(readTestdata(t, "sessions-page2.json"))
		default:
			http.NotFound(w, r)
		}
	})
}

// sessions reads every page of sessions.
func sessions(c *Client) ([]source.Session, error) {
	var all []source.Session
	err := c.EachSession(context.Background(), func(s *source.Session) { all = append(all, *s) })
	return all, err
}

func newTestClient(t *testing.T, url string, mod ...func(*Options)) *Client {
	t.Helper()
	o := Options{URL: url, HTTPClientConfig: config.DefaultHTTPClientConfig, UserAgent: "license_exporter/test"}
	for _, m := range mod {
		m(&o)
	}
	c, err := NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSnapshotRecorded(t *testing.T) {
	srv := httptest.NewServer(recorded(t))
	defer srv.Close()
	c := newTestClient(t, srv.URL+"/api/license-monitor/v1")
	s, err := source.ReadAll(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if s.AccountID != "A-1001" || len(s.Licenses) != 3 || len(s.Sessions) != 3 {
		t.Fatalf("got account %q, %d licenses, %d sessions", s.AccountID, len(s.Licenses), len(s.Sessions))
	}
	sap := s.Licenses[1]
	if sap.Type != TypeCloudKey || sap.InUse != 3 || sap.Seats != 2 || !sap.ExpiresAt.IsZero() {
		t.Errorf("SAP2000 license: %+v (type must be lower-cased, overdraft kept, null expiry perpetual)", sap)
	}
	if want := time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC); !s.Licenses[0].ExpiresAt.Equal(want) {
		t.Errorf("expiry %v, want %v", s.Licenses[0].ExpiresAt, want)
	}
	if s.Licenses[2].Edition != "" || s.Licenses[2].CheckedOut != 0 {
		t.Errorf("optional fields must default to empty and 0: %+v", s.Licenses[2])
	}
	if !s.Sessions[1].CheckedOut || s.Sessions[1].CheckoutExpiresAt.IsZero() {
		t.Errorf("checked-out session: %+v", s.Sessions[1])
	}
	if want := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC); !s.Sessions[2].StartedAt.Equal(want) {
		t.Errorf("offset time %v, want %v", s.Sessions[2].StartedAt, want)
	}
	if s.UnknownLicenseSessions != 1 {
		t.Errorf("UnknownLicenseSessions = %d, want 1", s.UnknownLicenseSessions)
	}
}

func TestRequestHeadersAndSecretLink(t *testing.T) {
	var gotQuery, gotAccept, gotUA, gotAuth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotQuery.Store(r.URL.RawQuery)
		gotAccept.Store(r.Header.Get("Accept"))
		gotUA.Store(r.Header.Get("User-Agent"))
		gotAuth.Store(r.Header.Get("Authorization"))
		w.Write([]byte(`{"sessions":[],"next_page_token":""}`))
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL+"/v1?key=s3cret-link", func(o *Options) {
		o.HTTPClientConfig.Authorization = &config.Authorization{Type: "Bearer", Credentials: "tok-123"}
	})
	if _, err := sessions(c); err != nil {
		t.Fatal(err)
	}
	if q := gotQuery.Load().(string); !strings.Contains(q, "key=s3cret-link") || !strings.Contains(q, "page_size=1000") {
		t.Errorf("query %q must keep the link's key and add page_size", q)
	}
	if gotAccept.Load() != "application/json" || gotUA.Load() != "license_exporter/test" || gotAuth.Load() != "Bearer tok-123" {
		t.Errorf("headers: accept=%v ua=%v auth=%v", gotAccept.Load(), gotUA.Load(), gotAuth.Load())
	}
}

// TestFailures checks that every failure the API doc lists ends in a
// classified error, and that no error text holds the URL's secret.
func TestFailures(t *testing.T) {
	licenses := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }
	}
	cases := []struct {
		name    string
		handler http.HandlerFunc
		reason  source.Reason
		opts    func(*Options)
	}{
		{"not json", licenses(`<html>oops</html>`), source.ReasonDecode, nil},
		{"truncated", licenses(`{"licenses":[{"id":"L1","product":"ETABS","type":"cloud_sign_in","seats":1,`), source.ReasonDecode, nil},
		{"empty body", licenses(``), source.ReasonDecode, nil},
		{"trailing garbage", licenses(`{"licenses":[]} trailing`), source.ReasonDecode, nil},
		{"wrong shape", licenses(`{"licenses":{"id":"L1"}}`), source.ReasonInvalid, nil},
		{"no licenses array", licenses(`{"account":{}}`), source.ReasonInvalid, nil},
		{"negative", licenses(`{"licenses":[{"id":"L1","product":"ETABS","type":"network","seats":-1,"in_use":0}]}`), source.ReasonInvalid, nil},
		{"non-integer", licenses(`{"licenses":[{"id":"L1","product":"ETABS","type":"network","seats":2.5,"in_use":0}]}`), source.ReasonInvalid, nil},
		{"missing seats", licenses(`{"licenses":[{"id":"L1","product":"ETABS","type":"network","in_use":0}]}`), source.ReasonInvalid, nil},
		{"missing id", licenses(`{"licenses":[{"product":"ETABS","type":"network","seats":1,"in_use":0}]}`), source.ReasonInvalid, nil},
		{"bad expiry", licenses(`{"licenses":[{"id":"L1","product":"ETABS","type":"network","seats":1,"in_use":0,"expires_at":"tomorrow"}]}`), source.ReasonInvalid, nil},
		{"duplicate ids", licenses(`{"licenses":[{"id":"L1","product":"ETABS","type":"network","seats":1,"in_use":0},{"id":"L1","product":"SAFE","type":"network","seats":1,"in_use":0}]}`), source.ReasonInvalid, nil},
		{"too large", licenses(`{"licenses":[],"pad":"` + strings.Repeat("x", 4096) + `"}`), source.ReasonTooLarge, func(o *Options) { o.MaxResponseBytes = 1024 }},
		{"500", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			io.WriteString(w, `{"error":{"code":"internal","message":"boom"}}`)
		}, source.ReasonHTTP5xx, nil},
		{"401", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) }, source.ReasonHTTP4xx, nil},
		{"429", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
		}, source.ReasonRateLimited, nil},
		{"hang", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, source.ReasonTimeout, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			c := newTestClient(t, srv.URL+"/v1?key=s3cret-link", func(o *Options) {
				if tc.opts != nil {
					tc.opts(o)
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			_, err := c.Licenses(ctx)
			if got := source.ReasonOf(err); got != tc.reason {
				t.Fatalf("reason %q, want %q (err: %v)", got, tc.reason, err)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), srv.URL) {
				t.Errorf("error leaks the URL: %v", err)
			}
			if tc.reason == source.ReasonRateLimited && source.RetryAfterOf(err) != 7*time.Second {
				t.Errorf("Retry-After = %v, want 7s", source.RetryAfterOf(err))
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := newTestClient(t, url+"/v1?key=s3cret-link")
	_, err := c.Licenses(context.Background())
	if source.ReasonOf(err) != source.ReasonConnection || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("got %v", err)
	}
}

func TestPaginationLoops(t *testing.T) {
	page := `{"sessions":[{"id":"S-%d","license_id":"L","user":"u","started_at":"2026-11-30T07:00:00Z"}],"next_page_token":"%s"}`
	cases := []struct {
		name  string
		token func(n int64) string
		want  string
	}{
		{"repeating token", func(int64) string { return "same" }, "repeats"},
		{"endless tokens", func(n int64) string { return "t" + itoa(n) }, "did not end"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				i := n.Add(1)
				io.WriteString(w, strings.Replace(strings.Replace(page, "%d", itoa(i), 1), "%s", tc.token(i), 1))
			}))
			defer srv.Close()
			c := newTestClient(t, srv.URL)
			_, err := sessions(c)
			if source.ReasonOf(err) != source.ReasonInvalid || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want invalid %q", err, tc.want)
			}
			if n.Load() > maxPages+1 {
				t.Errorf("%d requests; the guard must stop at %d pages", n.Load(), maxPages)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestDuplicateSessionAcrossPages(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next := "p2"
		if r.URL.Query().Get(ParamPageToken) == "p2" {
			next = ""
		}
		io.WriteString(w, `{"sessions":[{"id":"S-1","license_id":"L","user":"u","started_at":"2026-11-30T07:00:00Z"}],"next_page_token":"`+next+`"}`)
	}))
	defer srv.Close()
	_, err := sessions(newTestClient(t, srv.URL))
	if source.ReasonOf(err) != source.ReasonInvalid {
		t.Fatalf("got %v, want invalid", err)
	}
}

func TestTerminate(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Method != http.MethodPost {
			w.WriteHeader(405)
			return
		}
		switch r.URL.EscapedPath() {
		case "/v1/sessions/S-1/terminate":
			w.WriteHeader(202)
			io.WriteString(w, `{"session_id":"S-1","status":"terminating"}`)
		case "/v1/sessions/S-2/terminate":
			w.WriteHeader(409)
			io.WriteString(w, `{"error":{"code":"checked_out","message":"checked out"}}`)
		case "/v1/sessions/a%2Fb/terminate":
			w.WriteHeader(404)
		default:
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL+"/v1")
	if err := c.Terminate(context.Background(), "S-1"); err != nil {
		t.Fatalf("S-1: %v", err)
	}
	var e *source.Error
	if err := c.Terminate(context.Background(), "S-2"); !errors.As(err, &e) || e.Status != 409 || e.Code != source.CodeCheckedOut {
		t.Fatalf("S-2: %v", err)
	}
	if err := c.Terminate(context.Background(), "a/b"); !errors.As(err, &e) || e.Status != 404 {
		t.Fatalf("a/b must be escaped into one path segment: %v", err)
	}
	before := calls.Load()
	if err := c.Terminate(context.Background(), "S-9"); source.ReasonOf(err) != source.ReasonHTTP5xx {
		t.Fatalf("S-9: %v", err)
	}
	if calls.Load()-before != 1 {
		t.Errorf("terminate sent %d times; it must never be retried", calls.Load()-before)
	}
}

func TestRedactURL(t *testing.T) {
	got := RedactURL("https://user:pw@cc.example/api/v1?key=s3cret#frag")
	if strings.Contains(got, "s3cret") || strings.Contains(got, "pw") || !strings.Contains(got, "cc.example/api/v1") {
		t.Fatalf("RedactURL = %q", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"5":                             5 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Mon, 30 Nov 2026 15:00:30 GMT": 30 * time.Second,
		"99999999":                      24 * time.Hour,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

// FuzzDecodeLicenses feeds arbitrary bodies through the licenses decoder
// and validation: it must never panic, and what it accepts must hold the
// documented invariants.
func FuzzDecodeLicenses(f *testing.F) {
	f.Add(readTestdata(f, "licenses.json"))
	f.Add([]byte(`{"licenses":[{"id":"L1","product":"P","type":"x","seats":1,"in_use":2}]}`))
	f.Add([]byte(`{"licenses":[{"id":"L1","seats":1e400}]}`))
	f.Add([]byte(`{"licenses":null}`))
	f.Add([]byte("\xff\xfe"))
	c := &Client{maxBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, body []byte) {
		var doc LicensesDoc
		if err := c.decode("fuzz", io.NopCloser(bytes.NewReader(body)), &doc); err != nil {
			if source.ReasonOf(err) == "" {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		s, err := licensesFromDoc("fuzz", &doc)
		if err != nil {
			if source.ReasonOf(err) != source.ReasonInvalid {
				t.Fatalf("validation error not invalid: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, l := range s.Licenses {
			if l.ID == "" || l.Product == "" || l.Seats < 0 || l.InUse < 0 || l.CheckedOut < 0 || seen[l.ID] {
				t.Fatalf("accepted an invalid license: %+v", l)
			}
			seen[l.ID] = true
		}
	})
}

// FuzzDecodeSessions does the same for a sessions page.
func FuzzDecodeSessions(f *testing.F) {
	f.Add(readTestdata(f, "sessions-page1.json"))
	f.Add(readTestdata(f, "sessions-page2.json"))
	f.Add([]byte(`{"sessions":[{"id":"S","license_id":"L","user":"u","started_at":"2026-11-30T07:00:00Z","checked_out":"yes"}]}`))
	c := &Client{maxBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, body []byte) {
		var doc SessionsDoc
		if err := c.decode("fuzz", io.NopCloser(bytes.NewReader(body)), &doc); err != nil {
			if source.ReasonOf(err) == "" {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		for i := range doc.Sessions {
			s, err := sessionFromDoc("fuzz", &doc.Sessions[i])
			if err != nil {
				if source.ReasonOf(err) != source.ReasonInvalid {
					t.Fatalf("validation error not invalid: %v", err)
				}
				continue
			}
			if s.ID == "" || s.LicenseID == "" || s.User == "" || s.StartedAt.IsZero() {
				t.Fatalf("accepted an invalid session: %+v", s)
			}
		}
	})
}
