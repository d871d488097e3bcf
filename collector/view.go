package collector

import (
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/internal/upstream"
)

// view is what one good poll exports: the snapshot aggregated to the
// metric contract's labels, with the product filter applied. It is
// immutable once built; scrapes share it.
type view struct {
	licenses []upstream.License
	users    []userSeries

	// metrics are the domain series, built on the first scrape that needs
	// them and reused until the next poll replaces the view: they change
	// only when the snapshot does.
	once    sync.Once
	metrics []prometheus.Metric
}

// userSeries is one (product, edition, user, host).
type userSeries struct {
	product, edition, user, host string
	sessions, checkedOut         int
	oldestStart                  int64 // Unix nanoseconds
}

type userKey struct{ product, edition, user, host string }

// newView aggregates a snapshot. Sessions of a license that upstream did
// not list are kept under product "unknown".
func newView(s *upstream.Snapshot, filter *config.ProductFilter, users bool) *view {
	v := &view{licenses: make([]upstream.License, 0, len(s.Licenses))}
	for i := range s.Licenses {
		if filter.Match(s.Licenses[i].Product) {
			v.licenses = append(v.licenses, s.Licenses[i])
		}
	}
	if !users {
		return v
	}
	byID := s.LicenseIndex()
	agg := make(map[userKey]int, len(s.Sessions)/2)
	for i := range s.Sessions {
		sess := &s.Sessions[i]
		k := userKey{product: upstream.UnknownProduct, user: sess.User, host: sess.Host}
		if li, ok := byID[sess.LicenseID]; ok {
			k.product, k.edition = s.Licenses[li].Product, s.Licenses[li].Edition
		}
		if !filter.Match(k.product) {
			continue
		}
		start := sess.StartedAt.UnixNano()
		idx, ok := agg[k]
		if !ok {
			idx = len(v.users)
			agg[k] = idx
			v.users = append(v.users, userSeries{product: k.product, edition: k.edition, user: k.user, host: k.host, oldestStart: start})
		}
		u := &v.users[idx]
		u.sessions++
		if sess.CheckedOut {
			u.checkedOut++
		}
		if start < u.oldestStart {
			u.oldestStart = start
		}
	}
	// A stable order keeps the exposition diff-able between scrapes.
	sort.Slice(v.users, func(i, j int) bool {
		a, b := &v.users[i], &v.users[j]
		if a.product != b.product {
			return a.product < b.product
		}
		if a.edition != b.edition {
			return a.edition < b.edition
		}
		if a.user != b.user {
			return a.user < b.user
		}
		return a.host < b.host
	})
	return v
}

// domainMetrics returns the license and user series of source.
func (v *view) domainMetrics(source string) []prometheus.Metric {
	v.once.Do(func() {
		ms := make([]prometheus.Metric, 0, 5*len(v.licenses)+3*len(v.users))
		for i := range v.licenses {
			l := &v.licenses[i]
			lv := []string{source, l.ID, l.Product, l.Edition, l.Type}
			ms = append(ms,
				gauge(seatsIssuedDesc, prometheus.GaugeValue, float64(l.Seats), lv...),
				gauge(seatsInUseDesc, prometheus.GaugeValue, float64(l.InUse), lv...),
				gauge(seatsCheckedOutDesc, prometheus.GaugeValue, float64(l.CheckedOut), lv...),
				gauge(infoDesc, prometheus.GaugeValue, 1, append(lv, l.Version)...),
			)
			if !l.ExpiresAt.IsZero() {
				ms = append(ms, gauge(expiryDesc, prometheus.GaugeValue, float64(l.ExpiresAt.Unix()), lv...))
			}
		}
		for i := range v.users {
			u := &v.users[i]
			uv := []string{source, u.product, u.edition, u.user, u.host}
			ms = append(ms,
				gauge(userSessionsDesc, prometheus.GaugeValue, float64(u.sessions), uv...),
				gauge(userCheckedOutDesc, prometheus.GaugeValue, float64(u.checkedOut), uv...),
				gauge(userStartDesc, prometheus.GaugeValue, float64(u.oldestStart)/1e9, uv...),
			)
		}
		v.metrics = ms
	})
	return v.metrics
}

// gauge builds a const gauge. Label values decoded from JSON are valid
// UTF-8, so this cannot fail; a failure would be a bug, reported as an
// invalid metric by the registry rather than a panic in a scrape.
func gauge(desc *prometheus.Desc, _ prometheus.ValueType, v float64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(desc, err)
	}
	return m
}
