package exposition

import (
	"bytes"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/license-monitor/license-monitor/internal/testenv"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// testFamilies are sorted by name, as NewHandler wants them; the gathered
// families of TestHandlerMatchesPromhttp fall before, between and after.
var testFamilies = []Family{
	{Name: "b_requests_total", Help: "A counter; help with a \\ and a\nnewline.", Type: dto.MetricType_COUNTER},
	{Name: "d_temperature", Help: "A gauge.", Type: dto.MetricType_GAUGE},
	{Name: "f_empty", Help: "No samples anywhere.", Type: dto.MetricType_GAUGE},
}

type sample struct {
	labels []Label
	value  float64
}

// rows is a Renderer of fixed samples by family, which counts its renders.
type rows struct {
	byFamily [][]sample
	renders  int
}

func (r *rows) Count(f int) int { return len(r.byFamily[f]) }

func (r *rows) Render(w *Writer, f int) {
	r.renders++
	for _, s := range r.byFamily[f] {
		w.Sample(testFamilies[f].Name, s.labels, s.value)
	}
}

// metrics are the same samples as const metrics, for promhttp.
func (r *rows) metrics() []prometheus.Metric {
	var ms []prometheus.Metric
	for f, samples := range r.byFamily {
		for _, s := range samples {
			var names, values []string
			for _, l := range s.labels {
				names = append(names, l.Name)
				values = append(values, l.Value)
			}
			vt := prometheus.GaugeValue
			if testFamilies[f].Type == dto.MetricType_COUNTER {
				vt = prometheus.CounterValue
			}
			d := prometheus.NewDesc(testFamilies[f].Name, testFamilies[f].Help, names, nil)
			ms = append(ms, prometheus.MustNewConstMetric(d, vt, s.value, values...))
		}
	}
	return ms
}

// constMetrics is an unchecked collector of fixed metrics.
type constMetrics []prometheus.Metric

func (c constMetrics) Describe(chan<- *prometheus.Desc) {}

func (c constMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c {
		ch <- m
	}
}

// twoRenderers are two generations' worth of samples, e.g. two sources,
// whose concatenation is in the text format's order.
func twoRenderers() (*rows, *rows) {
	a := &rows{byFamily: [][]sample{
		{
			{[]Label{{"code", "200"}, {"path", `/q"uote\back` + "\nline"}}, 42},
			{[]Label{{"code", "500"}, {"path", "/é"}}, 0},
		},
		{
			{[]Label{{"room", "a"}}, -1.5e-7},
			{[]Label{{"room", "b"}}, math.Inf(+1)},
			{[]Label{{"room", "c"}}, math.NaN()},
			{[]Label{{"room", "d"}}, 1},
		},
		nil,
	}}
	b := &rows{byFamily: [][]sample{
		nil,
		{{[]Label{{"room", "e"}}, 1e21}, {[]Label{{"room", "f"}}, -1}},
		nil,
	}}
	return a, b
}

// gatheredRegistry holds families named to fall around testFamilies.
func gatheredRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	for _, name := range []string{"a_first", "c_between", "e_between_too", "z_last"} {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "Gathered."})
		g.Set(3)
		reg.MustRegister(g)
	}
	return reg
}

func get(t *testing.T, h http.Handler, gz bool) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result(), rec.Body.Bytes()
}

// TestHandlerMatchesPromhttp: the handler writes byte for byte what
// promhttp writes for the same series, plain and gzip: escaping, value
// formatting, types, two Renderers, and gathered families merged by name.
func TestHandlerMatchesPromhttp(t *testing.T) {
	a, b := twoRenderers()
	all := gatheredRegistry()
	all.MustRegister(constMetrics(append(a.metrics(), b.metrics()...)))
	_, want := get(t, promhttp.HandlerFor(all, promhttp.HandlerOpts{}), false)
	for _, s := range []string{`path="/q\"uote\\back\nline"`, `help with a \\ and a\nnewline.`, "# TYPE b_requests_total counter", "a_first 3", "c_between 3", "z_last 3", `room="f"} -1`} {
		if !bytes.Contains(want, []byte(s)) {
			t.Fatalf("the fixture does not exercise %s:\n%s", s, want)
		}
	}
	h := NewHandler(testFamilies, func() []Renderer { return []Renderer{a, b} }, gatheredRegistry(), HandlerOpts{})
	resp, got := get(t, h, false)
	if ct := resp.Header.Get("Content-Type"); ct != string(textFormat) || resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("Content-Type %q, Content-Encoding %q", ct, resp.Header.Get("Content-Encoding"))
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("handler output differs from promhttp's:\n--- promhttp\n%s\n--- handler\n%s", want, got)
	}
	for range 2 { // the second gzip scrape reuses the compressed Renderers
		resp, gz := get(t, h, true)
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
		}
		if got := testenv.GunzipOne(t, gz); !bytes.Equal(got, want) {
			t.Fatalf("gzip output differs from promhttp's:\n--- promhttp\n%s\n--- handler\n%s", want, got)
		}
	}
}

func TestHandlerNothingToServe(t *testing.T) {
	h := NewHandler(testFamilies, func() []Renderer { return nil }, nil, HandlerOpts{})
	if _, body := get(t, h, false); len(body) != 0 {
		t.Errorf("text: %q, want nothing", body)
	}
	if _, body := get(t, h, true); len(testenv.GunzipOne(t, body)) != 0 {
		t.Errorf("gzip: %q, want nothing", body)
	}
}

func TestNewHandlerRefusesUnsortedOrInvalidFamilies(t *testing.T) {
	for name, fams := range map[string][]Family{
		"unsorted": {{Name: "b"}, {Name: "a"}},
		"invalid":  {{Name: "a.b"}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			NewHandler(fams, func() []Renderer { return nil }, nil, HandlerOpts{})
		}()
	}
}

// TestHandlerInFlightLimit: a scrape over the bound is refused with 503
// while another is in flight.
func TestHandlerInFlightLimit(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	blocking := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		close(entered)
		<-release
		return nil, nil
	})
	h := NewHandler(testFamilies, func() []Renderer { return nil }, blocking, HandlerOpts{MaxRequestsInFlight: 1})
	srv := httptest.NewServer(h)
	defer srv.Close()
	done := make(chan int)
	go func() {
		resp, err := http.Get(srv.URL)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-entered
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	close(release)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("second scrape: %d, want 503", resp.StatusCode)
	}
	if code := <-done; code != http.StatusOK {
		t.Errorf("first scrape: %d, want 200", code)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"":                         false,
		"gzip":                     true,
		"GZIP":                     true,
		"deflate, gzip;q=0.5":      true,
		"gzip;q=0":                 false,
		"gzip; q=0.000, identity":  false,
		"identity":                 false,
		"*":                        true,
		"br, zstd":                 false,
		"x-gzip-not-really":        false,
		"zstd;q=1.0, gzip;q=0.001": true,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}
