//lint:file-ignore SA1019 the classic dashboard model is what Grafana imports and provisions from files; dashboardv2 needs Grafana 12 with its v2 API enabled.

package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/gauge"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// SidecarLink opens the sidecar's monitor page for the row's user and
// source, where that user's sessions can be terminated. It carries the
// row's product and host too; the sidecar filters on user and source
// (docs/sidecar.md), whose names match when the sidecar's sources are
// named as the exporter's.
const SidecarLink = "${sidecar_url}/?source=${__data.fields.source:percentencode}&user=${__data.fields.user:percentencode}&product=${__data.fields.product:percentencode}&host=${__data.fields.host:percentencode}"

// Monitor is the live snapshot, as in CSI's License Monitor: gauges per
// product at the top, totals, then who holds what.
func Monitor() (dashboard.Dashboard, error) {
	b := newDashboard("license-monitor", "License Monitor",
		"Live snapshot of license use, as in CSI's License Monitor: seats in use against seats issued per product, and who holds them.").
		Time("now-1h", "now").
		Refresh("30s").
		WithVariable(sourceVar()).
		WithVariable(productVar()).
		WithVariable(sidecarURLVar())
	monitorGaugesRow(b)
	monitorTotalsRow(b)
	monitorSessionsRow(b)
	monitorLicensesRow(b)
	monitorDenialsRow(b)
	monitorFlexLMRow(b)
	return b.Build()
}

func sidecarURLVar() *dashboard.TextBoxVariableBuilder {
	return dashboard.NewTextBoxVariableBuilder("sidecar_url").
		Label("Sidecar URL").
		Description("Base URL of license_sidecar; the sessions table links to its monitor page.").
		DefaultValue(dashboard.StringOrMap{String: cog.ToPtr(DefaultSidecarURL)}).
		Current(dashboard.VariableOption{
			Text:  dashboard.StringOrArrayOfString{String: cog.ToPtr(DefaultSidecarURL)},
			Value: dashboard.StringOrArrayOfString{String: cog.ToPtr(DefaultSidecarURL)},
		})
}

// monitorGaugesRow repeats one gauge per product, as CSI shows them. The
// gauge shows seats in use; the issued seats (query B) become its maximum,
// so the colour, in percentage mode, is the utilisation. A product's gauge
// adds its editions together, so a bar per edition follows: the edition
// that runs out is the one the alerts fire for.
func monitorGaugesRow(b *dashboard.DashboardBuilder) {
	b.WithRow(dashboard.NewRowBuilder("Seats in use by product")).
		WithPanel(gauge.NewPanelBuilder().
			Title("$product").
			Description("Seats in use out of seats issued, every edition of the product added together, as CSI shows it. Orange from 90 % (LicenseSaturationHigh), red when full (LicenseSeatsExhausted); the bars below show each edition.").
			Repeat("product").
			RepeatDirection(dashboard.PanelRepeatDirectionH).
			MaxPerRow(6).
			Span(4).
			Height(6).
			WithTarget(latest("A", fmt.Sprintf(`sum(license_seats_in_use{%s})`, sel), "in use")).
			WithTarget(latest("B", fmt.Sprintf(`sum(license_seats_issued{%s})`, sel), "issued")).
			WithTransformation(transform("configFromData", map[string]any{
				"configRefId": "B",
				"mappings":    []any{map[string]any{"fieldName": "issued", "handlerKey": "max"}},
			})).
			Unit("none").
			Decimals(0).
			Min(0).
			Thresholds(utilisationThresholds(dashboard.ThresholdsModePercentage)).
			ColorScheme(colorBy(dashboard.FieldColorModeIdThresholds)).
			ReduceOptions(lastValue()).
			Orientation(common.VizOrientationAuto).
			ShowThresholdMarkers(true).
			ShowThresholdLabels(false)).
		WithPanel(bargauge.NewPanelBuilder().
			Title("Utilisation by product and edition").
			Description("Seats in use over seats issued per product and edition, across the edition's license pools: the figure LicenseSaturationHigh (orange, 90 %) and LicenseSeatsExhausted (red, 100 %) fire on.").
			Span(24).
			Height(8).
			WithTarget(latest("A", fmt.Sprintf(`sum by (source, product, edition) (license_seats_in_use{%[1]s})
				/ sum by (source, product, edition) (license_seats_issued{%[1]s} > 0)`, sel), "{{product}} {{edition}} ({{source}})")).
			Unit("percentunit").
			Decimals(0).
			Min(0).
			Max(1).
			Thresholds(utilisationThresholds(dashboard.ThresholdsModeAbsolute)).
			ColorScheme(colorBy(dashboard.FieldColorModeIdThresholds)).
			Orientation(common.VizOrientationHorizontal).
			DisplayMode(common.BarGaugeDisplayModeGradient).
			ReduceOptions(lastValue()))
}

// monitorTotalsRow sums the selected sources and products, and says
// whether the data is fresh.
func monitorTotalsRow(b *dashboard.DashboardBuilder) {
	issued := fmt.Sprintf(`sum(license_seats_issued{%s})`, sel)
	inUse := fmt.Sprintf(`sum(license_seats_in_use{%s})`, sel)
	// Clamped per edition before the sum: an overdrawn edition frees no
	// seat of another.
	available := fmt.Sprintf(`sum(clamp_min(
		sum by (source, product, edition) (license_seats_issued{%[1]s})
		- sum by (source, product, edition) (license_seats_in_use{%[1]s}), 0))`, sel)
	b.WithRow(dashboard.NewRowBuilder("Totals")).
		WithPanel(total("Issued", "Seats bought.", issued, "blue")).
		WithPanel(total("In use", "Seats in use now.", inUse, "purple")).
		WithPanel(total("Available", "Seats free now, counted per edition (an overdrawn edition counts 0, not less).", available, "green")).
		WithPanel(total("Checked out", "Seats checked out for offline use; no one else can use them.",
			fmt.Sprintf(`sum(license_seats_checked_out{%s})`, sel), "orange")).
		WithPanel(stat.NewPanelBuilder().
			Title("Utilisation").
			Description("Seats in use over seats issued, all selected products together; the bars above show each edition.").
			Span(6).
			Height(4).
			WithTarget(series("A", fmt.Sprintf(`%s / %s`, inUse, issued), "utilisation")).
			Unit("percentunit").
			Decimals(0).
			Thresholds(utilisationThresholds(dashboard.ThresholdsModeAbsolute)).
			ColorScheme(colorBy(dashboard.FieldColorModeIdThresholds)).
			ColorMode(common.BigValueColorModeBackground).
			GraphMode(common.BigValueGraphModeArea).
			Orientation(common.VizOrientationAuto).
			ReduceOptions(lastValue())).
		WithPanel(upStat("Last poll", 3, 4)).
		WithPanel(dataAgeStat("Data age", 3, 4))
}

// total is a stat of a seat count, with its trend over the dashboard's range.
func total(title, description, expr, color string) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Span(3).
		Height(4).
		WithTarget(series("A", expr, title)).
		Unit("none").
		Decimals(0).
		ColorScheme(colorBy(dashboard.FieldColorModeIdFixed).FixedColor(color)).
		ColorMode(common.BigValueColorModeValue).
		GraphMode(common.BigValueGraphModeArea).
		Orientation(common.VizOrientationAuto).
		ReduceOptions(lastValue())
}

// monitorSessionsRow is the table of who holds what, one row per user,
// product, edition and host. Every row links to the sidecar's monitor page.
func monitorSessionsRow(b *dashboard.DashboardBuilder) {
	by := "source, user, product, edition, license_type, host"
	b.WithRow(dashboard.NewRowBuilder("Who holds what")).
		WithPanel(joinedTable("Sessions",
			"Who holds which license. \"since\" is the start of the oldest session. Click a row to open the sidecar's monitor page for that user and source (with the row's product and host), where sessions can be terminated.",
			24, 14,
			[]*tablePromQuery{
				tq("A", fmt.Sprintf(`sum by (%s) (license_user_sessions{%s})`, by, sel)),
				tq("B", fmt.Sprintf(`sum by (%s) (license_user_checked_out_sessions{%s})`, by, sel)),
				// Milliseconds, the unit Grafana's date formats expect.
				tq("C", fmt.Sprintf(`min by (%s) (license_user_session_start_timestamp_seconds{%s}) * 1000`, by, sel)),
			},
			label("source"), label("user"), label("product"), label("edition"), column{"license_type", "license type"}, label("host"),
			value("C", "since"), value("A", "sessions"), value("B", "checked out")).
			DataLinks([]cog.Builder[dashboard.DashboardLink]{
				dashboard.NewDashboardLinkBuilder("Open ${__data.fields.user} in the sidecar monitor").
					Type(dashboard.DashboardLinkTypeLink).
					Url(SidecarLink).
					TargetBlank(true),
			}).
			SortBy([]cog.Builder[common.TableSortByFieldState]{
				common.NewTableSortByFieldStateBuilder().DisplayName("since"),
			}).
			OverrideByName("since", []dashboard.DynamicConfigValue{prop("unit", "dateTimeFromNow")}).
			OverrideByName("checked out", []dashboard.DynamicConfigValue{
				prop("custom.cellOptions", map[string]any{"type": "color-text"}),
				prop("thresholds", map[string]any{"mode": "absolute", "steps": []any{
					map[string]any{"value": nil, "color": "text"},
					map[string]any{"value": 1, "color": "orange"},
				}}),
			}))
}

// licenseLabels are the labels of a license's series.
const licenseLabels = "source, license_id, product, edition, license_type"

// monitorLicensesRow lists every license: what it is, its seats and when
// it expires.
func monitorLicensesRow(b *dashboard.DashboardBuilder) {
	perLicense := func(expr string) string { return fmt.Sprintf("sum by (%s) (%s)", licenseLabels, expr) }
	b.WithRow(dashboard.NewRowBuilder("Licenses")).
		WithPanel(joinedTable("Licenses",
			"Every license: its type, edition and major version, its seats and when it expires (perpetual licenses have no date). free is issued − in use, 0 when overdrawn.",
			24, 10,
			[]*tablePromQuery{
				tq("A", perLicense(fmt.Sprintf("license_seats_issued{%s}", sel))),
				tq("B", perLicense(fmt.Sprintf("license_seats_in_use{%s}", sel))),
				tq("C", perLicense(fmt.Sprintf("license_seats_checked_out{%s}", sel))),
				tq("D", perLicense(fmt.Sprintf("clamp_min(license_seats_issued{%[1]s} - license_seats_in_use{%[1]s}, 0)", sel))),
				// Milliseconds, the unit Grafana's date formats expect.
				tq("E", perLicense(fmt.Sprintf("license_expiry_timestamp_seconds{%s} * 1000", sel))),
				tq("F", fmt.Sprintf("max by (%s, version) (license_info{%s})", licenseLabels, sel)),
			},
			label("license_id"), label("product"), column{"license_type", "license type"}, label("edition"), label("version"),
			value("A", "issued"), value("B", "in use"), value("C", "checked out"), value("D", "free"), value("E", "expires"), label("source")).
			OverrideByName("expires", []dashboard.DynamicConfigValue{prop("unit", "dateTimeAsIso")}).
			OverrideByName("free", []dashboard.DynamicConfigValue{
				prop("custom.cellOptions", map[string]any{"type": "color-text"}),
				prop("thresholds", map[string]any{"mode": "absolute", "steps": []any{
					map[string]any{"value": nil, "color": "red"},
					map[string]any{"value": 1, "color": "text"},
				}}),
			}))
}

// monitorDenialsRow shows users refused a seat, by reason. Each bar is the
// increase over its own interval, so no denial is counted in two bars.
func monitorDenialsRow(b *dashboard.DashboardBuilder) {
	b.WithRow(dashboard.NewRowBuilder("Denials")).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Denials by reason").
			Description("Requests for a seat that upstream refused, per interval, by product, edition, license type and reason: no_seat_available (every seat taken), not_in_license_group, other.").
			Span(24).
			Height(8).
			Interval("1m").
			WithTarget(series("A", fmt.Sprintf("sum by (source, product, edition, license_type, reason) (increase(license_denials_total{%s}[$__interval]))", sel),
				"{{product}} {{edition}} {{license_type}} {{reason}}")).
			Unit("none").
			Decimals(0).
			Min(0).
			DrawStyle(common.GraphDrawStyleBars).
			FillOpacity(80).
			Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
			Tooltip(tooltip()))
}

// monitorFlexLMRow is for FlexLM sources, whose series these are: the state
// of each license server (a triad's members) and vendor daemon, the alerts
// LicenseServerDown and LicenseVendorDaemonDown watch, and the seats held
// by reservations and the requests waiting in the queue. It is last, so the
// panels above keep their places; a CSI source shows "No FlexLM source".
func monitorFlexLMRow(b *dashboard.DashboardBuilder) {
	const none = "No FlexLM source selected"
	b.WithRow(dashboard.NewRowBuilder("License servers and vendor daemons (FlexLM)")).
		WithPanel(upTimeline("License servers",
			"license_server_up: each license server of a FlexLM source (the members of a triad) as lmstat reported it. One member DOWN while the others are UP is LicenseServerDown; all of them down fails the poll (LicenseSourceDown).",
			fmt.Sprintf("max by (source, server) (license_server_up{%s})", src), "{{source}} {{server}}", none)).
		WithPanel(upTimeline("Vendor daemons",
			"license_vendor_daemon_up: each vendor daemon of a FlexLM source. DOWN (or lmstat's -97) means its features cannot be checked out: LicenseVendorDaemonDown.",
			fmt.Sprintf("max by (source, vendor) (license_vendor_daemon_up{%s})", src), "{{source}} {{vendor}}", none)).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Queued requests and reserved seats").
			Description("Queued: checkout requests of a FlexLM feature waiting for a seat, demand that no seat met. Reserved: seats held by RESERVATIONs of the options file; lmstat counts them in use, so the seats in use above include them.").
			Span(24).
			Height(8).
			WithTarget(series("A", fmt.Sprintf("sum by (source, product) (license_queued_requests{%s})", sel), "{{product}} ({{source}}) queued")).
			WithTarget(series("B", fmt.Sprintf("sum by (source, product) (license_seats_reserved{%s})", sel), "{{product}} ({{source}}) reserved")).
			Unit("none").
			Decimals(0).
			Min(0).
			NoValue(none).
			FillOpacity(10).
			OverrideByQuery("B", []dashboard.DynamicConfigValue{
				prop("custom.lineStyle", map[string]any{"fill": "dash", "dash": []any{10, 10}}),
				prop("custom.fillOpacity", 0),
			}).
			Tooltip(tooltip()))
}

// upTimeline is a half-width state timeline of a 1-or-0 series: UP is
// green, DOWN red.
func upTimeline(title, description, expr, legend, noValue string) *statetimeline.PanelBuilder {
	return statetimeline.NewPanelBuilder().
		Title(title).
		Description(description).
		Span(12).
		Height(6).
		WithTarget(series("A", expr, legend)).
		Mappings([]dashboard.ValueMapping{valueText("1", "UP", "green", "0", "DOWN", "red")}).
		ShowValue(common.VisibilityModeNever).
		NoValue(noValue).
		Tooltip(tooltip())
}
