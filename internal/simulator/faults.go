package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// FaultKind names one way the simulated upstream misbehaves.
type FaultKind string

// The fault kinds; see the package documentation for the wire behaviour of each.
const (
	FaultNone         FaultKind = "none"
	FaultLatency      FaultKind = "latency"
	FaultHang         FaultKind = "hang"
	FaultHTTP5xx      FaultKind = "http_5xx"
	FaultRateLimit    FaultKind = "rate_limit"
	FaultMalformed    FaultKind = "malformed"
	FaultTruncated    FaultKind = "truncated"
	FaultWrongShape   FaultKind = "wrong_shape"
	FaultHuge         FaultKind = "huge"
	FaultEndlessPages FaultKind = "endless_pages"
	FaultRepeatToken  FaultKind = "repeat_token"
	FaultNegative     FaultKind = "negative"
	FaultNonInteger   FaultKind = "non_integer"
	FaultDuplicateIDs FaultKind = "duplicate_ids"
	FaultUnauthorized FaultKind = "unauthorized"
	FaultLongNames    FaultKind = "long_names"
	FaultFutureStart  FaultKind = "future_start"

	// For the probe (fields.go): fields the model lacks, a required
	// field missing, a value of the wrong type, the credentials echoed.
	FaultExtraFields     FaultKind = "extra_fields"
	FaultMissingField    FaultKind = "missing_field"
	FaultWrongType       FaultKind = "wrong_type"
	FaultEchoCredentials FaultKind = "echo_credentials"
)

// FaultKinds lists every kind, FaultNone first.
var FaultKinds = []FaultKind{
	FaultNone, FaultLatency, FaultHang, FaultHTTP5xx, FaultRateLimit,
	FaultMalformed, FaultTruncated, FaultWrongShape, FaultHuge,
	FaultEndlessPages, FaultRepeatToken, FaultNegative, FaultNonInteger,
	FaultDuplicateIDs, FaultUnauthorized, FaultLongNames, FaultFutureStart,
	FaultExtraFields, FaultMissingField, FaultWrongType, FaultEchoCredentials,
}

// Endpoint names, as used by Fault.Endpoints and Requests.
const (
	EndpointLicenses  = "licenses"
	EndpointSessions  = "sessions"
	EndpointTerminate = "terminate"
	EndpointDenials   = "denials"
)

var allEndpoints = []string{EndpointLicenses, EndpointSessions, EndpointTerminate, EndpointDenials}

// Defaults applied by SetFault when a field is left zero.
const (
	DefaultFaultLatency    = 2 * time.Second
	DefaultFaultStatus     = 500
	DefaultFaultRetryAfter = 1
	DefaultFaultHugeBytes  = 100 << 20
	DefaultFaultNameBytes  = 100 << 10

	maxNameBytes = 1 << 20

	minHugeBytes = 1 << 10
	maxHugeBytes = 1 << 40
)

// Fault is the body of POST /-/control/fault and the argument of SetFault.
// Fields that do not belong to Kind must be zero; the zero Fault is none.
type Fault struct {
	Kind       FaultKind
	Endpoints  []string      // empty: all endpoints
	Latency    time.Duration // latency
	Status     int           // http_5xx
	RetryAfter int           // rate_limit, seconds
	HugeBytes  int64         // huge
	NameBytes  int           // long_names

	echo map[string]string // echo_credentials: what the request carried, set per request
}

// FutureStart is the started_at of the first session of each page under
// the future_start fault: past what Unix nanoseconds hold.
const FutureStart = "2300-01-01T00:00:00Z"

// faultJSON is Fault on the wire: the latency is a Go duration string.
type faultJSON struct {
	Kind       FaultKind `json:"kind"`
	Endpoints  []string  `json:"endpoints,omitempty"`
	Latency    string    `json:"latency,omitempty"`
	Status     int       `json:"status,omitempty"`
	RetryAfter int       `json:"retry_after,omitempty"`
	HugeBytes  int64     `json:"huge_bytes,omitempty"`
	NameBytes  int       `json:"name_bytes,omitempty"`
}

// MarshalJSON writes the control API form, e.g. {"kind":"latency","latency":"2s"}.
func (f Fault) MarshalJSON() ([]byte, error) {
	j := faultJSON{Kind: f.Kind, Endpoints: f.Endpoints, Status: f.Status, RetryAfter: f.RetryAfter, HugeBytes: f.HugeBytes, NameBytes: f.NameBytes}
	if j.Kind == "" {
		j.Kind = FaultNone
	}
	if f.Latency != 0 {
		j.Latency = f.Latency.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the control API form strictly (unknown fields are errors).
// It does not validate; SetFault does.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var j faultJSON
	if err := decodeStrict(bytes.NewReader(b), &j); err != nil {
		return err
	}
	var lat time.Duration
	if j.Latency != "" {
		d, err := time.ParseDuration(j.Latency)
		if err != nil {
			return fmt.Errorf("latency: %w", err)
		}
		lat = d
	}
	*f = Fault{Kind: j.Kind, Endpoints: j.Endpoints, Latency: lat, Status: j.Status, RetryAfter: j.RetryAfter, HugeBytes: j.HugeBytes, NameBytes: j.NameBytes}
	return nil
}

// ParseFault decodes and validates a control API fault body, as the control
// endpoint and the --fault flag do.
func ParseFault(b []byte) (Fault, error) {
	var f Fault
	if err := decodeStrict(bytes.NewReader(b), &f); err != nil {
		return Fault{}, err
	}
	if f.Kind == "" {
		return Fault{}, errors.New("kind is required")
	}
	return f.normalize()
}

// normalize validates f and fills defaults, returning a copy that shares
// nothing with f. The zero Fault is none.
func (f Fault) normalize() (Fault, error) {
	if f.Kind == "" {
		f.Kind = FaultNone
	}
	if !slices.Contains(FaultKinds, f.Kind) {
		return Fault{}, fmt.Errorf("unknown fault kind %q", f.Kind)
	}
	out := Fault{Kind: f.Kind}
	for _, e := range f.Endpoints {
		if !slices.Contains(allEndpoints, e) {
			return Fault{}, fmt.Errorf("unknown endpoint %q (want licenses, sessions, terminate or denials)", e)
		}
		if !slices.Contains(out.Endpoints, e) {
			out.Endpoints = append(out.Endpoints, e)
		}
	}
	if f.Kind == FaultNone && len(out.Endpoints) > 0 {
		return Fault{}, errors.New("endpoints do not apply to kind none")
	}
	only := func(field string, set bool, kind FaultKind) error {
		if set && f.Kind != kind {
			return fmt.Errorf("%s applies only to kind %s", field, kind)
		}
		return nil
	}
	if err := errors.Join(
		only("latency", f.Latency != 0, FaultLatency),
		only("status", f.Status != 0, FaultHTTP5xx),
		only("retry_after", f.RetryAfter != 0, FaultRateLimit),
		only("huge_bytes", f.HugeBytes != 0, FaultHuge),
		only("name_bytes", f.NameBytes != 0, FaultLongNames),
	); err != nil {
		return Fault{}, err
	}
	switch f.Kind {
	case FaultLatency:
		out.Latency = f.Latency
		if out.Latency == 0 {
			out.Latency = DefaultFaultLatency
		}
		if out.Latency < 0 {
			return Fault{}, errors.New("latency must be positive")
		}
	case FaultHTTP5xx:
		out.Status = f.Status
		if out.Status == 0 {
			out.Status = DefaultFaultStatus
		}
		if out.Status < 500 || out.Status > 599 {
			return Fault{}, fmt.Errorf("status %d is not 5xx", out.Status)
		}
	case FaultRateLimit:
		out.RetryAfter = f.RetryAfter
		if out.RetryAfter == 0 {
			out.RetryAfter = DefaultFaultRetryAfter
		}
		if out.RetryAfter < 0 || out.RetryAfter > 86400 {
			return Fault{}, errors.New("retry_after must be 1..86400 seconds")
		}
	case FaultHuge:
		out.HugeBytes = f.HugeBytes
		if out.HugeBytes == 0 {
			out.HugeBytes = DefaultFaultHugeBytes
		}
		if out.HugeBytes < minHugeBytes || out.HugeBytes > maxHugeBytes {
			return Fault{}, fmt.Errorf("huge_bytes must be %d..%d", minHugeBytes, int64(maxHugeBytes))
		}
	case FaultLongNames:
		out.NameBytes = f.NameBytes
		if out.NameBytes == 0 {
			out.NameBytes = DefaultFaultNameBytes
		}
		if out.NameBytes < 1 || out.NameBytes > maxNameBytes {
			return Fault{}, fmt.Errorf("name_bytes must be 1..%d", maxNameBytes)
		}
	}
	return out, nil
}

// applies reports whether the fault is on for endpoint ep.
func (f Fault) applies(ep string) bool {
	if f.Kind == "" || f.Kind == FaultNone {
		return false
	}
	return len(f.Endpoints) == 0 || slices.Contains(f.Endpoints, ep)
}

// decodeStrict decodes exactly one JSON value into v, refusing unknown
// fields and trailing data.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}
