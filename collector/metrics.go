package collector

import "github.com/prometheus/client_golang/prometheus"

// The metric contract, as ARCHITECTURE.md pins it. Dashboards, alerts and
// outside checks depend on these names and labels.
var (
	licenseLabels = []string{"source", "license_id", "product", "edition", "license_type"}
	userLabels    = []string{"source", "product", "edition", "user", "host"}
	sourceLabels  = []string{"source"}

	seatsIssuedDesc = prometheus.NewDesc("license_seats_issued",
		"Seats bought in this license.", licenseLabels, nil)
	seatsInUseDesc = prometheus.NewDesc("license_seats_in_use",
		"Seats in use in this license, as upstream reports it; may exceed issued (overdraft).", licenseLabels, nil)
	seatsCheckedOutDesc = prometheus.NewDesc("license_seats_checked_out",
		"In-use seats of this license that are checked out for offline use.", licenseLabels, nil)
	expiryDesc = prometheus.NewDesc("license_expiry_timestamp_seconds",
		"When this license expires, in Unix seconds; absent when perpetual.", licenseLabels, nil)
	infoDesc = prometheus.NewDesc("license_info",
		"Descriptive information about a license; always 1.", append(licenseLabels[:len(licenseLabels):len(licenseLabels)], "version"), nil)

	userSessionsDesc = prometheus.NewDesc("license_user_sessions",
		"Sessions this user holds on this host.", userLabels, nil)
	userCheckedOutDesc = prometheus.NewDesc("license_user_checked_out_sessions",
		"Of this user's sessions on this host, those checked out.", userLabels, nil)
	userStartDesc = prometheus.NewDesc("license_user_session_start_timestamp_seconds",
		"Start of the oldest of this user's sessions on this host, in Unix seconds.", userLabels, nil)

	upDesc = prometheus.NewDesc("license_up",
		"1 if the last poll of this source succeeded, 0 if it failed.", sourceLabels, nil)
	lastSuccessDesc = prometheus.NewDesc("license_last_poll_success_timestamp_seconds",
		"Time of the last successful poll, in Unix seconds; absent until the first success.", sourceLabels, nil)
	pollDurationDesc = prometheus.NewDesc("license_poll_duration_seconds",
		"Duration of the last poll, all pages, in seconds.", sourceLabels, nil)
	pollsDesc = prometheus.NewDesc("license_polls_total",
		"Polls of this source attempted.", sourceLabels, nil)
	pollFailuresDesc = prometheus.NewDesc("license_poll_failures_total",
		"Failed polls of this source, by reason.", []string{"source", "reason"}, nil)
)

var allDescs = []*prometheus.Desc{
	seatsIssuedDesc, seatsInUseDesc, seatsCheckedOutDesc, expiryDesc, infoDesc,
	userSessionsDesc, userCheckedOutDesc, userStartDesc,
	upDesc, lastSuccessDesc, pollDurationDesc, pollsDesc, pollFailuresDesc,
}
