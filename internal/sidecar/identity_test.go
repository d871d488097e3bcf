package sidecar

import (
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/internal/identity"
)

func TestParseGroups(t *testing.T) {
	cases := []struct {
		in   []string
		want []string
	}{
		{nil, nil},
		{[]string{"admins"}, []string{"admins"}},
		{[]string{"a,b", "c"}, []string{"a", "b", "c"}},
		{[]string{" a , ,b ", "b", "a"}, []string{"a", "b"}},
		{[]string{"ok,bad\x01group,fine"}, []string{"ok", "fine"}},
		{[]string{"", ",,,"}, nil},
		{[]string{"Admins,admins"}, []string{"Admins", "admins"}}, // group names are exact
		{[]string{strings.Repeat("g", maxGroupLen+1) + ",short"}, []string{"short"}},
	}
	for _, c := range cases {
		if got := ParseGroups(c.in); !slices.Equal(got, c.want) {
			t.Errorf("ParseGroups(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	var many []string
	for i := 0; i < maxGroups+10; i++ {
		many = append(many, strings.Repeat("x", i+1))
	}
	if got := ParseGroups([]string{strings.Join(many, ",")}); len(got) != maxGroups {
		t.Errorf("%d groups kept, want the cap %d", len(got), maxGroups)
	}
}

func TestParseProxyUser(t *testing.T) {
	cases := []struct {
		in   []string
		want string
		err  error
	}{
		{[]string{"alice@acme.example"}, "alice@acme.example", nil},
		{[]string{"  alice@acme.example "}, "alice@acme.example", nil},
		{nil, "", errNoIdentity},
		{[]string{"  "}, "", errNoIdentity},
		// A second value means a forged header got through beside the proxy's.
		{[]string{"alice@acme.example", "mallory@acme.example"}, "", errBadProxyUser},
		{[]string{"alice@acme.example, mallory@acme.example"}, "", errBadProxyUser},
		{[]string{"alice\x00"}, "", errBadProxyUser},
		{[]string{"al\u0085ice"}, "", errBadProxyUser},
		{[]string{"\xff\xfe"}, "", errBadProxyUser},
		{[]string{strings.Repeat("a", maxIdentityLen+1)}, "", errBadProxyUser},
	}
	for _, c := range cases {
		got, err := ParseProxyUser(c.in)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("ParseProxyUser(%q) = %q, %v; want %q, %v", c.in, got, err, c.want, c.err)
		}
	}
}

func testProxy() *config.ProxyAuth {
	cfg, err := config.LoadSidecar([]byte(`source: {name: a, type: csi, url: "http://127.0.0.1:1/x"}
roles: {r: []}
auth: {proxy: {user_header: X-User, groups_header: X-Groups, trusted_cidrs: [10.0.0.0/8, "::1/128"]}}
`), "")
	if err != nil {
		panic(err)
	}
	return cfg.Auth.Proxy
}

func TestIdentify(t *testing.T) {
	proxy := testProxy()
	req := func(remote string, hdr map[string][]string, basic string) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, "http://sidecar/", nil)
		r.RemoteAddr = remote
		for k, vs := range hdr {
			for _, v := range vs {
				r.Header.Add(k, v)
			}
		}
		if basic != "" {
			r.SetBasicAuth(basic, "secret")
		}
		return r
	}
	repeated := *proxy
	repeated.GroupsHeaderRepeated = true
	cases := []struct {
		name     string
		r        *http.Request
		proxy    *config.ProxyAuth
		verified bool
		want     Identity
		err      error
	}{
		{"trusted proxy", req("10.1.2.3:5555", map[string][]string{"X-User": {"a@x"}, "X-Groups": {"g1,g2, g3"}}, ""), proxy, false,
			Identity{Name: "a@x", Groups: []string{"g1", "g2", "g3"}, Source: SourceProxy}, nil},
		// A proxy that appends would pass a client's own copy along.
		{"repeated groups header", req("10.1.2.3:5555", map[string][]string{"X-User": {"a@x"}, "X-Groups": {"g1,g2", "license-admins"}}, ""), proxy, false,
			Identity{}, errRepeatedGroups},
		{"repeated groups header, allowed", req("10.1.2.3:5555", map[string][]string{"X-User": {"a@x"}, "X-Groups": {"g1,g2", "g3"}}, ""), &repeated, false,
			Identity{Name: "a@x", Groups: []string{"g1", "g2", "g3"}, Source: SourceProxy}, nil},
		{"KELVIN SIGN look-alike from the proxy", req("10.1.2.3:5555", map[string][]string{"X-User": {"\u212Aate@acme.example"}}, ""), proxy, false,
			Identity{}, identity.ErrNotCanonical},
		{"LONG S look-alike from the proxy", req("10.1.2.3:5555", map[string][]string{"X-User": {"ro\u017Fe@acme.example"}}, ""), proxy, false,
			Identity{}, identity.ErrNotCanonical},
		{"look-alike in basic auth", req("192.168.1.1:1", nil, "\u212Aate"), nil, true, Identity{}, identity.ErrNotCanonical},
		{"trusted proxy over IPv6", req("[::1]:5555", map[string][]string{"X-User": {"a@x"}}, ""), proxy, false,
			Identity{Name: "a@x", Source: SourceProxy}, nil},
		{"IPv4-mapped IPv6 peer", req("[::ffff:10.0.0.1]:5555", map[string][]string{"X-User": {"a@x"}}, ""), proxy, false,
			Identity{Name: "a@x", Source: SourceProxy}, nil},
		{"proxy wins over basic auth", req("10.0.0.1:1", map[string][]string{"X-User": {"a@x"}}, "proxyuser"), proxy, true,
			Identity{Name: "a@x", Source: SourceProxy}, nil},
		{"untrusted peer", req("192.168.1.1:1", map[string][]string{"X-User": {"a@x"}}, ""), proxy, false, Identity{}, errUntrustedProxy},
		{"untrusted peer even with verified basic auth", req("192.168.1.1:1", map[string][]string{"X-User": {"a@x"}}, "bob"), proxy, true, Identity{}, errUntrustedProxy},
		{"untrusted groups header alone", req("192.168.1.1:1", map[string][]string{"X-Groups": {"admins"}}, "bob"), proxy, true, Identity{}, errUntrustedProxy},
		{"X-Forwarded-For is not the peer", req("192.168.1.1:1", map[string][]string{"X-User": {"a@x"}, "X-Forwarded-For": {"10.0.0.1"}}, ""), proxy, false, Identity{}, errUntrustedProxy},
		{"two user values", req("10.0.0.1:1", map[string][]string{"X-User": {"a@x", "b@x"}}, ""), proxy, false, Identity{}, errBadProxyUser},
		{"trusted peer, groups only, falls back to basic", req("10.0.0.1:1", map[string][]string{"X-Groups": {"admins"}}, "bob"), proxy, true,
			Identity{Name: "bob", Source: SourceBasicAuth}, nil},
		{"basic auth verified", req("192.168.1.1:1", nil, "bob"), nil, true, Identity{Name: "bob", Source: SourceBasicAuth}, nil},
		{"basic auth not verified by the toolkit", req("192.168.1.1:1", nil, "bob"), nil, false, Identity{}, errBasicAuthUnsafe},
		{"proxy headers ignored when proxy mode is off", req("10.0.0.1:1", map[string][]string{"X-User": {"a@x"}}, ""), nil, true, Identity{}, errNoIdentity},
		{"nothing", req("10.0.0.1:1", nil, ""), proxy, true, Identity{}, errNoIdentity},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := identify(c.r, c.proxy, c.verified)
			if !errors.Is(err, c.err) || got.Name != c.want.Name || got.Source != c.want.Source || !slices.Equal(got.Groups, c.want.Groups) {
				t.Errorf("identify = %+v, %v; want %+v, %v", got, err, c.want, c.err)
			}
		})
	}
}

// FuzzProxyIdentity: whatever the headers and peer, an identity comes only
// from a trusted peer's single well-formed user header or from verified
// basic auth, and its name and groups are bounded and printable.
func FuzzProxyIdentity(f *testing.F) {
	f.Add("10.0.0.1:1", "alice@x", "", "g1, g2", "g3", "")
	f.Add("192.168.0.1:1", "alice@x", "", "", "", "bob")
	f.Add("[::1]:9", "a,b", "", ",,", "", "")
	f.Add("[::ffff:10.0.0.9]:9", "alice", "mallory", "", "", "")
	f.Add("garbage", "\x00", "", "\xff", "", "x")
	proxy := testProxy()
	f.Fuzz(func(t *testing.T, remote, user1, user2, groups1, groups2, basic string) {
		r, _ := http.NewRequest(http.MethodGet, "http://sidecar/", nil)
		r.RemoteAddr = remote
		if user1 != "" {
			r.Header["X-User"] = append(r.Header["X-User"], user1)
		}
		if user2 != "" {
			r.Header["X-User"] = append(r.Header["X-User"], user2)
		}
		for _, g := range []string{groups1, groups2} {
			if g != "" {
				r.Header["X-Groups"] = append(r.Header["X-Groups"], g)
			}
		}
		if basic != "" {
			r.SetBasicAuth(basic, "pw")
		}
		for _, verified := range []bool{false, true} {
			id, err := identify(r, proxy, verified)
			if err != nil {
				if id.Name != "" {
					t.Fatalf("an error with an identity: %+v %v", id, err)
				}
				continue
			}
			switch id.Source {
			case SourceProxy:
				ap, perr := netip.ParseAddrPort(remote)
				if perr != nil || !trusted(ap.Addr().Unmap(), proxy.Trusted()) {
					t.Fatalf("proxy identity from untrusted peer %q", remote)
				}
				if len(r.Header["X-User"]) != 1 || strings.Contains(id.Name, ",") || len(id.Name) > maxIdentityLen || !printable(id.Name) || id.Name == "" {
					t.Fatalf("bad proxy identity %q from %q", id.Name, r.Header["X-User"])
				}
			case SourceBasicAuth:
				if !verified || id.Name == "" {
					t.Fatalf("basic identity %q accepted (verified=%v)", id.Name, verified)
				}
				if len(r.Header["X-User"]) > 0 || len(r.Header["X-Groups"]) > 0 {
					if ap, perr := netip.ParseAddrPort(remote); perr != nil || !trusted(ap.Addr().Unmap(), proxy.Trusted()) {
						t.Fatalf("proxy headers from an untrusted peer were ignored instead of refused")
					}
				}
			default:
				t.Fatalf("identity without a source: %+v", id)
			}
			if len(id.Groups) > maxGroups {
				t.Fatalf("%d groups", len(id.Groups))
			}
			for _, g := range id.Groups {
				if g == "" || len(g) > maxGroupLen || !printable(g) || strings.Contains(g, ",") {
					t.Fatalf("bad group %q", g)
				}
			}
		}
	})
}

// FuzzParseGroups: groups are unique, trimmed, bounded and printable.
func FuzzParseGroups(f *testing.F) {
	f.Add("a,b", "c")
	f.Add(" a , a ", "")
	f.Add("\x00,\xff", ",")
	f.Fuzz(func(t *testing.T, a, b string) {
		got := ParseGroups([]string{a, b})
		seen := map[string]bool{}
		for _, g := range got {
			if seen[g] || g != strings.TrimSpace(g) || g == "" || strings.Contains(g, ",") || !printable(g) || len(g) > maxGroupLen {
				t.Fatalf("bad group %q in %q", g, got)
			}
			seen[g] = true
		}
	})
}
