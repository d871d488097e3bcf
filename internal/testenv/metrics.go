package testenv

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sample is one series of a scrape.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Metrics is a parsed scrape: samples by metric name.
type Metrics map[string][]Sample

// Scrape GETs a Prometheus text exposition and parses it.
func Scrape(t testing.TB, url string) Metrics {
	t.Helper()
	m, err := TryScrape(url)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TryScrape is Scrape that returns its error, for polling loops.
func TryScrape(url string) (Metrics, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", url, err)
	}
	out := Metrics{}
	for name, mf := range mfs {
		for _, m := range mf.Metric {
			s := Sample{Labels: map[string]string{}, Value: value(mf.GetType(), m)}
			for _, lp := range m.Label {
				s.Labels[lp.GetName()] = lp.GetValue()
			}
			out[name] = append(out[name], s)
		}
	}
	return out, nil
}

func value(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_UNTYPED:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// Get returns the value of the one series of name whose labels include
// match, and whether exactly one matched.
func (m Metrics) Get(name string, match map[string]string) (float64, bool) {
	var found []float64
	for _, s := range m[name] {
		if matches(s.Labels, match) {
			found = append(found, s.Value)
		}
	}
	if len(found) != 1 {
		return 0, false
	}
	return found[0], true
}

// Select returns the series of name whose labels include match.
func (m Metrics) Select(name string, match map[string]string) []Sample {
	var out []Sample
	for _, s := range m[name] {
		if matches(s.Labels, match) {
			out = append(out, s)
		}
	}
	return out
}

func matches(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// Key renders the labels named by keys as one comparable string.
func Key(labels map[string]string, keys ...string) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + labels[k]
	}
	return strings.Join(parts, ",")
}

// Series renders every series of the named metrics as sorted lines, for
// comparing two scrapes' domain data.
func (m Metrics) Series(names ...string) []string {
	var out []string
	for _, n := range names {
		for _, s := range m[n] {
			keys := make([]string, 0, len(s.Labels))
			for k := range s.Labels {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			out = append(out, fmt.Sprintf("%s{%s} %g", n, Key(s.Labels, keys...), s.Value))
		}
	}
	sort.Strings(out)
	return out
}
