package collector

import (
	"slices"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/internal/exposition"
	"github.com/license-monitor/license-monitor/source"
)

// extraSample is one series of a source's own (source.ExtraSeries): its
// label values in the family's extraLabels order, without source.
type extraSample struct {
	values []string
	value  float64
}

// extraDrops counts the source series a poll left out.
type extraDrops struct {
	// unknown are the series whose name or label names the contract's
	// table does not have; names the first few of their names.
	unknown int
	names   []string
	// tooLong are those with a label value longer than max_label_length
	// or not valid UTF-8.
	tooLong int
}

// maxUnknownNames bounds the names a poll's warning lists.
const maxUnknownNames = 5

// buildExtras sorts a poll's source series into the contract's families:
// names outside the table are dropped, the product filter and
// max_label_length apply as to the license series, and a repeated series
// keeps its first value.
func buildExtras(series []source.Series, filter *config.ProductFilter, maxLabel int) (out [numFamilies][]extraSample, d extraDrops) {
	seen := map[string]bool{}
	for i := range series {
		s := &series[i]
		f, ok := extraFamily[s.Name]
		var values []string
		if ok {
			values, ok = labelValues(families[f].extraLabels, s.Labels)
		}
		if !ok {
			d.unknown++
			if len(d.names) < maxUnknownNames && !slices.Contains(d.names, s.Name) {
				d.names = append(d.names, truncate(s.Name, 64))
			}
			continue
		}
		if p := slices.Index(families[f].extraLabels, "product"); p >= 0 && !filter.Match(values[p]) {
			continue
		}
		if slices.ContainsFunc(values, func(v string) bool { return len(v) > maxLabel || !utf8.ValidString(v) }) {
			d.tooLong++
			continue
		}
		key := s.Name
		for _, v := range values {
			key += "\xff" + v
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		out[f] = append(out[f], extraSample{values: values, value: s.Value})
	}
	for f := range out {
		order := families[f].renderOrder
		// The exposition's order: by label values, labels sorted by name.
		slices.SortFunc(out[f], func(a, b extraSample) int {
			for _, j := range order {
				if j < 0 {
					continue // source: the same in every series
				}
				if a.values[j] != b.values[j] {
					if a.values[j] < b.values[j] {
						return -1
					}
					return 1
				}
			}
			return 0
		})
	}
	return out, d
}

// labelValues orders labels as names, if they are exactly those names.
func labelValues(names []string, labels []source.Label) ([]string, bool) {
	if len(labels) != len(names) {
		return nil, false
	}
	values := make([]string, len(names))
	set := make([]bool, len(names))
	for _, l := range labels {
		j := slices.Index(names, l.Name)
		if j < 0 || set[j] {
			return nil, false
		}
		values[j], set[j] = l.Value, true
	}
	return values, true
}

// renderExtra writes family f's source series of v.
func (v *view) renderExtra(w *exposition.Writer, f int) {
	fam := &families[f]
	labels := make([]exposition.Label, len(fam.renderOrder))
	for i := range v.extras[f] {
		s := &v.extras[f][i]
		for k, j := range fam.renderOrder {
			if j < 0 {
				labels[k] = exposition.Label{Name: "source", Value: v.source}
			} else {
				labels[k] = exposition.Label{Name: fam.extraLabels[j], Value: s.values[j]}
			}
		}
		w.Sample(fam.name, labels, s.value)
	}
}

// collectExtra sends family f's source series of v as const metrics.
func (v *view) collectExtra(ch chan<- prometheus.Metric, f int) {
	for i := range v.extras[f] {
		s := &v.extras[f][i]
		ch <- gauge(families[f].desc, s.value, append([]string{v.source}, s.values...)...)
	}
}
