package flexlm

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/license-monitor/license-monitor/source"
)

// The mapping of one lmstat answer onto the source model
// (docs/architecture.md, "FlexLM"):
//
//   - one license per feature ("Users of F:"), the pool lmstat counts:
//     license_id "vendor:feature", product the feature. lmstat -a prints
//     issued and in use per feature only, never per version block, so
//     blocks are not split into licenses of their own: splitting would
//     invent counts. Issued and in use are lmstat's header totals, which
//     include reservations; an uncounted feature's in use is its
//     checked-out seats.
//   - license_type: the blocks' type, "uncounted" for an uncounted
//     feature, "mixed" when blocks of one feature differ; version the
//     highest block version.
//   - one session per user line; an "N licenses" checkout is one session
//     holding N seats. Queued requests hold no seat and are not sessions.

// snapshot is one parsed lmstat answer in the model.
type snapshot struct {
	licenses []source.License
	sessions []session
	extra    []source.Series
	status   *Status
}

// session is a source.Session and what lmremove needs to end it.
type session struct {
	source.Session
	feature, server, port, handle string
	floating                      bool
}

// maxKnownVendors bounds the vendors remembered per source (features).
const maxKnownVendors = 100_000

// mapStatus maps one answer. known remembers each feature's vendor from
// the version blocks of earlier answers (nil: remember nothing), so a
// feature that goes unused keeps its license_id.
func mapStatus(st *Status, licenseServer string, known map[string]string) *snapshot {
	// Sized up front: a session is hundreds of bytes, and growing the
	// slice by appending copied 20,000 of them several times (profiled).
	users := 0
	for fi := range st.Features {
		for bi := range st.Features[fi].Blocks {
			users += len(st.Features[fi].Blocks[bi].Users)
		}
	}
	snap := &snapshot{status: st, licenses: make([]source.License, 0, len(st.Features)),
		sessions: make([]session, 0, users),
		extra:    make([]source.Series, 0, len(st.Servers)+len(st.Vendors)+2*len(st.Features))}
	var ids strings.Builder
	ids.Grow(users * sessionIDLen)
	defaultVendor := vendorOfUnusedFeatures(st.Vendors)
	seenServer := map[string]int{}
	for _, s := range st.Servers {
		if i, ok := seenServer[s.Name]; ok {
			if s.Up {
				snap.extra[i].Value = 1
			}
			continue
		}
		seenServer[s.Name] = len(snap.extra)
		snap.extra = append(snap.extra, source.Series{Name: "license_server_up", Help: helpServerUp,
			Labels: []source.Label{{Name: "server", Value: s.Name}}, Value: b2f(s.Up)})
	}
	seenVendor := map[string]int{}
	for _, v := range st.Vendors {
		if i, ok := seenVendor[v.Name]; ok {
			if v.Up {
				snap.extra[i].Value = 1
			}
			continue
		}
		seenVendor[v.Name] = len(snap.extra)
		snap.extra = append(snap.extra, source.Series{Name: "license_vendor_daemon_up", Help: helpVendorUp,
			Labels: []source.Label{{Name: "vendor", Value: v.Name}}, Value: b2f(v.Up)})
	}
	seenID := map[string]bool{}
	for fi := range st.Features {
		f := &st.Features[fi]
		if f.Error != "" {
			continue // no counts to report; the probe lists it
		}
		vendor := ""
		for _, b := range f.Blocks {
			if b.Vendor != "" {
				vendor = b.Vendor
				break
			}
		}
		switch {
		case vendor != "":
			if known != nil && known[f.Name] != vendor && (len(known) < maxKnownVendors || known[f.Name] != "") {
				known[f.Name] = vendor
			}
		case known[f.Name] != "":
			vendor = known[f.Name]
		default:
			vendor = defaultVendor
		}
		id := vendor + ":" + f.Name
		if seenID[id] {
			continue // lmstat prints a feature once per server list; the first counts
		}
		seenID[id] = true
		l := source.License{ID: id, Product: f.Name, Type: featureType(f), Seats: f.Issued, InUse: f.InUse}
		var reserved, queued, held int64
		for bi := range f.Blocks {
			b := &f.Blocks[bi]
			if higherVersion(b.Version, l.Version) {
				l.Version = b.Version
			}
			if !b.Expiry.IsZero() && (l.ExpiresAt.IsZero() || b.Expiry.Before(l.ExpiresAt)) {
				l.ExpiresAt = b.Expiry
			}
			for _, r := range b.Reservations {
				reserved += r.Count
			}
			queued += int64(len(b.Queued))
			for ui := range b.Users {
				u := &b.Users[ui]
				held += u.Licenses
				if u.Borrowed {
					l.CheckedOut += u.Licenses
				}
				// Filled in place, field by field, in the zeroed slot
				// made above: copying a session (200 bytes of which nine
				// strings) cost a bulk write barrier each (profiled).
				snap.sessions = snap.sessions[:len(snap.sessions)+1]
				s := &snap.sessions[len(snap.sessions)-1]
				s.LicenseID, s.User, s.DisplayName, s.Host = id, u.Name, u.Display, u.Host
				s.StartedAt, s.CheckedOut = u.Start, u.Borrowed
				s.feature, s.server, s.port, s.handle = f.Name, u.Server, u.Port, u.Handle
				s.floating = b.Type == TypeFloating || b.Type == "" && !f.Uncounted
				if u.Borrowed && u.Linger > 0 {
					s.CheckoutExpiresAt = u.Start.Add(u.Linger)
				}
				writeSessionID(&ids, licenseServer, f.Name, u)
			}
		}
		if f.Uncounted {
			l.InUse = held
		}
		snap.licenses = append(snap.licenses, l)
		labels := []source.Label{{Name: "license_id", Value: id}, {Name: "product", Value: f.Name}, {Name: "edition"}, {Name: "license_type", Value: l.Type}}
		snap.extra = append(snap.extra,
			source.Series{Name: "license_seats_reserved", Help: helpReserved, Labels: labels, Value: float64(reserved)},
			source.Series{Name: "license_queued_requests", Help: helpQueued, Labels: labels, Value: float64(queued)})
	}
	// The ids were written into one buffer and become one string, cut
	// into each session's: one allocation, not one per session, and
	// strings.Builder hands it over without a copy.
	all := ids.String()
	for i := range snap.sessions {
		snap.sessions[i].ID = all[i*sessionIDLen : (i+1)*sessionIDLen]
	}
	return snap
}

const (
	helpServerUp = "1 if lmstat reported this license server UP, 0 if not."
	helpVendorUp = "1 if lmstat reported this vendor daemon UP, 0 if not."
	helpReserved = "Seats of this license held by RESERVATIONs; lmstat counts them in use."
	helpQueued   = "Checkout requests of this license waiting in the queue."
)

// vendorOfUnusedFeatures is the vendor of a feature lmstat printed no
// version block for (none of it is in use): a feature with totals is
// served by a daemon that is up, so when exactly one is up, it is that
// one. Otherwise "" (license_id ":F") until a block names it.
func vendorOfUnusedFeatures(vendors []Vendor) string {
	up := ""
	for _, v := range vendors {
		if v.Up {
			if up != "" && up != v.Name {
				return ""
			}
			up = v.Name
		}
	}
	return up
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// featureType is the license_type of a feature.
func featureType(f *Feature) string {
	if f.Uncounted {
		return TypeUncounted
	}
	typ := ""
	for _, b := range f.Blocks {
		switch {
		case b.Type == "":
		case typ == "":
			typ = b.Type
		case typ != b.Type:
			return TypeMixed
		}
	}
	if typ == "" {
		return TypeFloating // a counted feature whose blocks lmstat did not print (none in use)
	}
	return typ
}

// higherVersion compares dotted versions numerically, part by part.
func higherVersion(a, b string) bool {
	if b == "" {
		return a != ""
	}
	for a != "" || b != "" {
		var pa, pb string
		pa, a, _ = strings.Cut(a, ".")
		pb, b, _ = strings.Cut(b, ".")
		na, ea := strconv.ParseInt(pa, 10, 64)
		nb, eb := strconv.ParseInt(pb, 10, 64)
		if ea == nil && eb == nil {
			if na != nb {
				return na > nb
			}
			continue
		}
		if pa != pb {
			return pa > pb
		}
	}
	return false
}

// sessionID is a stable hash of what identifies one checkout: the server
// list, the feature, lmstat's handle, the user, the host and the start.
// A handle that the server reuses for a later checkout gets a new id, so a
// stale id never ends another session.
func sessionID(licenseServer, feature string, u *User) string {
	var b strings.Builder
	writeSessionID(&b, licenseServer, feature, u)
	return b.String()
}

const sessionIDPrefix = "flexlm-"

// sessionIDLen is the length of every session id.
const sessionIDLen = len(sessionIDPrefix) + 32

// writeSessionID writes sessionID's id to b.
func writeSessionID(b *strings.Builder, licenseServer, feature string, u *User) {
	// The hash of each part's length and bytes, then the start: built in
	// one buffer and hashed at once, which allocates no hasher (the same
	// bytes, so the same ids, as writing them to sha256.New one by one).
	var stack [512]byte
	buf := stack[:0]
	for _, part := range [...]string{licenseServer, feature, u.Server, u.Port, u.Handle, u.Name, u.Host} {
		buf = binary.BigEndian.AppendUint64(buf, uint64(len(part)))
		buf = append(buf, part...)
	}
	buf = binary.BigEndian.AppendUint64(buf, uint64(u.Start.Unix()))
	sum := sha256.Sum256(buf)
	var id [sessionIDLen]byte
	copy(id[:], sessionIDPrefix)
	hex.Encode(id[len(sessionIDPrefix):], sum[:16])
	b.Write(id[:])
}
