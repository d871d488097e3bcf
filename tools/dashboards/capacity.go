//lint:file-ignore SA1019 the classic dashboard model is what Grafana imports and provisions from files; dashboardv2 needs Grafana 12 with its v2 API enabled.

package dashboards

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/heatmap"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Recording rules from alerts/ (per source, product and edition). Long
// ranges read these instead of every license's raw series.
const (
	ruleIssued      = "source_product_edition:license_seats_issued:sum"
	ruleInUse       = "source_product_edition:license_seats_in_use:sum"
	ruleUtilisation = "source_product_edition:license_seats_utilisation:ratio"
	ruleDailyPeak   = "source_product_edition:license_seats_in_use:max_over_time1d"
)

// WindowDefault is the range the renewal panels look back over by default:
// a quarter, the usual renewal horizon.
const WindowDefault = "90d"

// Capacity is for trends and renewals: how many seats of each product and
// edition were needed, and when use outgrows what was bought.
func Capacity() (dashboard.Dashboard, error) {
	b := newDashboard("license-capacity", "License capacity and renewals",
		"Trends of license use and what to buy at renewal: peaks, percentiles, saturation, forecast, expiry and top users.").
		Time("now-7d", "now").
		Refresh("5m").
		WithVariable(sourceVar()).
		WithVariable(productVar()).
		WithVariable(windowVar())
	capacityTrendRow(b)
	capacityPeaksRow(b)
	capacityWeekRow(b)
	capacityForecastRow(b)
	capacityRenewalRow(b)
	capacityUsersRow(b)
	return b.Build()
}

// windowVar is the look-back of the renewal panels, independent of the time
// picker so that a week's graph can sit next to a quarter's peak.
func windowVar() *dashboard.CustomVariableBuilder {
	opts := []string{"7d", "30d", "90d", "180d", "365d"}
	var options []dashboard.VariableOption
	for _, o := range opts {
		options = append(options, dashboard.VariableOption{
			Selected: cog.ToPtr(o == WindowDefault),
			Text:     dashboard.StringOrArrayOfString{String: cog.ToPtr(o)},
			Value:    dashboard.StringOrArrayOfString{String: cog.ToPtr(o)},
		})
	}
	return dashboard.NewCustomVariableBuilder("window").
		Label("Look back").
		Description("Range of the peak, percentile, saturation, forecast and renewal panels.").
		Values(dashboard.StringOrMap{String: cog.ToPtr(strings.Join(opts, ","))}).
		Options(options).
		Current(dashboard.VariableOption{
			Selected: cog.ToPtr(true),
			Text:     dashboard.StringOrArrayOfString{String: cog.ToPtr(WindowDefault)},
			Value:    dashboard.StringOrArrayOfString{String: cog.ToPtr(WindowDefault)},
		})
}

// rule selects a recording rule for the chosen sources and products.
func rule(name string) string { return fmt.Sprintf("%s{%s}", name, sel) }

// capacityTrendRow graphs, per product, each edition's seats in use against
// seats issued (dashed).
func capacityTrendRow(b *dashboard.DashboardBuilder) {
	b.WithRow(dashboard.NewRowBuilder("In use against issued")).
		WithPanel(timeseries.NewPanelBuilder().
			Title("$product: in use against issued").
			Description("Seats in use per edition; the dashed line is the seats issued.").
			Repeat("product").
			RepeatDirection(dashboard.PanelRepeatDirectionH).
			MaxPerRow(2).
			Span(12).
			Height(8).
			WithTarget(series("A", fmt.Sprintf("sum by (edition) (%s)", rule(ruleInUse)), "{{edition}} in use")).
			WithTarget(series("B", fmt.Sprintf("sum by (edition) (%s)", rule(ruleIssued)), "{{edition}} issued")).
			Unit("none").
			Decimals(0).
			Min(0).
			FillOpacity(10).
			Tooltip(tooltip()).
			OverrideByQuery("B", []dashboard.DynamicConfigValue{
				prop("custom.lineStyle", map[string]any{"fill": "dash", "dash": []any{10, 10}}),
				prop("custom.fillOpacity", 0),
			}).
			Legend(common.NewVizLegendOptionsBuilder().
				DisplayMode(common.LegendDisplayModeTable).
				Placement(common.LegendPlacementBottom).
				ShowLegend(true).
				Calcs([]string{"max", "mean"})))
}

// capacityPeaksRow: peak concurrent use, the 95th percentile, and how often
// the seats ran out.
func capacityPeaksRow(b *dashboard.DashboardBuilder) {
	peak := func(ref, window string) *tablePromQuery {
		return tq(ref, fmt.Sprintf("max_over_time(%s[%s])", rule(ruleInUse), window))
	}
	b.WithRow(dashboard.NewRowBuilder("Peaks and saturation")).
		WithPanel(joinedTable("Peak concurrent use",
			"Most seats in use at once per product and edition, over the last 7, 30 and 90 days.",
			12, 8,
			[]*tablePromQuery{tq("A", rule(ruleIssued)), peak("B", "7d"), peak("C", "30d"), peak("D", "90d")},
			label("source"), label("product"), label("edition"),
			value("A", "issued"), value("B", "peak 7d"), value("C", "peak 30d"), value("D", "peak 90d"))).
		WithPanel(barsPerEdition("95th percentile of use over $window",
			"Seats in use that covered 95 % of the time.",
			fmt.Sprintf("quantile_over_time(0.95, %s[$window])", rule(ruleInUse))).
			Unit("none").
			Decimals(1)).
		WithPanel(barsPerEdition("Time at saturation over $window",
			"Share of the time every issued seat was in use (sampled each minute).",
			fmt.Sprintf("avg_over_time((%s >= bool 1)[$window:1m])", rule(ruleUtilisation))).
			Unit("percentunit").
			Min(0).
			Max(1).
			Thresholds(thresholds(dashboard.ThresholdsModeAbsolute, "green", 0.01, "orange", 0.05, "red")))
}

// barsPerEdition is a horizontal bar per source, product and edition.
func barsPerEdition(title, description, expr string) *bargauge.PanelBuilder {
	return bargauge.NewPanelBuilder().
		Title(title).
		Description(description).
		Span(6).
		Height(8).
		WithTarget(latest("A", expr, "{{product}} {{edition}}")).
		Orientation(common.VizOrientationHorizontal).
		DisplayMode(common.BarGaugeDisplayModeGradient).
		ColorScheme(colorBy(dashboard.FieldColorModeIdThresholds)).
		ReduceOptions(lastValue())
}

// capacityWeekRow is the hour-of-week heatmap: each cell is the mean
// utilisation in that hour of the week, averaged over the last four weeks
// that have data. The label_replace tags each week apart so that "or" keeps
// them all and avg folds them together.
func capacityWeekRow(b *dashboard.DashboardBuilder) {
	weeks := []string{}
	for w := 0; w < 4; w++ {
		offset := ""
		if w > 0 {
			offset = fmt.Sprintf(" offset %dw", w)
		}
		weeks = append(weeks, fmt.Sprintf(`label_replace(avg_over_time(%s[1h]%s), "weeks_ago", "%d", "", "")`,
			rule(ruleUtilisation), offset, w))
	}
	expr := fmt.Sprintf("avg by (source, product, edition) (%s)", strings.Join(weeks, " or "))
	b.WithRow(dashboard.NewRowBuilder("Hour of week")).
		WithPanel(heatmap.NewPanelBuilder().
			Title("Utilisation by hour of week").
			Description("Mean utilisation per hour of the week, averaged over the last four weeks. Rows are products and editions.").
			Span(24).
			Height(9).
			TimeFrom("7d").
			Interval("1h").
			MaxDataPoints(168).
			WithTarget(series("A", expr, "{{product}} {{edition}}")).
			Calculate(false).
			Color(heatmap.NewHeatmapColorOptionsBuilder().
				Mode(heatmap.HeatmapColorModeScheme).
				Scheme("Oranges").
				Scale(heatmap.HeatmapColorScaleLinear).
				Fill("dark-orange").
				Exponent(0.5).
				Steps(64).
				Min(0).
				Max(1)).
			CellValues(heatmap.NewCellValuesBuilder().Unit("percentunit").Decimals(0)).
			ShowValue(common.VisibilityModeNever).
			Tooltip(heatmap.NewHeatmapTooltipBuilder().Mode(common.TooltipDisplayModeSingle).YHistogram(false).ShowColorScale(true)))
}

// capacityForecastRow fits a line through the daily peaks over $window and
// tells when it reaches the seats issued.
func capacityForecastRow(b *dashboard.DashboardBuilder) {
	peaks := fmt.Sprintf("%s[$window]", rule(ruleDailyPeak))
	trendNow := fmt.Sprintf("predict_linear(%s, 0)", peaks)
	issued := rule(ruleIssued)
	// Rising: days until the line meets issued (0 once past it). Flat or
	// falling: 0 if already at or over issued, else NaN ("not rising").
	daysLeft := fmt.Sprintf(`
		clamp_min((%[1]s - %[2]s) / (deriv(%[3]s) > 0), 0) / 86400
		or (%[2]s >= %[1]s) * 0
		or %[1]s * 0 + NaN`, issued, trendNow, peaks)
	b.WithRow(dashboard.NewRowBuilder("Forecast")).
		WithPanel(joinedTable("When the daily peak reaches capacity",
			"A straight line fitted through the daily peaks over $window: its slope, where it will be in 90 days, and how many days until it reaches the seats issued.",
			24, 8,
			[]*tablePromQuery{
				tq("A", issued),
				tq("B", rule(ruleDailyPeak)),
				tq("C", fmt.Sprintf("deriv(%s) * 86400", peaks)),
				tq("D", fmt.Sprintf("predict_linear(%s, 90 * 86400)", peaks)),
				tq("E", daysLeft),
			},
			label("source"), label("product"), label("edition"),
			value("A", "issued"), value("B", "daily peak"), value("C", "trend per day"),
			value("D", "projected peak in 90 days"), value("E", "days until full")).
			OverrideByName("days until full", []dashboard.DynamicConfigValue{
				prop("mappings", []dashboard.ValueMapping{specialText(dashboard.SpecialValueMatchNaN, "not rising")}),
				prop("decimals", 0),
				prop("custom.cellOptions", map[string]any{"type": "color-text"}),
				prop("thresholds", map[string]any{"mode": "absolute", "steps": []any{
					map[string]any{"value": nil, "color": "red"},
					map[string]any{"value": 30, "color": "orange"},
					map[string]any{"value": 90, "color": "green"},
				}}),
			}).
			OverrideByName("trend per day", []dashboard.DynamicConfigValue{prop("decimals", 2)}))
}

// capacityRenewalRow: what to buy (issued next to the peak and the 99th
// percentile) and when each license expires.
func capacityRenewalRow(b *dashboard.DashboardBuilder) {
	peak := fmt.Sprintf("max_over_time(%s[$window])", rule(ruleInUse))
	p99 := fmt.Sprintf("ceil(quantile_over_time(0.99, %s[$window]))", rule(ruleInUse))
	issued := rule(ruleIssued)
	short := []dashboard.DynamicConfigValue{
		prop("custom.cellOptions", map[string]any{"type": "color-text"}),
		prop("thresholds", map[string]any{"mode": "absolute", "steps": []any{
			map[string]any{"value": nil, "color": "green"},
			map[string]any{"value": 1, "color": "red"},
		}}),
	}
	b.WithRow(dashboard.NewRowBuilder("Renewal")).
		WithPanel(joinedTable("Seats needed at renewal (over $window)",
			"Seats issued next to the observed peak and the 99th percentile (rounded up). A positive difference is seats short; a negative one is seats to spare.",
			14, 9,
			[]*tablePromQuery{
				tq("A", issued),
				tq("B", peak),
				tq("C", p99),
				tq("D", fmt.Sprintf("%s - %s", peak, issued)),
				tq("E", fmt.Sprintf("%s - %s", p99, issued)),
			},
			label("source"), label("product"), label("edition"),
			value("A", "issued"), value("B", "peak"), value("C", "99th percentile"),
			value("D", "peak − issued"), value("E", "p99 − issued")).
			OverrideByName("peak − issued", short).
			OverrideByName("p99 − issued", short)).
		WithPanel(joinedTable("Days left until expiry",
			"Per license; perpetual licenses are not listed.",
			10, 9,
			[]*tablePromQuery{
				tq("A", fmt.Sprintf("(license_expiry_timestamp_seconds{%s} - time()) / 86400", sel)),
				// Only licenses that expire, like query A.
				tq("B", fmt.Sprintf("license_seats_issued{%[1]s} and license_expiry_timestamp_seconds{%[1]s}", sel)),
			},
			label("license_id"), label("product"), label("edition"), label("license_type"),
			value("B", "seats"), value("A", "days left")).
			SortBy([]cog.Builder[common.TableSortByFieldState]{
				common.NewTableSortByFieldStateBuilder().DisplayName("days left"),
			}).
			OverrideByName("days left", []dashboard.DynamicConfigValue{
				prop("decimals", 0),
				prop("custom.cellOptions", map[string]any{"type": "color-background"}),
				prop("thresholds", map[string]any{"mode": "absolute", "steps": []any{
					map[string]any{"value": nil, "color": "red"},
					map[string]any{"value": 30, "color": "orange"},
					map[string]any{"value": 90, "color": "green"},
				}}),
			}))
}

// capacityUsersRow ranks users by seat-hours: seats held, sampled each
// minute over $window.
func capacityUsersRow(b *dashboard.DashboardBuilder) {
	expr := fmt.Sprintf("topk(10, sum_over_time(sum by (user) (license_user_sessions{%s})[$window:1m]) / 60)", sel)
	b.WithRow(dashboard.NewRowBuilder("Users")).
		WithPanel(bargauge.NewPanelBuilder().
			Title("Top users by seat-hours over $window").
			Description("Seat-hours per user. Empty when the exporter runs with users: false.").
			Span(24).
			Height(9).
			WithTarget(latest("A", expr, "{{user}}")).
			Unit("suffix: seat-h").
			Decimals(0).
			Orientation(common.VizOrientationHorizontal).
			DisplayMode(common.BarGaugeDisplayModeBasic).
			ColorScheme(colorBy(dashboard.FieldColorModeIdContinuousBlues)).
			ReduceOptions(lastValue()))
}
