package flexlm

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
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

// session is one checkout: its id, its user line and its license. 32
// bytes, not a whole source.Session and lmremove's fields (208 bytes a
// session, a 4 MiB array with pointers a poll, profiled): snapshot.session
// builds the source.Session from the user line when it is read.
type session struct {
	ID       string
	user     *User // in the Status's users array, which the snapshot holds
	lic      int32 // the index of its license in licenses
	floating bool
}

// session is sessions[i] as the source model has it.
func (snap *snapshot) session(i int) source.Session {
	s := &snap.sessions[i]
	u := s.user
	one := source.Session{ID: s.ID, LicenseID: snap.licenses[s.lic].ID, User: u.Name, DisplayName: u.Display, Host: u.Host,
		StartedAt: u.Start, CheckedOut: u.Borrowed}
	if u.Borrowed && u.Linger > 0 {
		one.CheckoutExpiresAt = u.Start.Add(u.Linger)
	}
	return one
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
	hasher := newIDHasher()
	defaultVendor := vendorOfUnusedFeatures(st.Vendors)
	// A server or vendor lmstat names twice (status per server of a
	// triad) is one series, up if any line says UP.
	seenUp := map[string]int{}
	addUp := func(name, label, value string, up bool) {
		key := name + "\x00" + value
		if i, ok := seenUp[key]; ok {
			if up {
				snap.extra[i].Value = 1
			}
			return
		}
		seenUp[key] = len(snap.extra)
		snap.extra = append(snap.extra, source.Series{Name: name,
			Labels: []source.Label{{Name: label, Value: value}}, Value: b2f(up)})
	}
	for _, s := range st.Servers {
		addUp("license_server_up", "server", s.Name, s.Up)
	}
	for _, v := range st.Vendors {
		addUp("license_vendor_daemon_up", "vendor", v.Name, v.Up)
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
		keys := sessionKeys{licenseServer: licenseServer, feature: f.Name}
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
				// made above: copying a whole struct with strings costs
				// a bulk write barrier (profiled).
				snap.sessions = snap.sessions[:len(snap.sessions)+1]
				s := &snap.sessions[len(snap.sessions)-1]
				s.user, s.lic = u, int32(len(snap.licenses)) // appended below
				s.floating = b.Type == TypeFloating || b.Type == "" && !f.Uncounted
				hasher.write(&ids, keys.get(u), u)
			}
		}
		if f.Uncounted {
			l.InUse = held
		}
		snap.licenses = append(snap.licenses, l)
		labels := []source.Label{{Name: "license_id", Value: id}, {Name: "product", Value: f.Name}, {Name: "edition"}, {Name: "license_type", Value: l.Type}}
		snap.extra = append(snap.extra,
			source.Series{Name: "license_seats_reserved", Labels: labels, Value: float64(reserved)},
			source.Series{Name: "license_queued_requests", Labels: labels, Value: float64(queued)})
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
// list, the feature, lmstat's server and port, the handle, the user, the
// host and the start. A handle that the server reuses for a later
// checkout gets a new id, so a stale id never ends another session.
func sessionID(licenseServer, feature string, u *User) string {
	var b strings.Builder
	key := sessionKey(licenseServer, feature, u.Server, u.Port)
	newIDHasher().write(&b, &key, u)
	return b.String()
}

const sessionIDPrefix = "flexlm-"

// sessionIDLen is the length of every session id.
const sessionIDLen = len(sessionIDPrefix) + 32

// sessionKey is the first half of a session id's hash, shared by the
// sessions of one feature on one server: SHA-256 of the length-prefixed
// server list, feature, server and port, cut to 128 bits. The id hashes
// it with the rest, so the whole id takes one 64-byte SHA-256 block for
// lmstat's usual lengths rather than three (profiled: the ids were a
// quarter of parse+map). Both hashes are SHA-256 cut to 128 bits of
// injective (length-prefixed) encodings: two tuples share an id only if
// one of them collides, about 2^64 work, as with one hash of it all.
func sessionKey(licenseServer, feature, server, port string) [16]byte {
	var stack [256]byte
	buf := stack[:0]
	for _, part := range [...]string{licenseServer, feature, server, port} {
		buf = binary.AppendUvarint(buf, uint64(len(part)))
		buf = append(buf, part...)
	}
	sum := sha256.Sum256(buf)
	return [16]byte(sum[:16])
}

// idHasher writes session ids with one SHA-256 hasher and buffers
// reused for all of a poll's sessions (about a tenth faster than
// sha256.Sum256 for each, measured).
type idHasher struct {
	h        hash.Hash
	buf, sum []byte
}

func newIDHasher() *idHasher {
	return &idHasher{h: sha256.New(), buf: make([]byte, 0, 128), sum: make([]byte, 0, sha256.Size)}
}

// write writes the id of u's session to b: SHA-256 of key and the
// length-prefixed handle, user and host and the start, cut to 128 bits,
// in hex.
func (x *idHasher) write(b *strings.Builder, key *[16]byte, u *User) {
	buf := append(x.buf[:0], key[:]...)
	for _, part := range [...]string{u.Handle, u.Name, u.Host} {
		buf = binary.AppendUvarint(buf, uint64(len(part)))
		buf = append(buf, part...)
	}
	buf = binary.BigEndian.AppendUint64(buf, uint64(u.Start.Unix()))
	x.buf = buf[:0]
	x.h.Reset()
	x.h.Write(buf)
	x.sum = x.h.Sum(x.sum[:0])
	var id [sessionIDLen]byte
	copy(id[:], sessionIDPrefix)
	hex.Encode(id[len(sessionIDPrefix):], x.sum[:16])
	b.Write(id[:])
}

// sessionKeys remembers the sessionKeys of one feature's servers; a
// triad's sessions alternate among three.
type sessionKeys struct {
	licenseServer, feature string
	n                      int
	servers                [4]struct {
		server, port string
		key          [16]byte
	}
}

// get returns the key of u's server, hashing it on first sight.
func (k *sessionKeys) get(u *User) *[16]byte {
	for i := range k.n {
		if s := &k.servers[i]; s.server == u.Server && s.port == u.Port {
			return &s.key
		}
	}
	i := k.n
	if i < len(k.servers) {
		k.n++
	} else {
		i = len(k.servers) - 1 // more servers than a triad: the last slot turns over
	}
	s := &k.servers[i]
	s.server, s.port, s.key = u.Server, u.Port, sessionKey(k.licenseServer, k.feature, u.Server, u.Port)
	return &s.key
}
