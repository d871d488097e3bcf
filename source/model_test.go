package source

import (
	"context"
	"errors"
	"testing"
)

// twoPages is a source of two licenses and three sessions, one of a
// license it does not list.
type twoPages struct{ sessErr error }

func (twoPages) Licenses(context.Context) (*Snapshot, error) {
	return &Snapshot{AccountName: "Acme", Licenses: []License{{ID: "L1", Product: "ETABS"}, {ID: "L2", Product: "SAFE"}}}, nil
}

func (s twoPages) EachSession(_ context.Context, visit func(*Session)) error {
	for _, sess := range []Session{{ID: "S1", LicenseID: "L2"}, {ID: "S2", LicenseID: "L-GONE"}, {ID: "S3", LicenseID: "L1"}} {
		visit(&sess)
	}
	return s.sessErr
}

func (twoPages) Host() string { return "test" }

func TestReadAllJoinsSessionsToLicenses(t *testing.T) {
	snap, err := ReadAll(context.Background(), twoPages{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Sessions) != 3 || snap.UnknownLicenseSessions != 1 || snap.AccountName != "Acme" {
		t.Fatalf("snapshot: %+v", snap)
	}
	idx := IndexLicenses(snap.Licenses)
	for _, tc := range []struct {
		session string
		product string
	}{{"S1", "SAFE"}, {"S2", ""}, {"S3", "ETABS"}} {
		var s *Session
		for i := range snap.Sessions {
			if snap.Sessions[i].ID == tc.session {
				s = &snap.Sessions[i]
			}
		}
		i, ok := idx.Of(s)
		if ok != (tc.product != "") || ok && snap.Licenses[i].Product != tc.product {
			t.Errorf("%s: license %d, %v; want product %q", tc.session, i, ok, tc.product)
		}
	}
}

func TestReadAllFails(t *testing.T) {
	want := &Error{Reason: ReasonDecode, Op: "sessions"}
	if _, err := ReadAll(context.Background(), twoPages{sessErr: want}); !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

// An empty account reads as an empty list, not nil: the sidecar's JSON
// shows [] rather than null.
func TestReadAllNoSessions(t *testing.T) {
	snap, err := ReadAll(context.Background(), empty{})
	if err != nil || snap.Sessions == nil {
		t.Fatalf("sessions %v, err %v", snap.Sessions, err)
	}
}

type empty struct{}

func (empty) Licenses(context.Context) (*Snapshot, error)       { return &Snapshot{}, nil }
func (empty) EachSession(context.Context, func(*Session)) error { return nil }
func (empty) Host() string                                      { return "test" }
