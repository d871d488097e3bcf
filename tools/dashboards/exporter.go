//lint:file-ignore SA1019 the classic dashboard model is what Grafana imports and provisions from files; dashboardv2 needs Grafana 12 with its v2 API enabled.

package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// src is the matcher of the source variable; the exporter's own series carry
// only source.
const src = `source=~"$source"`

// Exporter shows the health of the pipeline: whether polls succeed, how old
// the data is, how long polls take, why they fail, and what the sidecar did.
func Exporter() (dashboard.Dashboard, error) {
	b := newDashboard("license-exporter", "License exporter health",
		"Health of the license_exporter pipeline: upstream polls, data age, failures by reason, and sidecar terminations.").
		Time("now-6h", "now").
		Refresh("30s").
		WithVariable(sourceVar())
	exporterStatusRow(b)
	exporterPollsRow(b)
	exporterSidecarRow(b)
	return b.Build()
}

// dataAge is how long ago the last good poll ended.
var dataAge = fmt.Sprintf("time() - license_last_poll_success_timestamp_seconds{%s}", src)

func exporterStatusRow(b *dashboard.DashboardBuilder) {
	b.WithRow(dashboard.NewRowBuilder("Status")).
		WithPanel(stat.NewPanelBuilder().
			Title("Last poll").
			Description("license_up: whether the last poll of each source succeeded. After a failure the last good data is kept, so check its age.").
			Span(6).
			Height(5).
			WithTarget(latest("A", fmt.Sprintf("license_up{%s}", src), "{{source}} {{instance}}")).
			Mappings([]dashboard.ValueMapping{valueText("1", "UP", "green", "0", "DOWN", "red")}).
			ColorMode(common.BigValueColorModeBackground).
			GraphMode(common.BigValueGraphModeNone).
			TextMode(common.BigValueTextModeValueAndName).
			Orientation(common.VizOrientationAuto).
			ReduceOptions(lastValue())).
		WithPanel(stat.NewPanelBuilder().
			Title("Data age").
			Description("Time since the last good poll. It grows while polls fail.").
			Span(6).
			Height(5).
			WithTarget(latest("A", dataAge, "{{source}} {{instance}}")).
			Unit("s").
			Thresholds(thresholds(dashboard.ThresholdsModeAbsolute, "green", 300, "orange", 900, "red")).
			ColorScheme(colorBy(dashboard.FieldColorModeIdThresholds)).
			ColorMode(common.BigValueColorModeValue).
			GraphMode(common.BigValueGraphModeNone).
			TextMode(common.BigValueTextModeValueAndName).
			Orientation(common.VizOrientationAuto).
			ReduceOptions(lastValue())).
		WithPanel(statetimeline.NewPanelBuilder().
			Title("Poll status over time").
			Span(12).
			Height(5).
			WithTarget(series("A", fmt.Sprintf("license_up{%s}", src), "{{source}} {{instance}}")).
			Mappings([]dashboard.ValueMapping{valueText("1", "UP", "green", "0", "DOWN", "red")}).
			ShowValue(common.VisibilityModeNever).
			Tooltip(tooltip()))
}

func exporterPollsRow(b *dashboard.DashboardBuilder) {
	b.WithRow(dashboard.NewRowBuilder("Polls")).
		WithPanel(graph("Data age", "Time since the last good poll.",
			series("A", dataAge, "{{source}} {{instance}}")).
			Unit("s")).
		WithPanel(graph("Poll duration", "How long the last poll took, all pages included.",
			series("A", fmt.Sprintf("license_poll_duration_seconds{%s}", src), "{{source}} {{instance}}")).
			Unit("s")).
		WithPanel(graph("Polls per minute", "Polls attempted.",
			series("A", fmt.Sprintf("sum by (source) (rate(license_polls_total{%s}[$__rate_interval])) * 60", src), "{{source}}")).
			Unit("none")).
		WithPanel(graph("Poll failures by reason", "Failed polls per interval, by reason (timeout, connection, http_4xx, http_5xx, rate_limited, decode, invalid, too_large).",
			series("A", fmt.Sprintf("sum by (source, reason) (increase(license_poll_failures_total{%s}[$__rate_interval]))", src), "{{source}} {{reason}}")).
			Unit("none").
			DrawStyle(common.GraphDrawStyleBars).
			FillOpacity(80).
			Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)))
}

func exporterSidecarRow(b *dashboard.DashboardBuilder) {
	b.WithRow(dashboard.NewRowBuilder("Sidecar")).
		WithPanel(graph("Sidecar terminations by outcome", "Session terminations the sidecar decided, by outcome. Empty until someone asks to terminate a session.",
			series("A", "sum by (outcome) (increase(license_sidecar_terminations_total[$__rate_interval]))", "{{outcome}}")).
			Unit("none").
			DrawStyle(common.GraphDrawStyleBars).
			FillOpacity(80).
			Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
			Span(12)).
		WithPanel(joinedTable("Exporter builds", "Version of each running exporter.", 12, 8,
			[]*tablePromQuery{tq("A", "license_exporter_build_info")},
			label("instance"), label("version"), label("revision"), label("goversion")))
}

// graph is a time series panel half the width of the dashboard.
func graph(title, description string, q *prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Span(12).
		Height(8).
		WithTarget(q).
		Min(0).
		FillOpacity(10).
		Tooltip(tooltip())
}
