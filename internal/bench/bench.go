// Package bench measures the exporter on the simulator's account tiers:
// a poll and a scrape, each next to its floor, the cost of the libraries
// alone on the same data. collector's benchmarks and the report of `make
// bench` both run these bodies, so a profile and the report measure the
// same thing.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/license-monitor/license-monitor/collector"
	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/internal/simulator"
	"github.com/license-monitor/license-monitor/source/csi"
)

// Tiers are the account sizes measured, smallest first.
type Tier = simulator.Tier

var Tiers = []Tier{simulator.TierSmall, simulator.TierLarge, simulator.TierHuge}

// start is the simulated clock's start: a Wednesday at 11:00, so the
// account looks like a working day. Fixed, with the seed, so every run
// serves the same bytes.
var start = time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)

// Upstream is an in-process simulator of one tier on a loopback port. It
// does not churn, so it serves the same cached bytes on every poll and the
// poll measures the exporter, not the simulator.
type Upstream struct {
	Tier    simulator.Tier
	BaseURL string
	sim     *simulator.Simulator
	srv     *httptest.Server
}

// StartUpstream starts the simulator for tier; Close stops it.
func StartUpstream(tier simulator.Tier) (*Upstream, error) {
	sim, err := simulator.New(simulator.Options{Tier: tier, Seed: 1, Start: start})
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(sim.Handler())
	return &Upstream{Tier: tier, BaseURL: srv.URL + simulator.APIPrefix, sim: sim, srv: srv}, nil
}

// Close stops the server and the simulator.
func (u *Upstream) Close() {
	u.sim.Close()
	u.srv.Close()
}

// Requests counts the API requests the simulator answered, by endpoint.
func (u *Upstream) Requests() map[string]int64 { return u.sim.Requests() }

// source is the exporter's config for the upstream, loaded the way the
// exporter loads its file. The interval is long so that a scrape benchmark
// sees no poll but the first.
func (u *Upstream) source() (config.Source, error) {
	cfg, err := config.LoadExporter([]byte(fmt.Sprintf(
		"sources:\n  - name: %s\n    type: csi\n    url: %q\n    poll_interval: 1h\n    timeout: 5m\n    max_response_bytes: %d\n",
		u.Tier, u.BaseURL, 256<<20)), ".")
	if err != nil {
		return config.Source{}, err
	}
	return cfg.Sources[0], nil
}

// Bodies are the raw responses of one full read of the API: the licenses,
// then each sessions page.
type Bodies struct {
	Licenses []byte
	Pages    [][]byte
}

// Size is the total of the bodies in bytes.
func (b *Bodies) Size() int64 {
	n := int64(len(b.Licenses))
	for _, p := range b.Pages {
		n += int64(len(p))
	}
	return n
}

// sessionsURL is the sessions page after token ("" for the first), at the
// largest page size, as the exporter's client asks for it.
func (u *Upstream) sessionsURL(token string) string {
	url := fmt.Sprintf("%s/%s?%s=%d", u.BaseURL, csi.PathSessions, csi.ParamPageSize, csi.MaxPageSize)
	if token != "" {
		url += "&" + csi.ParamPageToken + "=" + token
	}
	return url
}

// Fetch reads every response of one poll as bytes, following the pages
// with the largest page size, as the exporter's client does.
func (u *Upstream) Fetch() (*Bodies, error) {
	get := func(url string) ([]byte, error) {
		resp, err := http.Get(url)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return b, err
	}
	out := &Bodies{}
	var err error
	if out.Licenses, err = get(u.BaseURL + "/" + csi.PathLicenses); err != nil {
		return nil, err
	}
	token := ""
	for {
		b, err := get(u.sessionsURL(token))
		if err != nil {
			return nil, err
		}
		out.Pages = append(out.Pages, b)
		var doc csi.SessionsDoc
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, err
		}
		if token = doc.NextPageToken; token == "" {
			return out, nil
		}
	}
}

// Poll measures one poll as the exporter runs it: every page fetched over
// loopback HTTP, decoded, validated, and aggregated into what scrapes read.
func Poll(b *testing.B, u *Upstream) {
	src, err := u.source()
	if err != nil {
		b.Fatal(err)
	}
	p, err := collector.NewPoller(src, "license_exporter/bench", slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	bodies, err := u.Fetch()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(bodies.Size())
	b.ReportAllocs()
	ctx := context.Background()
	for b.Loop() {
		if err := p.Poll(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// PollFloor measures the least a poll can cost with the standard library
// on the same path: the same pages fetched over the same loopback HTTP with
// net/http, one after the other, and decoded into the wire types with
// encoding/json. The ratio Poll/PollFloor is then the cost of this
// project's client, validation and aggregation, not of the machine's
// scheduler or network stack, which both sides pay.
func PollFloor(b *testing.B, u *Upstream) {
	bodies, err := u.Fetch()
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	b.SetBytes(bodies.Size())
	b.ReportAllocs()
	for b.Loop() {
		var lic csi.LicensesDoc
		if err := getJSON(client, u.BaseURL+"/"+csi.PathLicenses, &lic); err != nil {
			b.Fatal(err)
		}
		token := ""
		for {
			var doc csi.SessionsDoc
			if err := getJSON(client, u.sessionsURL(token), &doc); err != nil {
				b.Fatal(err)
			}
			if token = doc.NextPageToken; token == "" {
				break
			}
		}
	}
}

// getJSON GETs url and decodes its body with encoding/json.
func getJSON(client *http.Client, url string, v any) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// handlerOpts are the exporter's promhttp options (cmd/license_exporter).
func handlerOpts() promhttp.HandlerOpts {
	return promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, MaxRequestsInFlight: 10}
}

// Loaded is an exporter's collector holding one good poll of an csi.
type Loaded struct {
	Collector *collector.Collector
	Series    int
}

// Load builds the exporter's collector for u and waits for its first poll.
func Load(u *Upstream) (*Loaded, error) {
	src, err := u.source()
	if err != nil {
		return nil, err
	}
	c := collector.New("license_exporter/bench", slog.New(slog.DiscardHandler))
	if err := c.Apply(&config.Exporter{Sources: []config.Source{src}}); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	deadline := time.Now().Add(5 * time.Minute)
	for {
		mfs, err := reg.Gather()
		if err != nil {
			c.Stop()
			return nil, err
		}
		series := 0
		up := false
		for _, mf := range mfs {
			series += len(mf.GetMetric())
			if mf.GetName() == "license_up" {
				up = mf.GetMetric()[0].GetGauge().GetValue() == 1
			}
		}
		if up {
			return &Loaded{Collector: c, Series: series}, nil
		}
		if time.Now().After(deadline) {
			c.Stop()
			return nil, fmt.Errorf("no good poll of the %s tier within 5 minutes", u.Tier)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the collector's poller.
func (l *Loaded) Stop() { l.Collector.Stop() }

// collect returns what c sends on one Collect.
func collect(c prometheus.Collector) []prometheus.Metric {
	ch := make(chan prometheus.Metric, 1024)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	var ms []prometheus.Metric
	for m := range ch {
		ms = append(ms, m)
	}
	return ms
}

// Scrape measures GET /metrics of the exporter's handler over loopback,
// in the text format, gzip-compressed when gz.
func Scrape(b *testing.B, l *Loaded, gz bool) {
	scrape(b, l.Collector.Handler(nil, collector.HandlerOpts{MaxRequestsInFlight: 10}), gz)
}

// ScrapeFloor measures promhttp serving the same series as pre-built const
// metrics: what the client library costs for that many series.
func ScrapeFloor(b *testing.B, l *Loaded, gz bool) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prebuilt(collect(l.Collector)))
	scrape(b, promhttp.HandlerFor(reg, handlerOpts()), gz)
}

// prebuilt is a collector of fixed metrics.
type prebuilt []prometheus.Metric

func (p prebuilt) Describe(ch chan<- *prometheus.Desc) {
	seen := map[*prometheus.Desc]bool{}
	for _, m := range p {
		if d := m.Desc(); !seen[d] {
			seen[d] = true
			ch <- d
		}
	}
}

func (p prebuilt) Collect(ch chan<- prometheus.Metric) {
	for _, m := range p {
		ch <- m
	}
}

func scrape(b *testing.B, h http.Handler, gz bool) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	// The transport would ask for gzip and undo it; the client asks
	// explicitly, and keeps the compressed bytes, as a scraper reads them.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	var buf bytes.Buffer
	get := func() {
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		buf.Reset()
		_, err = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("scrape: HTTP %d, %v", resp.StatusCode, err)
		}
		if enc := resp.Header.Get("Content-Encoding"); (enc == "gzip") != gz {
			b.Fatalf("scrape: Content-Encoding %q", enc)
		}
	}
	get()
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		get()
	}
}
