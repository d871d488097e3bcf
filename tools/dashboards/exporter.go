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

// jobs are the scrape jobs of the exporter (the name LicenseExporterDown
// matches) and the sidecar (deploy/prometheus/prometheus.yml).
const jobs = `job=~"license_exporter|license_sidecar"`

// upStat is license_up per source: DOWN is red.
func upStat(title string, width, height uint32) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description("license_up: whether the last poll of each source succeeded. After a failure the last good data is kept, so check its age.").
		Span(width).
		Height(height).
		WithTarget(latest("A", fmt.Sprintf("license_up{%s}", src), "{{source}}")).
		Mappings([]dashboard.ValueMapping{valueText("1", "UP", "green", "0", "DOWN", "red")}).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone).
		TextMode(common.BigValueTextModeValueAndName).
		Orientation(common.VizOrientationAuto).
		ReduceOptions(lastValue())
}

// dataAgeStat is the age of the data: orange after 5 minutes, red from
// LicenseDataStale's 30 minutes.
func dataAgeStat(title string, width, height uint32) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description("Time since the last good poll. It grows while polls fail; red from 30 minutes, when LicenseDataStale fires.").
		Span(width).
		Height(height).
		WithTarget(latest("A", dataAge, "{{source}}")).
		Unit("s").
		Thresholds(thresholds(dashboard.ThresholdsModeAbsolute, "green", 300, "orange", alertDataStale, "red")).
		ColorScheme(colorBy(dashboard.FieldColorModeIdThresholds)).
		ColorMode(common.BigValueColorModeValue).
		GraphMode(common.BigValueGraphModeNone).
		TextMode(common.BigValueTextModeValueAndName).
		Orientation(common.VizOrientationAuto).
		ReduceOptions(lastValue())
}

func exporterStatusRow(b *dashboard.DashboardBuilder) {
	b.WithRow(dashboard.NewRowBuilder("Status")).
		WithPanel(stat.NewPanelBuilder().
			Title("Targets").
			Description("Prometheus's up for the exporter and the sidecar: DOWN when a scrape fails, and for the exporter also when its job has no target at all (as LicenseExporterDown).").
			Span(6).
			Height(5).
			// absent() is 1 when the exporter's job has no target: minus 1
			// makes it a DOWN row instead of no data.
			WithTarget(latest("A", "up{"+jobs+`} or absent(up{job="license_exporter"}) - 1`, "{{job}} {{instance}}")).
			Mappings([]dashboard.ValueMapping{valueText("1", "UP", "green", "0", "DOWN", "red")}).
			ColorMode(common.BigValueColorModeBackground).
			GraphMode(common.BigValueGraphModeNone).
			TextMode(common.BigValueTextModeValueAndName).
			Orientation(common.VizOrientationAuto).
			ReduceOptions(lastValue())).
		WithPanel(upStat("Last poll", 6, 5)).
		WithPanel(dataAgeStat("Data age", 6, 5)).
		WithPanel(stat.NewPanelBuilder().
			Title("Config reload").
			Description("Whether the last load of each program's config file succeeded. FAILED: the file was refused and the old config is still running.").
			Span(6).
			Height(5).
			WithTarget(latest("A", "license_exporter_config_last_reload_successful", "exporter {{instance}}")).
			WithTarget(latest("B", "license_sidecar_config_last_reload_successful", "sidecar {{instance}}")).
			Mappings([]dashboard.ValueMapping{valueText("1", "OK", "green", "0", "FAILED", "red")}).
			ColorMode(common.BigValueColorModeBackground).
			GraphMode(common.BigValueGraphModeNone).
			TextMode(common.BigValueTextModeValueAndName).
			Orientation(common.VizOrientationAuto).
			ReduceOptions(lastValue())).
		WithPanel(statetimeline.NewPanelBuilder().
			Title("Poll status over time").
			Span(24).
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
		WithPanel(graph("Failure ratio", "Share of polls that failed, per source.",
			series("A", fmt.Sprintf("sum by (source) (rate(license_poll_failures_total{%[1]s}[$__rate_interval])) / sum by (source) (rate(license_polls_total{%[1]s}[$__rate_interval]))", src), "{{source}}")).
			Unit("percentunit").
			Max(1)).
		WithPanel(graph("Series exported", "Samples in each scrape of the exporter and the sidecar: per-user series dominate on large accounts (docs/performance.md).",
			series("A", "scrape_samples_scraped{"+jobs+"}", "{{job}} {{instance}}")).
			Unit("none")).
		// Each bar is the increase over its own interval ($__interval, at
		// least a minute), so no failure is counted in two bars.
		WithPanel(graph("Poll failures by reason", "Failed polls per interval, by reason (timeout, connection, http_4xx, http_5xx, rate_limited, decode, invalid, too_large).",
			series("A", fmt.Sprintf("sum by (source, reason) (increase(license_poll_failures_total{%s}[$__interval]))", src), "{{source}} {{reason}}")).
			Interval("1m").
			Span(24).
			Unit("none").
			DrawStyle(common.GraphDrawStyleBars).
			FillOpacity(80).
			Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)))
}

func exporterSidecarRow(b *dashboard.DashboardBuilder) {
	b.WithRow(dashboard.NewRowBuilder("Sidecar")).
		WithPanel(graph("Sidecar terminations by outcome", "Session terminations the sidecar decided, by outcome. Empty until someone asks to terminate a session.",
			series("A", "sum by (outcome) (increase(license_sidecar_terminations_total[$__interval]))", "{{outcome}}")).
			Interval("1m").
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
