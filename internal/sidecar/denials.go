package sidecar

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/license-monitor/license-monitor/source"
)

// denialsWindow is how far back the monitor shows refused requests.
const denialsWindow = 24 * time.Hour

// maxDenialRows bounds the denials a view holds: the newest are kept.
const maxDenialRows = 1000

// DenialView is one refused license request of the last 24 hours.
type DenialView struct {
	Source      string    `json:"source"`
	Time        time.Time `json:"time"`
	User        string    `json:"user"`
	Host        string    `json:"host"`
	Product     string    `json:"product"`
	Edition     string    `json:"edition"`
	LicenseType string    `json:"license_type"`
	Reason      string    `json:"reason"`
}

// denialReads lets concurrent views of one config share a denials read,
// as viewReader does for the snapshot; keyed by the source's state, so a
// reload starts afresh.
var denialReads singleflight.Group

// errNoDenials says the source, or its account, keeps no denials.
var errNoDenials = errors.New("no denial records")

// readDenials reads the denials of the 24 hours before until (the
// snapshot's upstream time), newest first, each id once, at most
// maxDenialRows. errNoDenials when the source has none to read.
func readDenials(ctx context.Context, u *upstream, until time.Time) ([]DenialView, error) {
	src, ok := u.src.(source.Denials)
	if !ok {
		return nil, errNoDenials
	}
	v, err, _ := denialReads.Do(fmt.Sprintf("%p", u), func() (any, error) {
		// Not cancelled when the first caller leaves: others may wait.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.timeout)
		defer cancel()
		seen := map[string]bool{}
		var out []DenialView
		err := src.EachDenial(rctx, until.Add(-denialsWindow), func(d *source.Denial) {
			if seen[d.ID] {
				return // the API may send an event again
			}
			seen[d.ID] = true
			out = append(out, DenialView{Source: u.name, Time: d.Time, User: d.User, Host: d.Host, Product: d.Product,
				Edition: d.Edition, LicenseType: d.LicenseType, Reason: string(d.Reason)})
		})
		if errors.Is(err, source.ErrNotSupported) {
			return nil, errNoDenials
		}
		if err != nil {
			return nil, err
		}
		slices.SortStableFunc(out, func(a, b DenialView) int { return b.Time.Compare(a.Time) })
		if len(out) > maxDenialRows {
			out = out[:maxDenialRows]
		}
		return out, nil
	})
	rows, _ := v.([]DenialView)
	return rows, err
}

// addDenials adds source u's denials to the view, narrowed to
// userFilter, and records on sv whether it has any. A failed read is
// counted and shown, but never hides the sessions.
func (s *Server) addDenials(ctx context.Context, u *upstream, v *MonitorView, sv *SourceView, userFilter string) {
	rows, err := readDenials(ctx, u, sv.GeneratedAt)
	switch {
	case errors.Is(err, errNoDenials):
		return
	case err != nil:
		s.upstreamFailed(err)
		sv.DenialsError = "cannot read the denials: " + upstreamResult(err)
		if v.DenialsError == "" {
			v.DenialsError = sv.DenialsError
			if len(v.Sources) > 1 {
				v.DenialsError = u.name + ": " + sv.DenialsError
			}
		}
		return
	}
	sv.DenialsAvailable, v.DenialsAvailable = true, true
	for _, d := range rows {
		if userFilter == "" || d.User == userFilter {
			v.Denials = append(v.Denials, d)
		}
	}
}

// denialReasonText is how the page names a reason.
func denialReasonText(reason string) string {
	switch source.DenialReason(reason) {
	case source.DenialNoSeat:
		return "No seat available"
	case source.DenialNotInGroup:
		return "Not in license group"
	}
	return "Other"
}
