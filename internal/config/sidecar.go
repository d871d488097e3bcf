package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/license-monitor/license-monitor/internal/identity"

	"github.com/prometheus/common/model"
)

// The permissions a sidecar role can grant.
const (
	PermViewMonitor       = "view_monitor"
	PermTerminateSessions = "terminate_sessions"
)

// Permissions lists every known permission.
var Permissions = []string{PermViewMonitor, PermTerminateSessions}

// Sidecar defaults.
const (
	DefaultAuditLog          = "-"
	DefaultRateLimitRequests = 10
	DefaultRateLimitInterval = time.Minute
	// DefaultAuditSummaryInterval is how long repeated refusals of one
	// identity and reason are counted before their summary line.
	DefaultAuditSummaryInterval = time.Minute
)

// Sidecar is license_sidecar's configuration file.
type Sidecar struct {
	// Source is the single-source form; Sources the list. Exactly one of
	// them is set in a file; after validation Sources holds every source,
	// in the file's order, whichever form was used.
	Source       Source              `yaml:"source,omitempty"`
	Sources      []Source            `yaml:"sources,omitempty"`
	Auth         SidecarAuth         `yaml:"auth,omitempty"`
	Roles        map[string][]string `yaml:"roles"`
	Users        map[string][]string `yaml:"users,omitempty"`
	Groups       map[string][]string `yaml:"groups,omitempty"`
	DefaultRoles []string            `yaml:"default_roles,omitempty"`
	UserAliases  map[string]Alias    `yaml:"user_aliases,omitempty"`
	AuditLog     string              `yaml:"audit_log,omitempty"`
	// AuditSummaryInterval: within it, a refusal of the same identity and
	// reason is counted, not written; see docs/architecture.md#audit-line.
	AuditSummaryInterval model.Duration `yaml:"audit_summary_interval,omitempty"`
	Terminate            Terminate      `yaml:"terminate,omitempty"`
}

// SidecarAuth holds the optional identity sources beside basic auth.
type SidecarAuth struct {
	Proxy *ProxyAuth `yaml:"proxy,omitempty"`
}

// ProxyAuth takes the caller's identity from headers set by a trusted
// reverse proxy (oauth2-proxy and the like).
type ProxyAuth struct {
	UserHeader   string   `yaml:"user_header"`
	GroupsHeader string   `yaml:"groups_header,omitempty"`
	TrustedCIDRs []string `yaml:"trusted_cidrs"`
	// GroupsHeaderRepeated accepts several groups headers (oauth2-proxy
	// sends one per group). Off by default: a proxy that appends rather
	// than overwrites would let a client's own copy add a group.
	GroupsHeaderRepeated bool `yaml:"groups_header_repeated,omitempty"`

	trusted []netip.Prefix
}

// Trusted is TrustedCIDRs, parsed.
func (p *ProxyAuth) Trusted() []netip.Prefix { return p.trusted }

// Terminate tunes the terminate action.
type Terminate struct {
	DryRun        bool           `yaml:"dry_run,omitempty"`
	MinSessionAge model.Duration `yaml:"min_session_age,omitempty"`
	RateLimit     RateLimit      `yaml:"rate_limit,omitempty"`
}

// RateLimit allows each identity Requests terminate requests per Interval
// (a token bucket: a burst of Requests, refilled over Interval).
type RateLimit struct {
	Requests int            `yaml:"requests,omitempty"`
	Interval model.Duration `yaml:"interval,omitempty"`
}

// LoadSidecarFile reads and validates the sidecar's config file.
func LoadSidecarFile(path string) (*Sidecar, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := LoadSidecar(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// LoadSidecar parses and validates a sidecar config; dir resolves relative
// files. Every error names the key and the mistake.
func LoadSidecar(b []byte, dir string) (*Sidecar, error) {
	var cfg Sidecar
	if err := UnmarshalStrict(b, &cfg); err != nil {
		return nil, err
	}
	if err := cfg.validate(dir); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func (c *Sidecar) validate(dir string) error {
	if err := c.validateSources(dir); err != nil {
		return err
	}
	if c.AuditLog == "" {
		c.AuditLog = DefaultAuditLog
	}
	if c.AuditLog != "-" && !filepath.IsAbs(c.AuditLog) {
		c.AuditLog = filepath.Join(dir, c.AuditLog)
	}
	switch iv := time.Duration(c.AuditSummaryInterval); {
	case iv == 0:
		c.AuditSummaryInterval = model.Duration(DefaultAuditSummaryInterval)
	case iv < time.Second || iv > time.Hour:
		return fmt.Errorf("audit_summary_interval: %s is outside 1s to 1h", iv)
	}

	if len(c.Roles) == 0 {
		return errors.New("roles: no roles are defined, so nobody could do anything")
	}
	for _, role := range sortedKeys(c.Roles) {
		if strings.TrimSpace(role) == "" {
			return errors.New("roles: a role has an empty name")
		}
		for _, p := range c.Roles[role] {
			if !slices.Contains(Permissions, p) {
				return fmt.Errorf("roles.%s: unknown permission %q (known: %s)", role, p, strings.Join(Permissions, ", "))
			}
		}
	}
	checkRoles := func(where string, roles []string) error {
		for _, r := range roles {
			if _, ok := c.Roles[r]; !ok {
				return fmt.Errorf("%s: undefined role %q (defined: %s)", where, r, strings.Join(sortedKeys(c.Roles), ", "))
			}
		}
		return nil
	}
	if err := checkRoles("default_roles", c.DefaultRoles); err != nil {
		return err
	}
	// Identities are compared byte for byte (internal/identity): a key the
	// PRECIS profile would change could never match a caller, or would match
	// a look-alike, so it is refused here rather than ignored.
	if err := checkIdentityKeys("users", c.Users); err != nil {
		return err
	}
	for _, u := range sortedKeys(c.Users) {
		if err := checkRoles("users."+u, c.Users[u]); err != nil {
			return err
		}
	}
	for _, g := range sortedKeys(c.Groups) {
		if strings.TrimSpace(g) == "" {
			return errors.New("groups: a group has an empty name")
		}
		if err := checkRoles("groups."+g, c.Groups[g]); err != nil {
			return err
		}
	}
	if err := checkIdentityKeys("user_aliases", c.UserAliases); err != nil {
		return err
	}
	for _, k := range sortedKeys(c.UserAliases) {
		a := c.UserAliases[k]
		if err := a.validate(c.Sources); err != nil {
			return fmt.Errorf("user_aliases.%s: %w", k, err)
		}
	}

	if p := c.Auth.Proxy; p != nil {
		if err := p.validate(); err != nil {
			return fmt.Errorf("auth.proxy: %w", err)
		}
	}

	if c.Terminate.MinSessionAge < 0 {
		return fmt.Errorf("terminate.min_session_age %s is negative", c.Terminate.MinSessionAge)
	}
	rl := &c.Terminate.RateLimit
	if rl.Requests == 0 {
		rl.Requests = DefaultRateLimitRequests
	}
	if rl.Interval == 0 {
		rl.Interval = model.Duration(DefaultRateLimitInterval)
	}
	if rl.Requests < 0 || rl.Interval < 0 {
		return fmt.Errorf("terminate.rate_limit: requests (%d) and interval (%s) must be positive", rl.Requests, rl.Interval)
	}
	return nil
}

// validateSources checks source or sources and leaves every source in
// Sources.
func (c *Sidecar) validateSources(dir string) error {
	single := c.Source.Name != "" || c.Source.Type != "" || c.Source.Spec != nil
	switch {
	case single && c.Sources != nil:
		return errors.New("source and sources are both set: use sources (a list) for several sources, or source for one")
	case single:
		if err := c.Source.Validate(dir); err != nil {
			return fmt.Errorf("source (%q): %w", c.Source.Name, err)
		}
		c.Sources = []Source{c.Source}
		return nil
	case len(c.Sources) == 0:
		return errors.New("sources: the config needs a source block (name, type and the type's keys) under source, or a list of them under sources")
	}
	seen := map[string]bool{}
	for i := range c.Sources {
		s := &c.Sources[i]
		if err := s.Validate(dir); err != nil {
			if !sourceNameRE.MatchString(s.Name) {
				return fmt.Errorf("sources[%d]: %w", i, err)
			}
			return fmt.Errorf("sources[%d] (%q): %w", i, s.Name, err)
		}
		if seen[s.Name] {
			return fmt.Errorf("sources[%d]: name %q is used twice; names must be unique", i, s.Name)
		}
		seen[s.Name] = true
	}
	return nil
}

// MaxTimeout is the longest timeout of the sources: a terminate reads one
// source and then calls it.
func (c *Sidecar) MaxTimeout() time.Duration {
	var m time.Duration
	for i := range c.Sources {
		m = max(m, time.Duration(c.Sources[i].Timeout))
	}
	return m
}

func (p *ProxyAuth) validate() error {
	if !validHeaderName(p.UserHeader) {
		return fmt.Errorf("user_header %q is not a valid HTTP header name", p.UserHeader)
	}
	if p.GroupsHeader != "" && !validHeaderName(p.GroupsHeader) {
		return fmt.Errorf("groups_header %q is not a valid HTTP header name", p.GroupsHeader)
	}
	if strings.EqualFold(p.UserHeader, p.GroupsHeader) {
		return errors.New("user_header and groups_header must differ")
	}
	if len(p.TrustedCIDRs) == 0 {
		return errors.New("trusted_cidrs is empty: the proxy headers would be honoured from nowhere; list the proxy's addresses")
	}
	p.trusted = p.trusted[:0]
	for i, s := range p.TrustedCIDRs {
		pfx, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("trusted_cidrs[%d]: %q is not a CIDR (for example 10.0.0.0/8 or 127.0.0.1/32)", i, s)
		}
		if pfx.Bits() == 0 {
			return fmt.Errorf("trusted_cidrs[%d]: %q trusts every address, so anyone could claim any identity", i, s)
		}
		p.trusted = append(p.trusted, pfx.Masked())
	}
	return nil
}

// validHeaderName accepts RFC 9110 token characters.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}

// checkIdentityKeys refuses a map key that is not an exact identity.
func checkIdentityKeys[V any](where string, m map[string]V) error {
	for _, k := range sortedKeys(m) {
		if err := identity.CheckKey(where, k); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
