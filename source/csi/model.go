package csi

import "time"

// License is one purchased license (a pool of seats), validated.
type License struct {
	ID         string
	Product    string
	Edition    string
	Version    string
	Type       string // lower-cased; unknown types are kept as they are
	Seats      int64
	InUse      int64 // may exceed Seats (overdraft): reported, not rejected
	CheckedOut int64
	ExpiresAt  time.Time // zero: perpetual
}

// Session is one license session, validated.
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

// Terminable reports whether upstream allows a remote terminate of this
// session of a license of type licenseType, and if not, why (an upstream
// error code). Only Cloud Sign-in sessions that are not checked out are.
func (s *Session) Terminable(licenseType string) (bool, string) {
	if s.CheckedOut {
		return false, CodeCheckedOut
	}
	if licenseType != TypeCloudSignIn {
		return false, CodeNotTerminable
	}
	return true, ""
}

// Snapshot is one consistent read of an account: its licenses and all
// sessions, every page.
type Snapshot struct {
	AccountID   string
	AccountName string
	GeneratedAt time.Time // upstream's clock; zero if it sent none
	Licenses    []License
	Sessions    []Session
	// UnknownLicenseSessions counts sessions whose license_id is not in
	// Licenses; they are kept and reported under product "unknown".
	UnknownLicenseSessions int
}

// UnknownProduct is the product of a session whose license is not listed.
const UnknownProduct = "unknown"

// LicenseIndex maps license ids to their index in Licenses.
func (s *Snapshot) LicenseIndex() map[string]int {
	idx := make(map[string]int, len(s.Licenses))
	for i := range s.Licenses {
		idx[s.Licenses[i].ID] = i
	}
	return idx
}
