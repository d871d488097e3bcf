package source

import (
	"context"
	"time"
)

// License is one pool of seats, validated by its source.
type License struct {
	ID         string
	Product    string
	Edition    string
	Version    string
	Type       string // lower-cased; unknown types are kept as they are
	Seats      int64  // issued
	InUse      int64  // may exceed Seats (overdraft): reported, not rejected
	CheckedOut int64
	ExpiresAt  time.Time // zero: perpetual
}

// Session is one license session, validated by its source.
type Session struct {
	ID                string
	LicenseID         string
	User              string
	DisplayName       string
	Host              string
	StartedAt         time.Time
	CheckedOut        bool
	CheckoutExpiresAt time.Time // zero: none
}

// Snapshot is one consistent read of an account: its licenses and, when
// read by ReadAll, all its sessions.
type Snapshot struct {
	AccountID   string
	AccountName string
	GeneratedAt time.Time // the source's clock; zero if it sent none
	Licenses    []License
	Sessions    []Session
	// UnknownLicenseSessions counts sessions whose license is not in
	// Licenses; they are kept and reported under UnknownProduct.
	UnknownLicenseSessions int
}

// UnknownProduct is the product of a session whose license is not listed.
const UnknownProduct = "unknown"

// LicenseIndex joins sessions to their licenses: the one place that does,
// for the collector's view, the sidecar's view and its terminate check.
type LicenseIndex map[string]int

// IndexLicenses indexes licenses by id. Sources refuse duplicate ids.
func IndexLicenses(licenses []License) LicenseIndex {
	idx := make(LicenseIndex, len(licenses))
	for i := range licenses {
		idx[licenses[i].ID] = i
	}
	return idx
}

// Of returns the index of s's license in the indexed list, or false when
// the source did not list it: such a session counts under UnknownProduct.
func (x LicenseIndex) Of(s *Session) (int, bool) {
	i, ok := x[s.LicenseID]
	return i, ok
}

// ReadAll reads the licenses and then every session, counting those of
// licenses that are not listed. ctx bounds the whole read: set its
// deadline to the poll's timeout.
func ReadAll(ctx context.Context, src Source) (*Snapshot, error) {
	s, err := src.Licenses(ctx)
	if err != nil {
		return nil, err
	}
	idx := IndexLicenses(s.Licenses)
	sessions := []Session{}
	err = src.EachSession(ctx, func(sess *Session) {
		if _, ok := idx.Of(sess); !ok {
			s.UnknownLicenseSessions++
		}
		sessions = append(sessions, *sess)
	})
	if err != nil {
		return nil, err
	}
	s.Sessions = sessions
	return s, nil
}
