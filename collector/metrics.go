package collector

import "github.com/prometheus/client_golang/prometheus"

// The metric contract, as docs/architecture.md pins it. Dashboards, alerts and
// outside checks depend on these names and labels.
var (
	licenseLabels = []string{"source", "license_id", "product", "edition", "license_type"}
	userLabels    = []string{"source", "product", "edition", "license_type", "user", "host"}
	sourceLabels  = []string{"source"}
)

// The domain families: the series of a view. The handler renders them
// itself (view.go's Render) and Collect builds them as const metrics;
// both take names and help from this table. The order is by name, as the
// exposition sorts them.
const (
	famExpiry = iota
	famInfo
	famSeatsCheckedOut
	famSeatsInUse
	famSeatsIssued
	famUserCheckedOut
	famUserStart
	famUserSessions
	numFamilies
)

type family struct {
	name, help string
	user       bool // labels are userLabels; otherwise licenseLabels (info adds version)
	desc       *prometheus.Desc
}

var families = func() [numFamilies]family {
	fs := [numFamilies]family{
		famExpiry:          {name: "license_expiry_timestamp_seconds", help: "When this license expires, in Unix seconds; absent when perpetual."},
		famInfo:            {name: "license_info", help: "Descriptive information about a license; always 1."},
		famSeatsCheckedOut: {name: "license_seats_checked_out", help: "In-use seats of this license that are checked out for offline use."},
		famSeatsInUse:      {name: "license_seats_in_use", help: "Seats in use in this license, as upstream reports it; may exceed issued (overdraft)."},
		famSeatsIssued:     {name: "license_seats_issued", help: "Seats bought in this license."},
		famUserCheckedOut:  {name: "license_user_checked_out_sessions", help: "Of this user's sessions on this host, those checked out.", user: true},
		famUserStart:       {name: "license_user_session_start_timestamp_seconds", help: "Start of the oldest of this user's sessions on this host, in Unix seconds.", user: true},
		famUserSessions:    {name: "license_user_sessions", help: "Sessions this user holds on this host.", user: true},
	}
	for i := range fs {
		labels := licenseLabels
		switch {
		case fs[i].user:
			labels = userLabels
		case i == famInfo:
			labels = append(licenseLabels[:len(licenseLabels):len(licenseLabels)], "version")
		}
		fs[i].desc = prometheus.NewDesc(fs[i].name, fs[i].help, labels, nil)
	}
	return fs
}()

var (
	seatsIssuedDesc     = families[famSeatsIssued].desc
	seatsInUseDesc      = families[famSeatsInUse].desc
	seatsCheckedOutDesc = families[famSeatsCheckedOut].desc
	expiryDesc          = families[famExpiry].desc
	infoDesc            = families[famInfo].desc

	userSessionsDesc   = families[famUserSessions].desc
	userCheckedOutDesc = families[famUserCheckedOut].desc
	userStartDesc      = families[famUserStart].desc

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

	userSessionsDroppedDesc = prometheus.NewDesc("license_user_sessions_dropped_total",
		"Sessions left out of the per-user series, by reason: label_too_long (user or host longer than max_label_length), series_limit (the poll had more user series than max_user_series and exported none).",
		[]string{"source", "reason"}, nil)
)

// The reason values of license_user_sessions_dropped_total.
const (
	dropLabelTooLong = "label_too_long"
	dropSeriesLimit  = "series_limit"
)

var (
	// The denial series are few (licenses' product, edition and type
	// times three reasons), so client_golang gathers them with the health.
	denialsDesc = prometheus.NewDesc("license_denials_total",
		"License requests the source refused, by the license they asked for and the reason; counted from the exporter's first read of the source's denials.",
		[]string{"source", "product", "edition", "license_type", "reason"}, nil)
	denialReadFailuresDesc = prometheus.NewDesc("license_denials_read_failures_total",
		"Failed reads of this source's denials, by reason; the seat data is not affected.", []string{"source", "reason"}, nil)
)

var healthDescs = []*prometheus.Desc{upDesc, lastSuccessDesc, pollDurationDesc, pollsDesc, pollFailuresDesc, userSessionsDroppedDesc, denialsDesc, denialReadFailuresDesc}

var allDescs = append([]*prometheus.Desc{
	seatsIssuedDesc, seatsInUseDesc, seatsCheckedOutDesc, expiryDesc, infoDesc,
	userSessionsDesc, userCheckedOutDesc, userStartDesc,
}, healthDescs...)
