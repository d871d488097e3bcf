package collector

import (
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

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
	famQueued
	famSeatsCheckedOut
	famSeatsInUse
	famSeatsIssued
	famSeatsReserved
	famServerUp
	famUserCheckedOut
	famUserStart
	famUserSessions
	famVendorUp
	numFamilies
)

type family struct {
	name, help string
	user       bool // labels are userLabels; otherwise licenseLabels (info adds version)
	// extra names a source's own series (source.ExtraSeries): its labels
	// beside source are extraLabels, and the source's Help is ignored.
	extra       bool
	extraLabels []string
	// renderOrder is the extra labels sorted by name, as indexes into
	// extraLabels; -1 is source.
	renderOrder []int
	desc        *prometheus.Desc
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
		// FlexLM's series (docs/architecture.md, "Exporter: FlexLM
		// series"): the contract fixes their names, labels and help,
		// whatever a source sends.
		famServerUp:      {name: "license_server_up", help: "1 if the license manager reported this license server up, 0 if not.", extra: true, extraLabels: []string{"server"}},
		famVendorUp:      {name: "license_vendor_daemon_up", help: "1 if the license manager reported this vendor daemon up, 0 if not.", extra: true, extraLabels: []string{"vendor"}},
		famSeatsReserved: {name: "license_seats_reserved", help: "Seats of this license held by reservations; they are counted in license_seats_in_use too.", extra: true, extraLabels: licenseLabels[1:]},
		famQueued:        {name: "license_queued_requests", help: "Checkout requests of this license waiting in the queue.", extra: true, extraLabels: licenseLabels[1:]},
	}
	for i := range fs {
		labels := licenseLabels
		switch {
		case fs[i].user:
			labels = userLabels
		case i == famInfo:
			labels = append(licenseLabels[:len(licenseLabels):len(licenseLabels)], "version")
		case fs[i].extra:
			labels = append([]string{"source"}, fs[i].extraLabels...)
			order := make([]int, len(labels))
			for j := range order {
				order[j] = j - 1
			}
			slices.SortFunc(order, func(a, b int) int { return strings.Compare(labels[a+1], labels[b+1]) })
			fs[i].renderOrder = order
		}
		fs[i].desc = prometheus.NewDesc(fs[i].name, fs[i].help, labels, nil)
	}
	return fs
}()

// extraFamily maps a source series' name to its family.
var extraFamily = func() map[string]int {
	m := map[string]int{}
	for f := range families {
		if families[f].extra {
			m[families[f].name] = f
		}
	}
	return m
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
	families[famServerUp].desc, families[famVendorUp].desc, families[famSeatsReserved].desc, families[famQueued].desc,
}, healthDescs...)
