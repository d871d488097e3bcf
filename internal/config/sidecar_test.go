package config

import (
	"os"
	"path/filepath"
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
	if got := cfg.UserAliases["Bob"]; got != "bob@acme.example" {
		t.Errorf("user_aliases[Bob] = %q", got)
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
	})
}
