package collector

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/internal/exposition"
	"github.com/license-monitor/license-monitor/internal/simulator"
	"github.com/license-monitor/license-monitor/internal/testenv"
	"github.com/license-monitor/license-monitor/source"
)

// sessionsOddJSON adds label values the text format must escape, a user
// with two hosts, and a session of a license that is not listed.
const sessionsOddJSON = `{"sessions":[
 {"id":"S1","license_id":"L-E1","user":"ann@acme.example","host":"WS-1","started_at":"2026-11-30T08:00:00Z"},
 {"id":"S2","license_id":"L-E1","user":"ann@acme.example","host":"WS-2","started_at":"2026-11-30T07:00:00.5Z","checked_out":true},
 {"id":"S3","license_id":"L-S1","user":"q\"uote\\back\nline","host":"WS-\u00e9","started_at":"2026-11-30T09:30:00Z"},
 {"id":"S4","license_id":"L-GONE","user":"cy@acme.example","host":"","started_at":"2026-11-30T11:00:00Z"}],
 "next_page_token":""}`

func get(t *testing.T, h http.Handler, gz bool) (*http.Response, []byte) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestHandlerMatchesPromhttp: for one source, the handler writes byte for
// byte what promhttp writes for the same collector, plain and gzip.
func TestHandlerMatchesPromhttp(t *testing.T) {
	up := &fakeUpstream{}
	up.set(licensesJSON, sessionsOddJSON, 0)
	c, p := newTestCollector(t, up, "")
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	_, want := get(t, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), false)
	if !bytes.Contains(want, []byte(`user="q\"uote\\back\nline"`)) || !bytes.Contains(want, []byte(`product="unknown"`)) {
		t.Fatalf("the fixture does not exercise escaping and unknown licenses:\n%s", want)
	}

	h := c.Handler(nil, HandlerOpts{})
	resp, got := get(t, h, false)
	if ct := resp.Header.Get("Content-Type"); ct != string(expfmt.NewFormat(expfmt.TypeTextPlain)) || resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("Content-Type %q, Content-Encoding %q", ct, resp.Header.Get("Content-Encoding"))
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("handler output differs from promhttp's:\n--- promhttp\n%s\n--- handler\n%s", want, got)
	}
	for range 2 { // the second gzip scrape reuses the compressed view
		resp, gz := get(t, h, true)
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
		}
		if got := testenv.GunzipOne(t, gz); !bytes.Equal(got, want) {
			t.Fatalf("gzip output differs from promhttp's:\n--- promhttp\n%s\n--- handler\n%s", want, got)
		}
	}
}

func parse(t *testing.T, b []byte) map[string]string {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	out := map[string]string{}
	for name, mf := range mfs {
		for _, m := range mf.Metric {
			var k strings.Builder
			k.WriteString(name)
			for _, l := range m.Label {
				k.WriteString("," + l.GetName() + "=" + l.GetValue())
			}
			out[k.String()] = m.String()
		}
	}
	return out
}

// TestHandlerTwoSourcesAndOthers: with two sources, a filter, a source
// without users, and other collectors, the handler serves the same series
// as a registry holding everything.
func TestHandlerTwoSourcesAndOthers(t *testing.T) {
	up1, up2 := &fakeUpstream{}, &fakeUpstream{}
	up1.set(licensesJSON, sessionsOddJSON, 0)
	up2.set(licensesJSON, sessionsJSON, 0)
	c, _ := newTestCollector(t, up1, "")
	_, p2 := newTestCollector(t, up2, "    users: false\n    products: {exclude: SAP2000}\n")
	p2.cfg.Name = "beta"
	c.pollers = append(c.pollers, p2)
	for _, p := range c.pollers {
		if err := p.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	other := prometheus.NewGauge(prometheus.GaugeOpts{Name: "license_exporter_test_value", Help: "A collector beside the domain series."})
	other.Set(42)
	others := prometheus.NewRegistry()
	others.MustRegister(other)
	all := prometheus.NewRegistry()
	all.MustRegister(c, other)

	_, want := get(t, promhttp.HandlerFor(all, promhttp.HandlerOpts{}), false)
	h := c.Handler(others, HandlerOpts{})
	_, text := get(t, h, false)
	_, gz := get(t, h, true)
	wantSeries := parse(t, want)
	for name, body := range map[string][]byte{"text": text, "gzip": testenv.GunzipOne(t, gz)} {
		got := parse(t, body)
		if len(got) != len(wantSeries) {
			t.Errorf("%s: %d series, want %d", name, len(got), len(wantSeries))
		}
		for k, v := range wantSeries {
			if got[k] != v {
				t.Errorf("%s: series %s = %q, want %q", name, k, got[k], v)
			}
		}
	}
	if _, ok := wantSeries["license_user_sessions,edition=,host=WS-1,product=ETABS,source=beta,user=ann@acme.example"]; ok {
		t.Error("users: false must drop beta's user series")
	}
}

func TestHandlerBeforeAnyPoll(t *testing.T) {
	c, _ := newTestCollector(t, &fakeUpstream{}, "")
	for _, gz := range []bool{false, true} {
		_, b := get(t, c.Handler(nil, HandlerOpts{}), gz)
		if gz {
			b = testenv.GunzipOne(t, b)
		}
		got := parse(t, b)
		// up, polls, the poll and denials-read failure reasons, and the
		// dropped sessions counter by reason; no denial counts before the
		// first denials read.
		if _, ok := got["license_up,source=acme"]; !ok || len(got) != 2+2*len(source.Reasons)+2 {
			t.Errorf("gzip=%v: before the first poll only health series: %v", gz, got)
		}
	}
}

// BenchmarkFirstGzipScrape measures what the first gzip scrape after a
// poll pays on top of a steady one: compressing the new view, once. The
// report of `make bench` measures steady scrapes.
func BenchmarkFirstGzipScrape(b *testing.B) {
	for _, tier := range []simulator.Tier{simulator.TierLarge, simulator.TierHuge} {
		b.Run(string(tier), func(b *testing.B) {
			sim, err := simulator.New(simulator.Options{Tier: tier, Seed: 1, Start: time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)})
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(sim.Handler())
			defer srv.Close()
			defer sim.Close()
			cfg, err := config.LoadExporter([]byte("sources:\n  - name: bench\n    url: "+srv.URL+simulator.APIPrefix+"\n    timeout: 50s\n    max_response_bytes: 268435456\n"), b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			p, err := NewPoller(cfg.Sources[0], "bench", slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Poll(context.Background()); err != nil {
				b.Fatal(err)
			}
			polled := p.view.Load()
			var v *view
			h := exposition.NewHandler(exposedFamilies, func() []exposition.Renderer { return []exposition.Renderer{v} }, nil, exposition.HandlerOpts{})
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.Header.Set("Accept-Encoding", "gzip")
			w := discardResponse{http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				// A view the handler has not seen, as after a poll.
				v = &view{source: polled.source, licenses: polled.licenses, users: polled.users}
				h.ServeHTTP(w, req)
			}
		})
	}
}

// discardResponse is a ResponseWriter that keeps nothing.
type discardResponse struct{ h http.Header }

func (d discardResponse) Header() http.Header         { return d.h }
func (d discardResponse) Write(p []byte) (int, error) { return len(p), nil }
func (d discardResponse) WriteHeader(int)             {}
