// Package source is what the exporter and the sidecar know of a license
// manager: an interface any of them implements, the source-neutral model
// it reads into, the reasons a read fails, and the registry that maps a
// config's `type:` to an implementation. Implementations live in their own
// packages (source/csi); source/all links every one of them in.
package source

import (
	"context"
	"errors"
	"time"
)

// Source reads one license manager. A poll is one consistent snapshot:
// Licenses, then EachSession; both may run at once (the poller overlaps
// them while the source answers). Every error a method returns is
// classified by ReasonOf, and its text never holds a secret (a token, an
// API link). Implementations are safe for concurrent use.
type Source interface {
	// Licenses reads the licenses (pools of seats) and the account they
	// belong to; the Snapshot's Sessions are left empty.
	Licenses(ctx context.Context) (*Snapshot, error)
	// EachSession reads every session and hands each to visit, keeping
	// none, so a poll of 200,000 sessions holds one page at a time. s is
	// only valid during the call. When it fails, visit may have seen part
	// of the sessions already.
	EachSession(ctx context.Context, visit func(s *Session)) error
	// Host names where the source is, for logs; it never holds a secret.
	Host() string
}

// The optional capabilities below are separate interfaces, so a source
// implements what its license manager has and callers ask with a type
// assertion. CSI implements Terminator and Denials.

// Terminator is a source that can end a session remotely (the sidecar's
// terminate action).
type Terminator interface {
	// Terminable says whether the source would end s, a session of a
	// license of type licenseType ("" when the license is not listed),
	// and if not, why: CodeCheckedOut or CodeNotTerminable. It decides
	// without calling the source, so views can show it for every session.
	Terminable(s *Session, licenseType string) (ok bool, code string)
	// Terminate asks the source to end session id. It is not idempotent:
	// it is sent once and never retried. A refusal is an *Error whose
	// Code is CodeCheckedOut or CodeNotTerminable (Status 409), or whose
	// Status is 404 when the session is gone.
	Terminate(ctx context.Context, id string) error
}

// Codes of a refused terminate, from Terminator.Terminable and in
// Error.Code.
const (
	CodeCheckedOut    = "checked_out"    // checked out for offline use
	CodeNotTerminable = "not_terminable" // the license's type cannot be ended remotely
)

// Denials is a source that records refused license requests (CSI's
// "failure to obtain a license"; FlexLM's DENIED lines).
type Denials interface {
	// EachDenial hands visit every denial recorded at or after since, a
	// time on the source's clock, in the source's order. The same denial
	// may come again in a later call, and one may arrive late (recorded
	// after newer ones): callers deduplicate by Denial.ID. d is only
	// valid during the call. An account that keeps no denials answers
	// ErrNotSupported, which is not a failure.
	EachDenial(ctx context.Context, since time.Time, visit func(d *Denial)) error
}

// ErrNotSupported says that this account of the source does not offer an
// optional capability (CSI answers 404 for /denials).
var ErrNotSupported = errors.New("not offered by this account")

// Denial is one refused license request, validated by its source.
type Denial struct {
	ID          string // unique per event; never a label
	Time        time.Time
	Product     string
	Edition     string
	LicenseType string // lower-cased, as License.Type
	User        string
	Host        string
	Reason      DenialReason
}

// DenialReason is why a request was refused: the `reason` label of
// license_denials_total, part of the metric contract.
type DenialReason string

const (
	// DenialNoSeat: every seat the user may take is in use.
	DenialNoSeat DenialReason = "no_seat_available"
	// DenialNotInGroup: the user's license group has no free seat while
	// other groups do.
	DenialNotInGroup DenialReason = "not_in_license_group"
	// DenialOther: any other reason a source gives.
	DenialOther DenialReason = "other"
)

// DenialReasons lists every DenialReason, so counters start at zero.
var DenialReasons = []DenialReason{DenialNoSeat, DenialNotInGroup, DenialOther}

// ExtraSeries is a source with series of its own beside the metric
// contract: FlexLM's license server and vendor daemon status, reserved and
// queued seats. CSI has none.
type ExtraSeries interface {
	// Extra reads the source's own series for the snapshot being polled;
	// the poller calls it after Licenses and EachSession, within the same
	// poll timeout. Names start with license_; the collector adds the
	// source label.
	Extra(ctx context.Context) ([]Series, error)
}

// Series is one sample of a source-specific gauge.
type Series struct {
	Name   string
	Help   string
	Labels []Label // beside source
	Value  float64
}

// Label is one label of a Series.
type Label struct{ Name, Value string }

// RawReader is a source whose documents can be read as received, for a
// probe that names the fields it sent and the decoder did not understand
// (a later issue). Documents hold user names: they are not logged.
type RawReader interface {
	// EachRaw reads one snapshot and hands visit each document as it
	// came, named for people ("licenses", "sessions page 2").
	EachRaw(ctx context.Context, visit func(name string, doc []byte) error) error
}
