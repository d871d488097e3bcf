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

// Recording rules of alerts/rules.yml. The capacity dashboard reads only
// the hourly and daily ones (per license type, and per user and edition),
// so it works on a long-term Prometheus that keeps nothing else
// (deploy/README.md) and a year of it stays cheap.
const (
	ruleIssued      = "source_product_edition:license_seats_issued:sum"
	ruleInUse       = "source_product_edition:license_seats_in_use:sum"
	ruleUtilisation = "source_product_edition:license_seats_utilisation:ratio"
	ruleDailyPeak   = "source_product_edition:license_seats_in_use:max_over_time1d"

	ruleTypeIssued1h     = "source_product_edition_license_type:license_seats_issued:max1h"
	ruleTypeInUse1h      = "source_product_edition_license_type:license_seats_in_use:max1h"
	ruleTypeExpiry1h     = "source_product_edition_license_type:license_expiry_timestamp_seconds:min1h"
	ruleTypePeak1d       = "source_product_edition_license_type:license_seats_in_use:max1d"
	ruleTypePeakWeekdays = "source_product_edition_license_type:license_seats_in_use:max1d_weekdays"
	ruleTypePeak1w       = "source_product_edition_license_type:license_seats_in_use:max1w"
	ruleTypeExhausted1d  = "source_product_edition_license_type:license_seats_exhausted:hours1d"
	ruleTypeHigh1d       = "source_product_edition_license_type:license_seats_saturation_high:hours1d"
	ruleTypeDenials1d    = "source_product_edition_license_type:license_denials:increase1d"
	ruleTypeDeniedDays   = "source_product_edition_license_type:license_denials:any1d_weekdays"
	ruleUserSeatHours1d  = "source_product_edition_user:license_user_seat_hours:sum1d"

	// FlexLM sources only: seats in use that no reservation holds, and
	// requests waiting in the queue.
	ruleTypeUnreserved1h = "source_product_edition_license_type:license_seats_unreserved_in_use:max1h"
	ruleTypeQueued1h     = "source_product_edition_license_type:license_queued_requests:max1h"
)

// byType is the level of the per-license-type rules.
const byType = "source, product, edition, license_type"

// WindowDefault is the range the renewal panels look back over by default:
// a quarter, the usual renewal horizon.
const WindowDefault = "90d"

// HorizonDefault is the default projection horizon, in seconds (90 days).
const HorizonDefault = "7776000"

// Recommended-seats thresholds (docs/dashboards.md): more seats than issued
// when denials came on more than this share of weekdays...
const shortDenialShare = 0.05

// ...or when every seat was in use for more than this many hours a week on
// average.
const shortHoursPerWeek = 1

// Capacity is for trends and renewals: how many seats of each product,
// edition and license type were needed, and when use outgrows what was
// bought.
func Capacity() (dashboard.Dashboard, error) {
	b := newDashboard("license-capacity", "License capacity and renewals",
		"What to buy at renewal, from recorded series only: peaks, weekday percentiles, hours at saturation, denials, forecast, expiry and top users. Days and weekdays are UTC.").
		Time("now-90d", "now").
		Refresh("1h").
		WithVariable(capacitySourceVar()).
		WithVariable(capacityProductVar()).
		WithVariable(windowVar()).
		WithVariable(horizonVar())
	capacityRenewalRow(b)
	capacityWeeklyRow(b)
	capacityTrendRow(b)
	capacityForecastRow(b)
	capacityWeekRow(b)
	capacityUsersRow(b)
	capacityFlexLMRow(b)
	return b.Build()
}

// The capacity variables list values of a recorded series, so they work
// where only recorded series are kept.
func capacitySourceVar() *dashboard.QueryVariableBuilder {
	return labelVar("source", "Source", ruleTypeIssued1h)
}

func capacityProductVar() *dashboard.QueryVariableBuilder {
	return labelVar("product", "Product", ruleTypeIssued1h+`{source=~"$source"}`)
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
		Description("Range of the renewal, forecast and top-user panels.").
		Values(dashboard.StringOrMap{String: cog.ToPtr(strings.Join(opts, ","))}).
		Options(options).
		Current(dashboard.VariableOption{
			Selected: cog.ToPtr(true),
			Text:     dashboard.StringOrArrayOfString{String: cog.ToPtr(WindowDefault)},
			Value:    dashboard.StringOrArrayOfString{String: cog.ToPtr(WindowDefault)},
		})
}

// horizonVar is how far ahead the forecast projects: its text is days, its
// value seconds, which predict_linear takes.
func horizonVar() *dashboard.CustomVariableBuilder {
	type opt struct{ text, value string }
	opts := []opt{{"30d", "2592000"}, {"90d", HorizonDefault}, {"180d", "15552000"}, {"365d", "31536000"}}
	var options []dashboard.VariableOption
	var query []string
	for _, o := range opts {
		options = append(options, dashboard.VariableOption{
			Selected: cog.ToPtr(o.value == HorizonDefault),
			Text:     dashboard.StringOrArrayOfString{String: cog.ToPtr(o.text)},
			Value:    dashboard.StringOrArrayOfString{String: cog.ToPtr(o.value)},
		})
		query = append(query, o.text+" : "+o.value)
	}
	return dashboard.NewCustomVariableBuilder("horizon").
		Label("Projection horizon").
		Description("How far ahead the forecast projects the trend of weekday peaks.").
		Values(dashboard.StringOrMap{String: cog.ToPtr(strings.Join(query, ","))}).
		Options(options).
		Current(dashboard.VariableOption{
			Selected: cog.ToPtr(true),
			Text:     dashboard.StringOrArrayOfString{String: cog.ToPtr("90d")},
			Value:    dashboard.StringOrArrayOfString{String: cog.ToPtr(HorizonDefault)},
		})
}

// rule selects a recording rule for the chosen sources and products.
func rule(name string) string { return fmt.Sprintf("%s{%s}", name, sel) }

// ruleWith is rule with one more matcher.
func ruleWith(name, matcher string) string { return fmt.Sprintf("%s{%s, %s}", name, sel, matcher) }

// currentIssued is the seats issued now: the last hourly sample (up to an
// hour old, so the range is two). The max by drops the metric name, which
// last_over_time keeps, so the table joins it with the other columns.
func currentIssued() string {
	return fmt.Sprintf("max by (%s) (last_over_time(%s[2h]))", byType, rule(ruleTypeIssued1h))
}

// p95WeekdayPeak is the 95th percentile of the daily peaks of weekdays:
// the seats a working day needed, on all but one working day in twenty.
func p95WeekdayPeak() string {
	return fmt.Sprintf("quantile_over_time(0.95, %s[$window])", rule(ruleTypePeakWeekdays))
}

// RecommendedSeats is the renewal table's formula (docs/dashboards.md).
// Short, when denials came on more than 5 % of weekdays or every seat was
// in use more than an hour a week on average: max(issued, ceil(p95 of
// weekday peaks)) plus 10 % of issued, at least one seat, since use cannot
// show demand above what was issued. Otherwise: ceil(p95 of weekday
// peaks), which is below issued when seats are to spare.
func RecommendedSeats() string {
	issued := currentIssued()
	p95 := p95WeekdayPeak()
	short := fmt.Sprintf(`(
		sum by (%[1]s) (avg_over_time(%[2]s[$window])) > %[3]v
		or on (%[1]s)
		7 * avg_over_time(%[4]s[$window]) > %[5]v
	)`, byType, ruleWith(ruleTypeDeniedDays, `reason="no_seat_available"`), shortDenialShare, rule(ruleTypeExhausted1d), shortHoursPerWeek)
	base := fmt.Sprintf("(ceil(%[2]s) > on (%[1]s) %[3]s or on (%[1]s) %[3]s)", byType, p95, issued)
	step := fmt.Sprintf("clamp_min(ceil(0.1 * %s), 1)", issued)
	return promQL(fmt.Sprintf(`
		(%[2]s + on (%[1]s) %[3]s) and on (%[1]s) %[4]s
		or on (%[1]s)
		ceil(%[5]s)`, byType, base, step, short, p95))
}

// capacityRenewalRow is the renewal table: per product, edition and
// license type, what was bought, what was used, how often it ran out, and
// what to buy.
func capacityRenewalRow(b *dashboard.DashboardBuilder) {
	change := fmt.Sprintf("(%s) - on (%s) %s", RecommendedSeats(), byType, currentIssued())
	b.WithRow(dashboard.NewRowBuilder("Renewal")).
		WithPanel(joinedTable("Seats to renew, over $window",
			"Per product, edition and license type. issued: now. peak: the most seats in use at once. p95 weekday peak: the 95th percentile of the daily peaks of Monday to Friday (UTC days). hours at 100 % / ≥ 90 %: hours every seat, or 90 % of them, were in use (the thresholds of LicenseSeatsExhausted and LicenseSaturationHigh). denials: users refused for want of a seat (no_seat_available). "+
				"recommended: when denials came on more than 5 % of weekdays, or every seat was in use more than 1 hour a week on average, max(issued, ⌈p95 weekday peak⌉) + max(1, ⌈10 % of issued⌉), because use cannot show demand above the seats issued; otherwise ⌈p95 weekday peak⌉. change: recommended − issued, red to buy, blue to spare.",
			24, 10,
			[]*tablePromQuery{
				tq("A", currentIssued()),
				tq("B", fmt.Sprintf("max_over_time(%s[$window])", rule(ruleTypeInUse1h))),
				tq("C", p95WeekdayPeak()),
				tq("D", fmt.Sprintf("sum_over_time(%s[$window])", rule(ruleTypeExhausted1d))),
				tq("E", fmt.Sprintf("sum_over_time(%s[$window])", rule(ruleTypeHigh1d))),
				tq("F", fmt.Sprintf("7 * avg_over_time(%s[$window])", rule(ruleTypeExhausted1d))),
				tq("G", fmt.Sprintf("sum by (%s) (sum_over_time(%s[$window]))", byType, ruleWith(ruleTypeDenials1d, `reason="no_seat_available"`))),
				tq("H", fmt.Sprintf("sum by (%s) (avg_over_time(%s[$window]))", byType, ruleWith(ruleTypeDeniedDays, `reason="no_seat_available"`))),
				tq("I", RecommendedSeats()),
				tq("J", change),
			},
			label("source"), label("product"), label("edition"), column{"license_type", "license type"},
			value("A", "issued"), value("B", "peak"), value("C", "p95 weekday peak"),
			value("D", "hours at 100 %"), value("E", "hours ≥ 90 %"), value("F", "hours at 100 % a week"),
			value("G", "denials"), value("H", "weekdays with denials"),
			value("I", "recommended"), value("J", "change")).
			OverrideByName("p95 weekday peak", []dashboard.DynamicConfigValue{prop("decimals", 1)}).
			OverrideByName("hours at 100 %", []dashboard.DynamicConfigValue{prop("decimals", 1)}).
			OverrideByName("hours ≥ 90 %", []dashboard.DynamicConfigValue{prop("decimals", 1)}).
			OverrideByName("hours at 100 % a week", []dashboard.DynamicConfigValue{
				prop("decimals", 1),
				prop("custom.cellOptions", map[string]any{"type": "color-text"}),
				prop("thresholds", map[string]any{"mode": "absolute", "steps": []any{
					map[string]any{"value": nil, "color": "text"},
					map[string]any{"value": shortHoursPerWeek, "color": "red"},
				}}),
			}).
			OverrideByName("weekdays with denials", []dashboard.DynamicConfigValue{
				prop("unit", "percentunit"),
				prop("decimals", 0),
				prop("custom.cellOptions", map[string]any{"type": "color-text"}),
				prop("thresholds", map[string]any{"mode": "absolute", "steps": []any{
					map[string]any{"value": nil, "color": "text"},
					map[string]any{"value": shortDenialShare, "color": "red"},
				}}),
			}).
			// Need more: red. Surplus: blue. Neither: green.
			OverrideByName("change", []dashboard.DynamicConfigValue{
				prop("custom.cellOptions", map[string]any{"type": "color-background"}),
				prop("thresholds", map[string]any{"mode": "absolute", "steps": []any{
					map[string]any{"value": nil, "color": "blue"},
					map[string]any{"value": 0, "color": "green"},
					map[string]any{"value": 1, "color": "red"},
				}}),
			}).
			SortBy([]cog.Builder[common.TableSortByFieldState]{
				common.NewTableSortByFieldStateBuilder().DisplayName("change").Desc(true),
			}))
}

// capacityWeeklyRow charts, per product, the weekly peak of each edition
// and license type against its seats issued (dashed).
func capacityWeeklyRow(b *dashboard.DashboardBuilder) {
	b.WithRow(dashboard.NewRowBuilder("Weekly peaks")).
		WithPanel(againstIssued("$product: weekly peak against issued",
			"The most seats in use at once in each UTC week, Monday to Sunday, recorded on the Monday after; the dashed line is the seats issued.",
			fmt.Sprintf("last_over_time(%s[1w])", rule(ruleTypePeak1w)), "peak"))
}

// capacityTrendRow charts, per product, the hourly peaks against issued.
func capacityTrendRow(b *dashboard.DashboardBuilder) {
	b.WithRow(dashboard.NewRowBuilder("In use against issued")).
		WithPanel(againstIssued("$product: in use against issued",
			"The most seats in use at once in each interval (hourly peaks); the dashed line is the seats issued.",
			fmt.Sprintf("max_over_time(%s[$__interval])", rule(ruleTypeInUse1h)), "in use").
			Interval("1h"))
}

// againstIssued is a chart repeated per product: expr per edition and
// license type, and the seats issued, dashed.
func againstIssued(title, description, expr, what string) *timeseries.PanelBuilder {
	legend := "{{source}} {{edition}} {{license_type}} " + what
	return timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Repeat("product").
		RepeatDirection(dashboard.PanelRepeatDirectionH).
		MaxPerRow(2).
		Span(12).
		Height(8).
		WithTarget(series("A", expr, legend)).
		WithTarget(series("B", fmt.Sprintf("max_over_time(%s[$__interval])", rule(ruleTypeIssued1h)), "{{source}} {{edition}} {{license_type}} issued")).
		Interval("1h").
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
			Calcs([]string{"max", "mean"}))
}

// capacityForecastRow fits a line through the weekday peaks over $window
// and tells when it reaches the seats issued.
func capacityForecastRow(b *dashboard.DashboardBuilder) {
	peaks := fmt.Sprintf("%s[$window]", rule(ruleTypePeakWeekdays))
	trendNow := fmt.Sprintf("predict_linear(%s, 0)", peaks)
	issued := currentIssued()
	// Rising: days until the line meets issued (0 once past it). Flat or
	// falling: 0 if already at or over issued, else NaN ("not rising").
	daysLeft := fmt.Sprintf(`
		clamp_min((%[1]s - on (%[4]s) %[2]s) / on (%[4]s) (deriv(%[3]s) > 0), 0) / 86400
		or on (%[4]s) (%[2]s >= on (%[4]s) %[1]s) * 0
		or on (%[4]s) %[1]s * 0 + NaN`, issued, trendNow, peaks, byType)
	b.WithRow(dashboard.NewRowBuilder("Forecast")).
		WithPanel(joinedTable("When the weekday peak reaches capacity",
			"A straight line fitted through the daily peaks of weekdays (UTC) over $window: its slope, where it will be in ${horizon:text}, and how many days until it reaches the seats issued.",
			24, 8,
			[]*tablePromQuery{
				tq("A", issued),
				tq("B", fmt.Sprintf("max by (%s) (last_over_time(%s[1w]))", byType, rule(ruleTypePeakWeekdays))),
				tq("C", fmt.Sprintf("deriv(%s) * 86400", peaks)),
				tq("D", fmt.Sprintf("predict_linear(%s, $horizon)", peaks)),
				tq("E", daysLeft),
			},
			label("source"), label("product"), label("edition"), column{"license_type", "license type"},
			value("A", "issued"), value("B", "last weekday peak"), value("C", "trend per day"),
			value("D", "projected peak in ${horizon:text}"), value("E", "days until full")).
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
			OverrideByName("trend per day", []dashboard.DynamicConfigValue{prop("decimals", 2)})).
		WithPanel(joinedTable("Next expiry",
			"The earliest expiry among each license type's licenses; perpetual ones are not listed.",
			24, 8,
			[]*tablePromQuery{
				tq("A", fmt.Sprintf("last_over_time(%s[2h]) * 1000", rule(ruleTypeExpiry1h))),
				tq("B", fmt.Sprintf("(last_over_time(%s[2h]) - time()) / 86400", rule(ruleTypeExpiry1h))),
			},
			label("source"), label("product"), label("edition"), column{"license_type", "license type"},
			value("A", "expires"), value("B", "days left")).
			OverrideByName("expires", []dashboard.DynamicConfigValue{prop("unit", "dateTimeAsIso")}).
			OverrideByName("days left", []dashboard.DynamicConfigValue{
				prop("decimals", 0),
				prop("custom.cellOptions", map[string]any{"type": "color-background"}),
				prop("thresholds", map[string]any{"mode": "absolute", "steps": []any{
					map[string]any{"value": nil, "color": "red"},
					map[string]any{"value": 7, "color": "orange"},
					map[string]any{"value": 30, "color": "green"},
				}}),
			}).
			SortBy([]cog.Builder[common.TableSortByFieldState]{
				common.NewTableSortByFieldStateBuilder().DisplayName("days left"),
			}))
}

// capacityWeekRow is the hour-of-week heatmap: each cell is the peak
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
		weeks = append(weeks, fmt.Sprintf(`label_replace(max_over_time(%[1]s[1h]%[3]s) / on (%[4]s) (max_over_time(%[2]s[1h]%[3]s) > 0), "weeks_ago", "%[5]d", "", "")`,
			rule(ruleTypeInUse1h), rule(ruleTypeIssued1h), offset, byType, w))
	}
	expr := fmt.Sprintf("avg by (%s) (%s)", byType, strings.Join(weeks, " or "))
	b.WithRow(dashboard.NewRowBuilder("Hour of week")).
		WithPanel(heatmap.NewPanelBuilder().
			Title("Peak utilisation by hour of week").
			Description("Per hour of the week (UTC, shown in the browser's time zone), the hour's peak seats in use over seats issued, averaged over the last four weeks. Rows are products, editions and license types.").
			Span(24).
			Height(9).
			TimeFrom("7d").
			Interval("1h").
			MaxDataPoints(168).
			WithTarget(series("A", expr, "{{product}} {{edition}} {{license_type}}")).
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

// capacityUsersRow ranks users by seat-hours, from the daily rule: at most
// one sample per user, edition and UTC day.
func capacityUsersRow(b *dashboard.DashboardBuilder) {
	expr := fmt.Sprintf("topk(10, sum by (user) (sum_over_time(%s[$window])))", rule(ruleUserSeatHours1d))
	b.WithRow(dashboard.NewRowBuilder("Users")).
		WithPanel(barsTop("Top users by seat-hours over $window",
			"Seat-hours per user over the complete UTC days of the window, every product and edition selected. Empty when the exporter runs with users: false.",
			expr))
}

// barsTop is a ranking as horizontal bars.
func barsTop(title, description, expr string) *bargauge.PanelBuilder {
	return bargauge.NewPanelBuilder().
		Title(title).
		Description(description).
		Span(24).
		Height(9).
		WithTarget(latest("A", expr, "{{user}}")).
		Unit("suffix: seat-h").
		Decimals(0).
		Orientation(common.VizOrientationHorizontal).
		DisplayMode(common.BarGaugeDisplayModeBasic).
		ColorScheme(colorBy(dashboard.FieldColorModeIdContinuousBlues)).
		ReduceOptions(lastValue())
}

// capacityFlexLMRow is for FlexLM sources: lmstat counts seats held by
// RESERVATIONs as in use, so planning reads the use without them; queued
// requests are demand that no seat met, which in-use peaks never show. It
// is last, so the panels above keep their places; a CSI source has neither
// series and shows "No FlexLM source".
func capacityFlexLMRow(b *dashboard.DashboardBuilder) {
	const none = "No FlexLM source selected"
	legend := "{{source}} {{product}} {{license_type}}"
	b.WithRow(dashboard.NewRowBuilder("Reservations and queue (FlexLM)")).
		WithPanel(timeseries.NewPanelBuilder().
			Title("In use without reservations against issued").
			Description("Hourly peaks of the seats in use that no RESERVATION of the options file holds (lmstat counts reserved seats in use): the demand to plan seats for. The dashed line is the seats issued.").
			Span(12).
			Height(8).
			Interval("1h").
			WithTarget(series("A", fmt.Sprintf("max_over_time(%s[$__interval])", rule(ruleTypeUnreserved1h)), legend+" in use, unreserved")).
			// Issued only for the license types of query A: over the same
			// range, since an hourly series is stale to an instant selector
			// for most of the hour.
			WithTarget(series("B", fmt.Sprintf("max_over_time(%s[$__interval]) and on (%s) max_over_time(%s[$__interval])", rule(ruleTypeIssued1h), byType, rule(ruleTypeUnreserved1h)), legend+" issued")).
			Unit("none").
			Decimals(0).
			Min(0).
			NoValue(none).
			FillOpacity(10).
			Tooltip(tooltip()).
			OverrideByQuery("B", []dashboard.DynamicConfigValue{
				prop("custom.lineStyle", map[string]any{"fill": "dash", "dash": []any{10, 10}}),
				prop("custom.fillOpacity", 0),
			})).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Queued requests").
			Description("Hourly peaks of the checkout requests waiting in a FlexLM queue: users who asked for a seat and waited. Demand that no seat met, on top of the seats in use.").
			Span(12).
			Height(8).
			Interval("1h").
			WithTarget(series("A", fmt.Sprintf("max_over_time(%s[$__interval])", rule(ruleTypeQueued1h)), legend)).
			Unit("none").
			Decimals(0).
			Min(0).
			NoValue(none).
			DrawStyle(common.GraphDrawStyleBars).
			FillOpacity(80).
			Tooltip(tooltip()))
}
