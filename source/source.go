// Package source is what the exporter and the sidecar know of a license
// manager: an interface any of them implements, the source-neutral model
// it reads into, the reasons a read fails, and the registry that maps a
// config's `type:` to an implementation. Implementations live in their own
// packages (source/csi); source/all links every one of them in.
package source

import (
	"context"
	"errors"
	"reflect"
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
// assertion. CSI implements Terminator, Denials and RawReader; FlexLM
// implements those and ExtraSeries.

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

// Series is one sample of a source-specific gauge. Its HELP text is the
// collector's, which serves only the families of the contract.
type Series struct {
	Name   string
	Labels []Label // beside source
	Value  float64
}

// Label is one label of a Series.
type Label struct{ Name, Value string }

// RawReader is a source whose documents can be read as received, for the
// probe (license_exporter --source.probe) that names what a source sent
// and its decoder did not understand. Documents hold user names and may
// echo secrets: they are never logged.
type RawReader interface {
	// ReadRaw reads one snapshot exactly as a poll does, Licenses and
	// then every page of EachSession with the same client, limits and
	// validation, and hands visit each document as it came, before it is
	// decoded, whatever its status, one at a time. It returns what
	// ReadAll would: the
	// snapshot, sessions included, or the poll's error. An error from
	// visit ends the read and is returned as it is.
	ReadRaw(ctx context.Context, visit func(d *RawDoc) error) (*Snapshot, error)
}

// RawDoc is one document a RawReader read.
type RawDoc struct {
	Name        string // for people, as errors name it: "GET licenses", "GET sessions page 2"
	Endpoint    string // what was read, one word: "licenses", "sessions" (dump files are named after it)
	Status      int    // HTTP status; 0 when the source is not HTTP
	ContentType string
	// Body is the document as received, at most the source's size limit
	// plus one byte (an error answer: its first 64 KiB); it is only valid
	// during visit.
	Body []byte
	// Wire is the Go type a body of the expected status decodes into
	// with encoding/json, nil for other bodies (error answers). Its
	// fields' json tags name the fields the source knows, and WireTag
	// marks the required and the personal ones.
	Wire reflect.Type
}

// WireTag is the struct tag of a source's wire types that a probe reads:
// a comma-separated list of "required" (the API always sends the field;
// absent or null, the document is invalid) and "pii=user", "pii=host" or
// "pii=name" (a person's user name, host or display name, which a probe
// counts and pseudonymises but never prints).
const WireTag = "wire"

// HostChecker is a source config that depends on something of the host
// that loading does not inspect (FlexLM's lmutil: a reload must not fail
// while it is being upgraded). --config.check calls CheckHost and reports
// its error plainly.
type HostChecker interface {
	CheckHost() error
}

// SecretHolder is a source config that can list the secrets it holds (a
// token, the parts of an API link that make it secret), so a probe can
// remove them from what it prints and dumps, even where upstream echoes
// them back.
type SecretHolder interface {
	Secrets() []string
}
