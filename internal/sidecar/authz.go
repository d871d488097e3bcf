package sidecar

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/source"
)

// Outcomes of a terminate request: the `outcome` label of
// license_sidecar_terminations_total and the audit line's outcome.
const (
	OutcomeTerminated      = "terminated"
	OutcomeDryRun          = "dry_run"
	OutcomeDenied          = "denied"
	OutcomeNotTerminable   = "not_terminable"
	OutcomeNotFound        = "not_found"
	OutcomeRateLimited     = "rate_limited"
	OutcomeUpstreamError   = "upstream_error"
	OutcomeUnauthenticated = "unauthenticated"
	OutcomeCrossOrigin     = "cross_origin"
	OutcomeBadRequest      = "bad_request"
	// OutcomeAuditFailed: allowed, but the attempt line could not be
	// written, so upstream was not called (503).
	OutcomeAuditFailed = "audit_failed"
)

// Outcomes lists every outcome, so the counter starts at 0 for each.
var Outcomes = []string{
	OutcomeTerminated, OutcomeDryRun, OutcomeDenied, OutcomeNotTerminable,
	OutcomeNotFound, OutcomeRateLimited, OutcomeUpstreamError,
	OutcomeUnauthenticated, OutcomeCrossOrigin, OutcomeBadRequest, OutcomeAuditFailed,
}

// Why a session cannot be terminated, as the page and the JSON show it.
const (
	WhyCheckedOut     = "checked_out"
	WhyNotCloudSignIn = "not_cloud_sign_in"
	WhyTooYoung       = "too_young"
	WhyNotYours       = "not_yours"
	WhyNoPermission   = "no_permission"
)

// Policy is the authorization part of the config: deny by default.
type Policy struct {
	perms    map[string][]string // role -> permissions
	users    map[string][]string // lower-cased identity -> roles
	groups   map[string][]string // proxy group -> roles
	defaults []string
	aliases  map[string]string // lower-cased identity -> upstream user
	minAge   time.Duration
	src      source.Terminator // what the source itself refuses to end
}

// NewPolicy builds a Policy from a validated config and its source.
func NewPolicy(c *config.Sidecar, src source.Terminator) *Policy {
	return &Policy{
		perms:    c.Roles,
		users:    c.Users,
		groups:   c.Groups,
		defaults: c.DefaultRoles,
		aliases:  c.UserAliases,
		minAge:   time.Duration(c.Terminate.MinSessionAge),
		src:      src,
	}
}

// Grant is what an identity may do.
type Grant struct {
	Roles     []string
	View      bool // view_monitor
	Terminate bool // terminate_sessions (anyone's session)
	Upstream  string
}

// GrantOf resolves an identity's roles (default_roles, users, groups) and
// permissions.
func (p *Policy) GrantOf(id Identity) Grant {
	var roles []string
	add := func(rs []string) {
		for _, r := range rs {
			if !slices.Contains(roles, r) {
				roles = append(roles, r)
			}
		}
	}
	// Exact bytes: identify admitted only names the PRECIS profile leaves
	// unchanged, and config keys passed the same check.
	key := id.Name
	add(p.defaults)
	add(p.users[key])
	for _, g := range id.Groups {
		add(p.groups[g])
	}
	slices.Sort(roles)
	g := Grant{Roles: roles, Upstream: id.Name}
	if roles == nil {
		g.Roles = []string{}
	}
	for _, r := range roles {
		for _, perm := range p.perms[r] {
			switch perm {
			case config.PermViewMonitor:
				g.View = true
			case config.PermTerminateSessions:
				g.Terminate = true
			}
		}
	}
	if a, ok := p.aliases[key]; ok {
		g.Upstream = a
	}
	return g
}

// Owns reports whether sess belongs to the identity behind g.
func (g *Grant) Owns(sess *source.Session) bool {
	return sess.User == g.Upstream
}

// Verdict is a decision about one session.
type Verdict struct {
	Allowed bool
	Status  int    // HTTP status when refused
	Outcome string // when refused
	Why     string // a Why* code when refused
	Reason  string // a sentence for people
}

// whyNotTerminable maps a 409 code, whether upstream sent it or the
// source's Terminable predicted it, to the Why the page and JSON show.
func whyNotTerminable(code string) string {
	if code == source.CodeCheckedOut {
		return WhyCheckedOut
	}
	return WhyNotCloudSignIn
}

// Decide applies "Who may do what" (docs/architecture.md) to a session
// read fresh from upstream. What upstream forbids (checked out, not Cloud
// Sign-in) and what the config forbids (too young) comes first and is the
// same for everyone; then ownership and permissions.
func (p *Policy) Decide(g *Grant, sess *source.Session, licenseType string, now time.Time) Verdict {
	if ok, code := p.src.Terminable(sess, licenseType); !ok {
		why := whyNotTerminable(code)
		if why == WhyCheckedOut {
			return Verdict{Status: http.StatusConflict, Outcome: OutcomeNotTerminable, Why: why,
				Reason: "the session is checked out; checked-out licenses cannot be terminated remotely"}
		}
		t := licenseType
		if t == "" {
			t = "unknown"
		}
		return Verdict{Status: http.StatusConflict, Outcome: OutcomeNotTerminable, Why: why,
			Reason: fmt.Sprintf("the session's license is %s, not cloud_sign_in; only Cloud Sign-in sessions can be terminated", t)}
	}
	if age := now.Sub(sess.StartedAt); p.minAge > 0 && age < p.minAge {
		return Verdict{Status: http.StatusConflict, Outcome: OutcomeNotTerminable, Why: WhyTooYoung,
			Reason: fmt.Sprintf("the session started less than terminate.min_session_age (%s) ago", p.minAge)}
	}
	if g.Owns(sess) {
		if g.View || g.Terminate {
			return Verdict{Allowed: true, Reason: "own session"}
		}
		return Verdict{Status: http.StatusForbidden, Outcome: OutcomeDenied, Why: WhyNoPermission,
			Reason: "terminating your own session needs view_monitor"}
	}
	if g.Terminate {
		return Verdict{Allowed: true, Reason: "terminate_sessions permission"}
	}
	return Verdict{Status: http.StatusForbidden, Outcome: OutcomeDenied, Why: WhyNotYours,
		Reason: "the session belongs to someone else; that needs terminate_sessions"}
}
