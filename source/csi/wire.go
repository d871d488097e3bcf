package csi

// This file is the only place that knows CSI's JSON field names and paths.
// CSI publishes no schema (see docs/upstream-api.md); adapting to the real API is
// a change here. The simulator encodes with these same types, so both ends
// move together. The `wire` tags (source.WireTag) mark the fields the API
// always sends and those that name a person, for the probe; the client's
// checks in client.go match them (TestWireTagsMatchValidation).

// API paths, relative to the source's base URL.
const (
	PathLicenses        = "licenses"
	PathSessions        = "sessions"
	PathTerminateSuffix = "terminate" // sessions/{id}/terminate
	PathDenials         = "denials"

	ParamPageSize  = "page_size"
	ParamPageToken = "page_token"
	ParamSince     = "since" // denials: RFC 3339

	DefaultPageSize = 500
	MaxPageSize     = 1000
)

// License types as upstream spells them.
const (
	TypeCloudSignIn = "cloud_sign_in"
	TypeCloudKey    = "cloud_key"
	TypeNetwork     = "network"
	TypeStandalone  = "standalone"
)

// Error codes upstream returns with 409 on terminate.
const (
	CodeCheckedOut    = "checked_out"
	CodeNotTerminable = "not_terminable"
)

// Denial reasons as upstream spells them; any other value reads as
// source.DenialOther.
const (
	DenialNoSeatAvailable   = "no_seat_available"
	DenialNotInLicenseGroup = "not_in_license_group"
)

// TerminateStatusTerminating is the status of an accepted terminate.
const TerminateStatusTerminating = "terminating"

// LicensesDoc is the body of GET {base}/licenses.
type LicensesDoc struct {
	Account     AccountDoc   `json:"account"`
	GeneratedAt string       `json:"generated_at"`
	Licenses    []LicenseDoc `json:"licenses" wire:"required"`
}

// AccountDoc names the account the link belongs to.
type AccountDoc struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// LicenseDoc is one purchased license (a pool of seats). Seats and InUse are
// pointers so that a missing required number is told apart from 0.
type LicenseDoc struct {
	ID         string  `json:"id" wire:"required"`
	Product    string  `json:"product" wire:"required"`
	Edition    string  `json:"edition"`
	Version    string  `json:"version,omitempty"`
	Type       string  `json:"type" wire:"required"`
	Seats      *int64  `json:"seats" wire:"required"`
	InUse      *int64  `json:"in_use" wire:"required"`
	CheckedOut int64   `json:"checked_out"`
	ExpiresAt  *string `json:"expires_at"` // RFC 3339; nil or absent: perpetual
}

// SessionsDoc is one page of GET {base}/sessions.
type SessionsDoc struct {
	Sessions      []SessionDoc `json:"sessions" wire:"required"`
	NextPageToken string       `json:"next_page_token"`
}

// SessionDoc is one license session.
type SessionDoc struct {
	ID                string  `json:"id" wire:"required"`
	LicenseID         string  `json:"license_id" wire:"required"`
	User              string  `json:"user" wire:"required,pii=user"`
	DisplayName       string  `json:"display_name" wire:"pii=name"`
	Host              string  `json:"host" wire:"pii=host"`
	StartedAt         string  `json:"started_at" wire:"required"` // RFC 3339
	CheckedOut        bool    `json:"checked_out"`
	CheckoutExpiresAt *string `json:"checkout_expires_at"`
}

// DenialsDoc is one page of GET {base}/denials: CSI's "failure to obtain
// a license" records.
type DenialsDoc struct {
	Denials       []DenialDoc `json:"denials"`
	NextPageToken string      `json:"next_page_token"`
}

// DenialDoc is one refused license request.
type DenialDoc struct {
	ID          string `json:"id"`
	At          string `json:"at"` // RFC 3339
	Product     string `json:"product"`
	Edition     string `json:"edition"`
	LicenseType string `json:"license_type"`
	User        string `json:"user"`
	Host        string `json:"host"`
	Reason      string `json:"reason"`
}

// TerminateDoc is the body of a 202 answer to POST sessions/{id}/terminate.
type TerminateDoc struct {
	SessionID string `json:"session_id"`
	Status    string `json:"status"`
}

// ErrorDoc is the error body upstream sends on every endpoint.
type ErrorDoc struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorDoc.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Int64 returns a pointer to n, for filling LicenseDoc's required numbers.
func Int64(n int64) *int64 { return &n }

// String returns a pointer to s, for the optional timestamps.
func String(s string) *string { return &s }
