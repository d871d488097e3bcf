//lint:file-ignore SA1019 the classic dashboard model is what Grafana imports and provisions from files; dashboardv2 needs Grafana 12 with its v2 API enabled.

package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/gauge"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
)

// SidecarLink opens the sidecar's monitor page filtered to the row's user,
// where that user's sessions can be terminated.
const SidecarLink = "${sidecar_url}/?user=${__data.fields.user:percentencode}"

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

// monitorGaugesRow repeats one gauge per product. The gauge shows seats in
// use; the issued seats (query B) become its maximum, so the colour, in
// percentage mode, is the utilisation.
func monitorGaugesRow(b *dashboard.DashboardBuilder) {
	b.WithRow(dashboard.NewRowBuilder("Seats in use by product")).
		WithPanel(gauge.NewPanelBuilder().
			Title("$product").
			Description("Seats in use out of seats issued. Green below 80 %, orange to 95 %, red above.").
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
			ShowThresholdLabels(false))
}

// monitorTotalsRow sums the selected sources and products.
func monitorTotalsRow(b *dashboard.DashboardBuilder) {
	issued := fmt.Sprintf(`sum(license_seats_issued{%s})`, sel)
	inUse := fmt.Sprintf(`sum(license_seats_in_use{%s})`, sel)
	b.WithRow(dashboard.NewRowBuilder("Totals")).
		WithPanel(total("Issued", "Seats bought.", issued, "blue")).
		WithPanel(total("In use", "Seats in use now.", inUse, "purple")).
		WithPanel(total("Available", "Seats free now (0 when overdrawn).",
			fmt.Sprintf(`clamp_min(%s - %s, 0)`, issued, inUse), "green")).
		WithPanel(total("Checked out", "Seats checked out for offline use; no one else can use them.",
			fmt.Sprintf(`sum(license_seats_checked_out{%s})`, sel), "orange")).
		WithPanel(stat.NewPanelBuilder().
			Title("Utilisation").
			Description("Seats in use over seats issued.").
			Span(4).
			Height(4).
			WithTarget(series("A", fmt.Sprintf(`%s / %s`, inUse, issued), "utilisation")).
			Unit("percentunit").
			Decimals(0).
			Thresholds(utilisationThresholds(dashboard.ThresholdsModeAbsolute)).
			ColorScheme(colorBy(dashboard.FieldColorModeIdThresholds)).
			ColorMode(common.BigValueColorModeBackground).
			GraphMode(common.BigValueGraphModeArea).
			Orientation(common.VizOrientationAuto).
			ReduceOptions(lastValue()))
}

// total is a stat of a seat count, with its trend over the dashboard's range.
func total(title, description, expr, color string) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Span(5).
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
	by := "user, product, edition, host"
	b.WithRow(dashboard.NewRowBuilder("Who holds what")).
		WithPanel(joinedTable("Sessions",
			"Who holds which license. \"since\" is the start of the oldest session. Click a row to open the sidecar's monitor page for that user, where sessions can be terminated.",
			24, 14,
			[]*tablePromQuery{
				tq("A", fmt.Sprintf(`sum by (%s) (license_user_sessions{%s})`, by, sel)),
				tq("B", fmt.Sprintf(`sum by (%s) (license_user_checked_out_sessions{%s})`, by, sel)),
				// Milliseconds, the unit Grafana's date formats expect.
				tq("C", fmt.Sprintf(`min by (%s) (license_user_session_start_timestamp_seconds{%s}) * 1000`, by, sel)),
			},
			label("user"), label("product"), label("edition"), label("host"),
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
