package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/identity"
)

const sidecarSource = `source:
  name: acme
  type: csi
  url: http://127.0.0.1:9850/api/license-monitor/v1?key=s3cr3t-link-key
`

const sidecarFull = sidecarSource + `auth:
  proxy:
    user_header: X-Forwarded-Email
    groups_header: X-Forwarded-Groups
    trusted_cidrs: [127.0.0.1/32, "10.1.2.0/24"]
roles:
  account_administrator: [view_monitor, terminate_sessions]
  license_monitor: [view_monitor]
  nothing: []
users:
  Alice: [account_administrator]
  nobody: [nothing]
groups:
  license-admins: [account_administrator]
default_roles: [license_monitor]
user_aliases:
  Bob: bob@acme.example
audit_log: audit.log
terminate:
  dry_run: true
  min_session_age: 5m
  rate_limit: {requests: 3, interval: 1h}
`

func TestLoadSidecarFull(t *testing.T) {
	dir := t.TempDir()
	cfg, err := LoadSidecar([]byte(sidecarFull), dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Users["Alice"]; len(got) != 1 || got[0] != "account_administrator" {
		t.Errorf("users are keyed by the exact identity; users[Alice] = %v", got)
	}
	if _, folded := cfg.Users["alice"]; folded {
		t.Error("users[alice] exists: identities must not be case-folded")
	}
	if got := cfg.UserAliases["Bob"]; !slices.Equal(got.All, []string{"bob@acme.example"}) || got.PerSource != nil {
		t.Errorf("user_aliases[Bob] = %+v", got)
	}
	if cfg.AuditLog != filepath.Join(dir, "audit.log") {
		t.Errorf("audit_log is resolved against the config's directory: %q", cfg.AuditLog)
	}
	if !cfg.Terminate.DryRun || time.Duration(cfg.Terminate.MinSessionAge) != 5*time.Minute {
		t.Errorf("terminate = %+v", cfg.Terminate)
	}
	if rl := cfg.Terminate.RateLimit; rl.Requests != 3 || time.Duration(rl.Interval) != time.Hour {
		t.Errorf("rate_limit = %+v", rl)
	}
	p := cfg.Auth.Proxy
	if p == nil || len(p.Trusted()) != 2 || p.Trusted()[1].String() != "10.1.2.0/24" {
		t.Fatalf("trusted CIDRs not parsed: %+v", p)
	}
	if csiOf(cfg.Source).APIURL() == "" || time.Duration(cfg.Source.Timeout) != DefaultTimeout {
		t.Errorf("the source block gets the exporter's defaults: %+v", cfg.Source)
	}
}

func TestLoadSidecarDefaults(t *testing.T) {
	cfg, err := LoadSidecar([]byte(sidecarSource+"roles: {r: [view_monitor]}\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AuditLog != "-" || cfg.Auth.Proxy != nil || cfg.Terminate.DryRun || len(cfg.DefaultRoles) != 0 {
		t.Errorf("defaults: audit_log %q, proxy %v, dry_run %v, default_roles %v", cfg.AuditLog, cfg.Auth.Proxy, cfg.Terminate.DryRun, cfg.DefaultRoles)
	}
	if rl := cfg.Terminate.RateLimit; rl.Requests != DefaultRateLimitRequests || time.Duration(rl.Interval) != DefaultRateLimitInterval {
		t.Errorf("rate_limit defaults: %+v", rl)
	}
	if iv := time.Duration(cfg.AuditSummaryInterval); iv != DefaultAuditSummaryInterval {
		t.Errorf("audit_summary_interval default: %s", iv)
	}
}

// twoSources is two sources under sources. They are both CSI here: this
// package links no other type in (internal/sidecar's tests load a CSI and
// a FlexLM source).
const twoSources = `sources:
  - name: csi-prod
    type: csi
    url: http://127.0.0.1:9850/api/license-monitor/v1?key=s3cr3t-link-key
  - name: flex-a
    type: csi
    url: http://127.0.0.1:9851/api/license-monitor/v1?key=s3cr3t-link-key
    timeout: 20s
`

func TestLoadSidecarSources(t *testing.T) {
	dir := t.TempDir()
	cfg, err := LoadSidecar([]byte(twoSources+`roles: {r: [view_monitor]}
user_aliases:
  alice: alice@acme.example
  bob: [bob@acme.example, bob]
  carol: {csi-prod: carol@acme.example, flex-a: [carol, cjones]}
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Sources) != 2 || cfg.Sources[0].Name != "csi-prod" || cfg.Sources[1].Name != "flex-a" {
		t.Fatalf("sources %+v", cfg.Sources)
	}
	if got := cfg.MaxTimeout(); got != 20*time.Second {
		t.Errorf("MaxTimeout %s, want the longer timeout 20s", got)
	}
	for _, c := range []struct {
		id, src string
		want    []string
	}{
		{"alice", "csi-prod", []string{"alice@acme.example"}},
		{"alice", "flex-a", []string{"alice@acme.example"}},
		{"bob", "flex-a", []string{"bob@acme.example", "bob"}},
		{"carol", "csi-prod", []string{"carol@acme.example"}},
		{"carol", "flex-a", []string{"carol", "cjones"}},
		{"dave", "flex-a", []string{"dave"}}, // no entry: the identity itself
	} {
		var a *Alias
		if e, ok := cfg.UserAliases[c.id]; ok {
			a = &e
		}
		if got := a.Names(c.id, c.src); !slices.Equal(got, c.want) {
			t.Errorf("%s on %s: %q, want %q", c.id, c.src, got, c.want)
		}
	}
	// A source the per-source form leaves out keeps the identity.
	one, err := LoadSidecar([]byte(twoSources+"roles: {r: [view_monitor]}\nuser_aliases: {erin: {flex-a: erin2}}\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	a := one.UserAliases["erin"]
	if got := a.Names("erin", "csi-prod"); !slices.Equal(got, []string{"erin"}) {
		t.Errorf("erin on csi-prod: %q, want the identity itself", got)
	}

	// The single form is the same as a list of one.
	single, err := LoadSidecar([]byte(sidecarSource+"roles: {r: [view_monitor]}\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(single.Sources) != 1 || single.Sources[0].Name != "acme" || single.Source.Name != "acme" {
		t.Errorf("source: becomes Sources[0]: %+v", single.Sources)
	}
}

// Each mistake is refused with a message that names it.
func TestLoadSidecarErrors(t *testing.T) {
	roles := "roles:\n  admin: [view_monitor, terminate_sessions]\n"
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"undefined role in users", sidecarSource + roles + "users:\n  alice: [administrator]\n",
			[]string{"users.alice", `undefined role "administrator"`, "admin"}},
		{"undefined role in groups", sidecarSource + roles + "groups:\n  ops: [ops]\n",
			[]string{"groups.ops", `undefined role "ops"`}},
		{"undefined default role", sidecarSource + roles + "default_roles: [license_monitor]\n",
			[]string{"default_roles", `undefined role "license_monitor"`}},
		{"unknown permission", sidecarSource + "roles:\n  admin: [view_monitor, terminate_session]\n",
			[]string{"roles.admin", `unknown permission "terminate_session"`, "view_monitor, terminate_sessions"}},
		{"bad CIDR", sidecarSource + roles + "auth:\n  proxy:\n    user_header: X-User\n    trusted_cidrs: [10.0.0/8]\n",
			[]string{"auth.proxy", "trusted_cidrs[0]", `"10.0.0/8" is not a CIDR`}},
		{"a bare address is not a CIDR", sidecarSource + roles + "auth:\n  proxy:\n    user_header: X-User\n    trusted_cidrs: [127.0.0.1/32, 10.0.0.1]\n",
			[]string{"trusted_cidrs[1]", `"10.0.0.1" is not a CIDR`}},
		{"trust everyone", sidecarSource + roles + "auth:\n  proxy:\n    user_header: X-User\n    trusted_cidrs: [0.0.0.0/0]\n",
			[]string{"trusted_cidrs[0]", "trusts every address"}},
		{"no trusted CIDRs", sidecarSource + roles + "auth:\n  proxy:\n    user_header: X-User\n",
			[]string{"auth.proxy", "trusted_cidrs is empty"}},
		{"no user header", sidecarSource + roles + "auth:\n  proxy:\n    trusted_cidrs: [127.0.0.1/32]\n",
			[]string{"auth.proxy", "user_header"}},
		{"header name with a space", sidecarSource + roles + "auth:\n  proxy:\n    user_header: X User\n    trusted_cidrs: [127.0.0.1/32]\n",
			[]string{`user_header "X User" is not a valid HTTP header name`}},
		{"unknown key", sidecarSource + roles + "termintae:\n  dry_run: true\n",
			[]string{`unknown key "termintae"`, "line 7"}},
		{"unknown key in terminate", sidecarSource + roles + "terminate:\n  dryrun: true\n",
			[]string{`unknown key "dryrun"`}},
		{"no source", roles, []string{"source", "needs a source block"}},
		{"no roles", sidecarSource, []string{"roles", "no roles"}},
		{"a look-alike user (KELVIN SIGN)", sidecarSource + roles + "users:\n  \u212Aate@acme.example: [admin]\n",
			[]string{"users", "PRECIS"}},
		{"a look-alike alias (LONG S)", sidecarSource + roles + "user_aliases:\n  ro\u017Fe: rose@acme.example\n",
			[]string{"user_aliases", "PRECIS"}},
		{"a user with a space", sidecarSource + roles + "users:\n  \"kate \": [admin]\n",
			[]string{"users", "PRECIS"}},
		{"empty alias", sidecarSource + roles + "user_aliases:\n  bob: \"\"\n",
			[]string{"user_aliases.bob", "empty"}},
		{"bad source", "source:\n  name: acme\n  type: nosuchmanager\n  url: http://x\n" + roles,
			[]string{"source", `type "nosuchmanager" is not supported`}},
		{"negative rate limit", sidecarSource + roles + "terminate:\n  rate_limit: {requests: -1}\n",
			[]string{"terminate.rate_limit", "positive"}},
		{"source and sources", sidecarSource + twoSources + roles,
			[]string{"source and sources are both set"}},
		{"empty sources", "sources: []\n" + roles, []string{"sources", "needs a source block"}},
		{"duplicate source name", twoSources + "  - {name: csi-prod, type: csi, url: http://x}\n" + roles,
			[]string{"sources[2]", `name "csi-prod" is used twice`}},
		{"bad source in the list", twoSources + "  - {name: flex-b, type: csi}\n" + roles,
			[]string{"sources[2]", `"flex-b"`, "url"}},
		{"unknown key in a listed source", twoSources + "    license_server: 27000@x\n" + roles,
			[]string{`unknown key "license_server"`}},
		{"alias for an unknown source", twoSources + roles + "user_aliases:\n  bob: {flex-b: bob}\n",
			[]string{"user_aliases.bob", `"flex-b" is not a configured source`, "csi-prod", "flex-a"}},
		{"empty alias list", twoSources + roles + "user_aliases:\n  bob: []\n",
			[]string{"user_aliases.bob", "empty"}},
		{"empty per-source alias", twoSources + roles + "user_aliases:\n  bob: {flex-a: []}\n",
			[]string{"user_aliases.bob", "flex-a", "empty"}},
		{"alias listed twice", twoSources + roles + "user_aliases:\n  bob: [bob, bob]\n",
			[]string{"user_aliases.bob", `"bob" is listed twice`}},
		{"alias with a control character", twoSources + roles + "user_aliases:\n  bob: \"b\\tob\"\n",
			[]string{"user_aliases.bob", "control characters"}},
		{"alias of a wrong shape", twoSources + roles + "user_aliases:\n  bob: {flex-a: {x: y}}\n",
			[]string{"user_aliases", "upstream user name"}},
		{"audit summary interval too short", sidecarSource + roles + "audit_summary_interval: 10ms\n",
			[]string{"audit_summary_interval", "1s to 1h"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadSidecar([]byte(c.yaml), t.TempDir())
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cr3t-link-key") {
				t.Errorf("error shows the secret link: %q", err)
			}
		})
	}
}

func TestLoadSidecarFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "license_sidecar.yml")
	if err := os.WriteFile(p, []byte(sidecarSource+"roles: {r: [nope]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadSidecarFile(p)
	if err == nil || !strings.HasPrefix(err.Error(), p+": ") || !strings.Contains(err.Error(), `unknown permission "nope"`) {
		t.Errorf("the error names the file and the mistake: %v", err)
	}
	if _, err := LoadSidecarFile(filepath.Join(dir, "missing.yml")); err == nil {
		t.Error("a missing file is accepted")
	}
}

// FuzzLoadSidecar: any input either loads into a config that holds the
// invariants the sidecar relies on, or is refused; it never panics.
func FuzzLoadSidecar(f *testing.F) {
	f.Add([]byte(sidecarFull))
	f.Add([]byte(sidecarSource + "roles: {r: [view_monitor]}\n"))
	f.Add([]byte(sidecarSource + "roles: {r: [view_monitor]}\nauth: {proxy: {user_header: X-U, trusted_cidrs: [\"::1/128\"]}}\n"))
	f.Add([]byte(sidecarSource + "roles: {r: [view_monitor]}\nusers: {A: [r], a: [r]}\n"))
	f.Add([]byte("roles: [1, 2]\n"))
	f.Add([]byte("source: {name: x, type: csi, url: 'http://h'}\nroles: {r: [view_monitor]}\nterminate: {min_session_age: -1s}\n"))
	f.Add([]byte(":\n- {"))
	f.Add([]byte(twoSources + "roles: {r: [view_monitor]}\nuser_aliases: {bob: [bob, b2], carol: {flex-a: c}}\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := LoadSidecar(b, dir)
		if err != nil {
			return
		}
		for role, perms := range cfg.Roles {
			for _, p := range perms {
				if p != PermViewMonitor && p != PermTerminateSessions {
					t.Fatalf("role %q kept unknown permission %q", role, p)
				}
			}
		}
		check := func(roles []string) {
			for _, r := range roles {
				if _, ok := cfg.Roles[r]; !ok {
					t.Fatalf("undefined role %q accepted", r)
				}
			}
		}
		check(cfg.DefaultRoles)
		for k, rs := range cfg.Users {
			if identity.Check(k) != nil {
				t.Fatalf("users key %q is not an exact identity", k)
			}
			check(rs)
		}
		for _, rs := range cfg.Groups {
			check(rs)
		}
		if p := cfg.Auth.Proxy; p != nil {
			if len(p.Trusted()) == 0 || len(p.Trusted()) != len(p.TrustedCIDRs) {
				t.Fatalf("proxy without parsed trusted CIDRs: %+v", p)
			}
			for _, pfx := range p.Trusted() {
				if pfx.Bits() == 0 {
					t.Fatalf("a /0 was accepted")
				}
			}
		}
		if cfg.Terminate.RateLimit.Requests <= 0 || cfg.Terminate.RateLimit.Interval <= 0 || cfg.Terminate.MinSessionAge < 0 {
			t.Fatalf("bad terminate settings accepted: %+v", cfg.Terminate)
		}
		if cfg.AuditLog == "" {
			t.Fatal("empty audit_log")
		}
		names := map[string]bool{}
		for _, s := range cfg.Sources {
			if names[s.Name] || s.Spec == nil {
				t.Fatalf("source %q twice or without its keys", s.Name)
			}
			names[s.Name] = true
		}
		if len(names) == 0 {
			t.Fatal("a config without sources was accepted")
		}
		for k, a := range cfg.UserAliases {
			for src, ns := range a.PerSource {
				if !names[src] || len(ns) == 0 {
					t.Fatalf("user_aliases.%s: source %q or its names %q accepted", k, src, ns)
				}
			}
			if a.PerSource == nil && len(a.All) == 0 {
				t.Fatalf("user_aliases.%s: no names accepted", k)
			}
		}
	})
}
