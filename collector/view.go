package collector

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/internal/exposition"
	"github.com/license-monitor/license-monitor/source"
)

// view is what one good poll exports: the snapshot aggregated to the
// metric contract's labels, with the product filter applied. It is
// immutable once built; scrapes share it.
//
// It keeps no session and no built metric: a scrape renders the series
// from these compact rows (Render), and internal/exposition keeps their
// gzip-compressed form, about a twentieth of the text, once a scrape
// asked for it.
type view struct {
	source      string
	generatedAt time.Time        // the source's clock; zero if it sent none
	licenses    []source.License // by (edition, id): the exposition's order
	users       []userSeries     // by (edition, host, license_type, product, user), likewise
	// extras are the source's own series (source.ExtraSeries) by family,
	// in the exposition's order; empty for a source without them.
	extras [numFamilies][]extraSample
}

// userSeries is one (product, edition, license_type, user, host).
type userSeries struct {
	product, edition, licenseType, user, host string
	sessions, checkedOut                      int
	oldestStart                               int64 // Unix nanoseconds
}

// viewBuilder aggregates sessions into a view as the client reads them,
// so a poll never holds every session at once.
type viewBuilder struct {
	v      *view
	filter *config.ProductFilter
	users  bool
	// groups are the (product, edition, license type)s that pass the filter;
	// licenseGroup is each license's group, by its index in the poll's
	// licenses, or -1 when filtered out.
	groups       []licenseGroup
	licenses     source.LicenseIndex
	licenseGroup []int32
	unknown      int32 // the group of sessions whose license is not listed
	agg          map[userKey]int32
	// unknownSessions counts sessions whose license_id is not listed.
	unknownSessions int

	limits
	// latestStart is the latest start a session may have: a day past
	// upstream's generated_at (source.StartInBounds); zero when unknown.
	latestStart time.Time
	// err is the first session that breaks the start bounds; the poll
	// fails with it.
	err error
	// eligible counts the sessions that reach the user series, before
	// the series limit; droppedLong those dropped for a long label.
	eligible, droppedLong int
	// overLimit says the user series passed maxUserSeries: this poll
	// exports none.
	overLimit bool
}

// limits bound what a poll makes of upstream's data (config.Source's
// max_label_length and max_user_series).
type limits struct {
	maxLabel, maxUserSeries int
}

// dropped are the sessions a view left out of the user series, by reason.
type dropped struct {
	labelTooLong, seriesLimit int
}

// userKey is a user series' labels; product, edition and license type
// are held by group, an index into viewBuilder.groups, which hashes
// faster and costs a session nothing more for the extra label.
type userKey struct {
	group      int32
	user, host string
}

type licenseGroup struct{ product, edition, licenseType string }

// newViewBuilder starts a view of source from a poll's licenses. Sessions
// of a license that upstream did not list are kept under product "unknown".
// hint is the number of user series expected (the last view's), which
// spares the users their growing. agg, if not nil, is an empty map to
// aggregate in: the poller keeps it from poll to poll, so a poll does not
// leave a map of every user series behind as garbage.
func newViewBuilder(name string, lic *source.Snapshot, filter *config.ProductFilter, users bool, lim limits, hint int, agg map[userKey]int32) *viewBuilder {
	v := &view{source: name, generatedAt: lic.GeneratedAt, licenses: make([]source.License, 0, len(lic.Licenses))}
	b := &viewBuilder{v: v, filter: filter, users: users, licenses: source.IndexLicenses(lic.Licenses), licenseGroup: make([]int32, len(lic.Licenses)), limits: lim}
	if !lic.GeneratedAt.IsZero() {
		b.latestStart = lic.GeneratedAt.Add(source.MaxStartAhead)
	}
	groupOf := map[licenseGroup]int32{}
	group := func(product, edition, licenseType string) int32 {
		if !filter.Match(product) {
			return -1
		}
		k := licenseGroup{product, edition, licenseType}
		g, ok := groupOf[k]
		if !ok {
			g = int32(len(b.groups))
			groupOf[k] = g
			b.groups = append(b.groups, k)
		}
		return g
	}
	for i := range lic.Licenses {
		l := &lic.Licenses[i]
		g := group(l.Product, l.Edition, l.Type)
		b.licenseGroup[i] = g
		if g >= 0 {
			v.licenses = append(v.licenses, *l)
		}
	}
	b.unknown = group(source.UnknownProduct, "", "")
	slices.SortFunc(v.licenses, func(a, b source.License) int {
		if c := strings.Compare(a.Edition, b.Edition); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if users {
		hint = min(hint+hint/8, lim.maxUserSeries) // room for growth between polls
		if b.agg = agg; b.agg == nil {
			b.agg = make(map[userKey]int32, hint)
		}
		v.users = make([]userSeries, 0, hint)
	}
	return b
}

// add counts one session.
func (b *viewBuilder) add(s *source.Session) {
	g := b.unknown
	if i, ok := b.licenses.Of(s); ok {
		g = b.licenseGroup[i]
	} else {
		b.unknownSessions++
	}
	if !b.latestStart.IsZero() && s.StartedAt.After(b.latestStart) && b.err == nil {
		// The source checked the fixed bounds; this one needs
		// generated_at, from the licenses.
		b.err = &source.Error{Reason: source.ReasonInvalid, Op: "sessions", Detail: fmt.Sprintf(
			"session %q starts at %s, more than %s after upstream's generated_at", truncate(s.ID, 64),
			s.StartedAt.UTC().Format(time.RFC3339), source.MaxStartAhead)}
	}
	if !b.users || g < 0 {
		return
	}
	if len(s.User) > b.maxLabel || len(s.Host) > b.maxLabel {
		b.droppedLong++
		return
	}
	b.eligible++
	if b.overLimit {
		return
	}
	start := s.StartedAt.UnixNano()
	k := userKey{group: g, user: s.User, host: s.Host}
	idx, ok := b.agg[k]
	if !ok {
		if len(b.v.users) >= b.maxUserSeries {
			// Past the limit this poll exports no user series: let go
			// of them now rather than grow further.
			b.overLimit = true
			clear(b.agg)
			clear(b.v.users)
			b.v.users = b.v.users[:0]
			return
		}
		idx = int32(len(b.v.users))
		pe := b.groups[g]
		b.agg[k] = idx
		b.v.users = append(b.v.users, userSeries{product: pe.product, edition: pe.edition, licenseType: pe.licenseType, user: s.User, host: s.Host, oldestStart: start})
	}
	u := &b.v.users[idx]
	u.sessions++
	if s.CheckedOut {
		u.checkedOut++
	}
	if start < u.oldestStart {
		u.oldestStart = start
	}
}

// dropped counts the sessions left out of the user series.
func (b *viewBuilder) dropped() dropped {
	d := dropped{labelTooLong: b.droppedLong}
	if b.overLimit {
		d.seriesLimit = b.eligible
	}
	return d
}

// truncate shortens upstream's text for an error message.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// view finishes the view; the builder is spent.
func (b *viewBuilder) view() *view {
	v := b.v
	if b.overLimit {
		v.users = nil
	}
	// The exposition's order (labels sorted by name, series by their
	// values), so the registry's sort in Collect finds them in order and
	// the handler's output equals promhttp's.
	slices.SortFunc(v.users, func(a, b userSeries) int {
		if c := strings.Compare(a.edition, b.edition); c != 0 {
			return c
		}
		if c := strings.Compare(a.host, b.host); c != 0 {
			return c
		}
		if c := strings.Compare(a.licenseType, b.licenseType); c != 0 {
			return c
		}
		if c := strings.Compare(a.product, b.product); c != 0 {
			return c
		}
		return strings.Compare(a.user, b.user)
	})
	v.users = slices.Clip(v.users)
	clear(b.agg) // drops the keys' strings; keeps the buckets for reuse
	b.v, b.agg = nil, nil
	return v
}

// Count is the number of series of family f in v.
func (v *view) Count(f int) int {
	switch {
	case families[f].user:
		return len(v.users)
	case families[f].extra:
		return len(v.extras[f])
	case f == famExpiry:
		n := 0
		for i := range v.licenses {
			if !v.licenses[i].ExpiresAt.IsZero() {
				n++
			}
		}
		return n
	default:
		return len(v.licenses)
	}
}

// licenseValue is the value of license family f, and whether l has one.
func licenseValue(f int, l *source.License) (float64, bool) {
	switch f {
	case famSeatsIssued:
		return float64(l.Seats), true
	case famSeatsInUse:
		return float64(l.InUse), true
	case famSeatsCheckedOut:
		return float64(l.CheckedOut), true
	case famInfo:
		return 1, true
	case famExpiry:
		return float64(l.ExpiresAt.Unix()), !l.ExpiresAt.IsZero()
	}
	panic("collector: not a license family")
}

// userValue is the value of user family f.
func userValue(f int, u *userSeries) float64 {
	switch f {
	case famUserSessions:
		return float64(u.sessions)
	case famUserCheckedOut:
		return float64(u.checkedOut)
	case famUserStart:
		return float64(u.oldestStart) / 1e9
	}
	panic("collector: not a user family")
}

// collect sends the domain series as const metrics, built fresh: for
// registries and tests. The exporter's /metrics renders them directly.
func (v *view) collect(ch chan<- prometheus.Metric) {
	for f := range numFamilies {
		fam := &families[f]
		if fam.extra {
			v.collectExtra(ch, f)
			continue
		}
		if fam.user {
			for i := range v.users {
				u := &v.users[i]
				ch <- gauge(fam.desc, userValue(f, u), v.source, u.product, u.edition, u.licenseType, u.user, u.host)
			}
			continue
		}
		for i := range v.licenses {
			l := &v.licenses[i]
			val, ok := licenseValue(f, l)
			if !ok {
				continue
			}
			if f == famInfo {
				ch <- gauge(fam.desc, val, v.source, l.ID, l.Product, l.Edition, l.Type, l.Version)
			} else {
				ch <- gauge(fam.desc, val, v.source, l.ID, l.Product, l.Edition, l.Type)
			}
		}
	}
}

// Render writes the lines of family f's series in v: the exporter's
// /metrics (handler.go), which renders the same series as collect
// without building them.
func (v *view) Render(w *exposition.Writer, f int) {
	name := families[f].name
	if families[f].extra {
		v.renderExtra(w, f)
		return
	}
	if families[f].user {
		for i := range v.users {
			u := &v.users[i]
			w.Sample(name, []exposition.Label{
				{Name: "edition", Value: u.edition},
				{Name: "host", Value: u.host},
				{Name: "license_type", Value: u.licenseType},
				{Name: "product", Value: u.product},
				{Name: "source", Value: v.source},
				{Name: "user", Value: u.user},
			}, userValue(f, u))
		}
		return
	}
	for i := range v.licenses {
		l := &v.licenses[i]
		val, ok := licenseValue(f, l)
		if !ok {
			continue
		}
		labels := []exposition.Label{
			{Name: "edition", Value: l.Edition},
			{Name: "license_id", Value: l.ID},
			{Name: "license_type", Value: l.Type},
			{Name: "product", Value: l.Product},
			{Name: "source", Value: v.source},
			{Name: "version", Value: l.Version},
		}
		if f != famInfo {
			labels = labels[:5] // only info has a version
		}
		w.Sample(name, labels, val)
	}
}

// gauge builds a const gauge. Label values decoded from JSON are valid
// UTF-8, so this cannot fail; a failure would be a bug, reported as an
// invalid metric by the registry rather than a panic in a scrape.
func gauge(desc *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(desc, err)
	}
	return m
}
