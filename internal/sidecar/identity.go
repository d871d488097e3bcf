package sidecar

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/internal/identity"
)

// Identity is an authenticated caller.
type Identity struct {
	Name   string
	Groups []string // from the proxy's groups header; empty for basic auth
	Source string   // SourceBasicAuth or SourceProxy
}

// Where an identity came from.
const (
	SourceBasicAuth = "basic_auth"
	SourceProxy     = "proxy"
)

// Bounds on what a proxy header may carry; anything longer is refused, not
// cut, so that a truncated name can never match another user.
const (
	maxIdentityLen = 256
	maxGroups      = 256
	maxGroupLen    = 256
)

var (
	errNoIdentity      = errors.New("no identity: send basic auth credentials or come through the trusted proxy")
	errUntrustedProxy  = errors.New("proxy identity headers from an address outside auth.proxy.trusted_cidrs")
	errBadProxyUser    = errors.New("the proxy's user header is malformed (several values, a comma, control characters or too long)")
	errBasicAuthUnsafe = errors.New("basic auth is not verified because --web.config.file has no basic_auth_users")
	errRepeatedGroups  = errors.New("the proxy's groups header came more than once (a client's forged copy may have been appended); " +
		"set auth.proxy.groups_header_repeated only if the proxy strips client-sent copies")
)

// ParseProxyUser reads the user header's values. Exactly one non-empty,
// printable value without a comma is accepted: a second value means that
// a client's forged header reached us beside the proxy's own.
func ParseProxyUser(values []string) (string, error) {
	if len(values) == 0 {
		return "", errNoIdentity
	}
	if len(values) > 1 {
		return "", errBadProxyUser
	}
	v := strings.TrimSpace(values[0])
	if v == "" {
		return "", errNoIdentity
	}
	if len(v) > maxIdentityLen || strings.ContainsRune(v, ',') || !printable(v) {
		return "", errBadProxyUser
	}
	if err := identity.Check(v); err != nil {
		return "", err
	}
	return v, nil
}

// ParseGroups reads the groups header: several header values, each a
// comma-separated list. Blank and malformed entries are dropped,
// duplicates removed, order kept.
func ParseGroups(values []string) []string {
	var out []string
	seen := map[string]struct{}{}
	for _, v := range values {
		for g := range strings.SplitSeq(v, ",") {
			g = strings.TrimSpace(g)
			if g == "" || len(g) > maxGroupLen || !printable(g) {
				continue
			}
			if _, dup := seen[g]; dup {
				continue
			}
			if len(out) == maxGroups {
				return out
			}
			seen[g] = struct{}{}
			out = append(out, g)
		}
	}
	return out
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// remoteAddr is the TCP peer's address: never X-Forwarded-For, which the
// client writes.
func remoteAddr(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// identify finds the caller. A trusted proxy's user header wins, because
// the proxy authenticated the person and may itself log in with basic
// auth. Proxy headers from any other address are an error, whatever else
// the request carries. Basic auth is trusted only when the web config has
// users, since only then has exporter-toolkit checked the password.
func identify(r *http.Request, proxy *config.ProxyAuth, basicAuthVerified bool) (Identity, error) {
	if proxy != nil {
		userVals := r.Header.Values(proxy.UserHeader)
		var groupVals []string
		if proxy.GroupsHeader != "" {
			groupVals = r.Header.Values(proxy.GroupsHeader)
		}
		if len(userVals) > 0 || len(groupVals) > 0 {
			addr, ok := remoteAddr(r)
			if !ok || !trusted(addr, proxy.Trusted()) {
				return Identity{}, errUntrustedProxy
			}
			if len(groupVals) > 1 && !proxy.GroupsHeaderRepeated {
				return Identity{}, errRepeatedGroups
			}
			if len(userVals) > 0 {
				name, err := ParseProxyUser(userVals)
				if err != nil {
					return Identity{}, err
				}
				return Identity{Name: name, Groups: ParseGroups(groupVals), Source: SourceProxy}, nil
			}
		}
	}
	user, _, ok := r.BasicAuth()
	if !ok || user == "" {
		return Identity{}, errNoIdentity
	}
	if !basicAuthVerified {
		return Identity{}, errBasicAuthUnsafe
	}
	if err := identity.Check(user); err != nil {
		return Identity{}, err
	}
	return Identity{Name: user, Source: SourceBasicAuth}, nil
}

func trusted(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
