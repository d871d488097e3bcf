//lint:file-ignore SA1019 the classic dashboard model is what Grafana imports and provisions from files; dashboardv2 needs Grafana 12 with its v2 API enabled.

// Package dashboards generates the project's Grafana dashboards with the
// Grafana Foundation SDK. The JSON it renders is committed under dashboards/
// and checked for drift by this package's tests.
package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/table"
)

// Tag puts the three dashboards in one group and links them to each other.
const Tag = "license-monitor"

// DefaultSidecarURL is where license_sidecar listens by default (docs/architecture.md).
const DefaultSidecarURL = "http://localhost:9849"

// File is one generated dashboard.
type File struct {
	Name  string // file name under dashboards/
	Build func() (dashboard.Dashboard, error)
}

// Files lists every dashboard the generator writes.
func Files() []File {
	return []File{
		{"license-monitor.json", Monitor},
		{"license-capacity.json", Capacity},
		{"license-exporter.json", Exporter},
	}
}

// Render builds a dashboard and encodes it the way it is committed.
func Render(build func() (dashboard.Dashboard, error)) ([]byte, error) {
	d, err := build()
	if err != nil {
		return nil, err
	}
	numberPanels(&d)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep PromQL's < > & readable in the JSON
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("encode %s: %w", deref(d.Uid), err)
	}
	return buf.Bytes(), nil
}

// numberPanels gives panels stable ids, so links to a panel survive regeneration.
func numberPanels(d *dashboard.Dashboard) {
	id := uint32(1)
	for _, p := range d.Panels {
		switch {
		case p.Panel != nil:
			p.Panel.Id = cog.ToPtr(id)
		case p.RowPanel != nil:
			p.RowPanel.Id = id
			for i := range p.RowPanel.Panels {
				id++
				p.RowPanel.Panels[i].Id = cog.ToPtr(id)
			}
		}
		id++
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// newDashboard sets what all three dashboards share: tags, links to each
// other, and the data source variable every query goes through.
func newDashboard(uid, title, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{Tag}).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Timezone(common.TimeZoneBrowser).
		Link(dashboard.NewDashboardLinkBuilder("License Monitor").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{Tag}).
			AsDropdown(true).
			IncludeVars(true).
			KeepTime(true)).
		Annotation(dashboard.NewAnnotationQueryBuilder().
			Name("Annotations & Alerts").
			Type("dashboard").
			BuiltIn(1).
			Datasource(common.DataSourceRef{Type: cog.ToPtr("grafana"), Uid: cog.ToPtr("-- Grafana --")}).
			Enable(true).
			Hide(true).
			IconColor("rgba(0, 211, 255, 1)")).
		WithVariable(datasourceVar())
}

// datasource is the reference every panel and variable uses: the Prometheus
// picked in the data source variable.
func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
}

func datasourceVar() *dashboard.DatasourceVariableBuilder {
	return dashboard.NewDatasourceVariableBuilder("datasource").
		Label("Data source").
		Type("prometheus")
}

// allOption is the "All" choice of a multi-value variable; with allValue ".*"
// it expands to a regex that matches every value.
func allOption() dashboard.VariableOption {
	return dashboard.VariableOption{
		Selected: cog.ToPtr(true),
		Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
		Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
	}
}

// labelVar is a multi-value variable listing the values of label on metric.
func labelVar(name, label, metric string) *dashboard.QueryVariableBuilder {
	q := fmt.Sprintf("label_values(%s, %s)", metric, name)
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Query(dashboard.StringOrMap{String: cog.ToPtr(q)}).
		Definition(q).
		Datasource(datasource()).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalCaseInsensitiveAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".*").
		Current(allOption())
}

func sourceVar() *dashboard.QueryVariableBuilder {
	return labelVar("source", "Source", "license_up")
}

func productVar() *dashboard.QueryVariableBuilder {
	return labelVar("product", "Product", `license_seats_issued{source=~"$source"}`)
}

// sel is the label matcher of the source and product variables.
const sel = `source=~"$source", product=~"$product"`

// promQL trims the indentation used to keep long queries readable in Go.
func promQL(expr string) string {
	lines := strings.Split(strings.TrimSpace(expr), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, " ")
}

// series is a range query drawn as one series per label set.
func series(ref, expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		RefId(ref).
		Datasource(datasource()).
		Expr(promQL(expr)).
		LegendFormat(legend).
		Range()
}

// latest is an instant query, for stats and gauges.
func latest(ref, expr, legend string) *prometheus.DataqueryBuilder {
	return series(ref, expr, legend).Instant()
}

// tableQuery is an instant query returned as a table, one row per label set.
func tableQuery(ref, expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		RefId(ref).
		Datasource(datasource()).
		Expr(promQL(expr)).
		Format(prometheus.PromQueryFormatTable).
		Instant()
}

// thresholds builds a threshold scale: a base colour, then (value, colour) steps.
func thresholds(mode dashboard.ThresholdsMode, base string, steps ...any) *dashboard.ThresholdsConfigBuilder {
	s := []dashboard.Threshold{{Value: nil, Color: base}}
	for i := 0; i+1 < len(steps); i += 2 {
		s = append(s, dashboard.Threshold{Value: cog.ToPtr(toFloat(steps[i])), Color: steps[i+1].(string)})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(mode).Steps(s)
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case int:
		return float64(n)
	case float64:
		return n
	}
	panic(fmt.Sprintf("threshold value %v is not a number", v))
}

// The thresholds of alerts/alerts.yml that panels colour by; a test reads
// them from the rules, so the two cannot drift apart.
const (
	alertSaturationHigh = 0.9     // LicenseSaturationHigh: utilisation >= 0.9
	alertExhausted      = 1.0     // LicenseSeatsExhausted: in use >= issued
	alertDataStale      = 30 * 60 // LicenseDataStale: seconds without a good poll
)

// utilisationThresholds colours a share of capacity as the alerts judge it:
// green, orange from LicenseSaturationHigh's 90 %, red when full
// (LicenseSeatsExhausted). Percentage mode measures against the field's min
// and max.
func utilisationThresholds(mode dashboard.ThresholdsMode) *dashboard.ThresholdsConfigBuilder {
	if mode == dashboard.ThresholdsModePercentage {
		return thresholds(mode, "green", alertSaturationHigh*100, "orange", alertExhausted*100, "red")
	}
	return thresholds(mode, "green", alertSaturationHigh, "orange", alertExhausted, "red")
}

// tooltip lists every series under the cursor, largest first.
func tooltip() *common.VizTooltipOptionsBuilder {
	return common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending)
}

func colorBy(mode dashboard.FieldColorModeId) *dashboard.FieldColorBuilder {
	return dashboard.NewFieldColorBuilder().Mode(mode)
}

func lastValue() *common.ReduceDataOptionsBuilder {
	return common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false)
}

// transform is a Grafana transformation with its options.
func transform(id string, options map[string]any) dashboard.DataTransformerConfig {
	return dashboard.DataTransformerConfig{Id: id, Options: options}
}

// column is one column of a joined table: the field it comes from and its title.
type column struct{ from, title string }

// label keeps a label column under its own name.
func label(name string) column { return column{name, name} }

// value titles the value column of query ref.
func value(ref, title string) column { return column{"Value #" + ref, title} }

// joinColumns merges instant table queries into one row per label set, drops
// every field not listed, and orders and titles the rest as given.
func joinColumns(cols ...column) []dashboard.DataTransformerConfig {
	index := map[string]any{}
	rename := map[string]any{}
	for i, c := range cols {
		index[c.from] = i
		if c.title != c.from {
			rename[c.from] = c.title
		}
	}
	return []dashboard.DataTransformerConfig{
		transform("merge", map[string]any{}),
		// filterFieldsByName keeps only the listed columns, so labels a query
		// happens to carry (job, instance) never widen the table.
		transform("filterFieldsByName", map[string]any{
			"include": map[string]any{"names": fromNames(cols)},
		}),
		transform("organize", map[string]any{
			"indexByName":  index,
			"renameByName": rename,
		}),
	}
}

func fromNames(cols []column) []string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.from
	}
	return names
}

// prop is one field override property.
func prop(id string, value any) dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: id, Value: value}
}

// valueText maps exact values to a text and colour: value, text, colour, ...
func valueText(pairs ...string) dashboard.ValueMapping {
	opts := map[string]dashboard.ValueMappingResult{}
	for i := 0; i+2 < len(pairs); i += 3 {
		opts[pairs[i]] = dashboard.ValueMappingResult{Text: cog.ToPtr(pairs[i+1]), Color: cog.ToPtr(pairs[i+2]), Index: cog.ToPtr(int32(i / 3))}
	}
	return dashboard.ValueMapping{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: opts}}
}

// specialText shows text for a special value (NaN, null, ...).
func specialText(match dashboard.SpecialValueMatch, text string) dashboard.ValueMapping {
	return dashboard.ValueMapping{SpecialValueMap: &dashboard.SpecialValueMap{
		Type:    dashboard.MappingTypeSpecialValue,
		Options: dashboard.DashboardSpecialValueMapOptions{Match: match, Result: dashboard.ValueMappingResult{Text: cog.ToPtr(text)}},
	}}
}

// tablePromQuery is a query of a joined table.
type tablePromQuery struct{ ref, expr string }

func tq(ref, expr string) *tablePromQuery { return &tablePromQuery{ref, expr} }

// joinedTable is a table of instant queries joined on their labels.
func joinedTable(title, description string, width, height uint32, queries []*tablePromQuery, cols ...column) *table.PanelBuilder {
	p := table.NewPanelBuilder().
		Title(title).
		Description(description).
		Span(width).
		Height(height).
		Transformations(joinColumns(cols...)).
		Decimals(0).
		Filterable(true).
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"}))
	for _, q := range queries {
		p.WithTarget(tableQuery(q.ref, q.expr))
	}
	return p
}
