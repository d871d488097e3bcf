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
	WhyCheckedOut     = "checked_out" // CSI: checked out; FlexLM: borrowed
	WhyNotCloudSignIn = "not_cloud_sign_in"
	WhyNotFloating    = "not_floating" // FlexLM: node-locked or uncounted
	WhyTooYoung       = "too_young"
	WhyNotYours       = "not_yours"
	WhyNoPermission   = "no_permission"
	// WhyNotTerminable: a type the sidecar has no words for refused.
	WhyNotTerminable = "not_terminable"
)

// Source types the sidecar words its refusals for.
const (
	typeCSI    = "csi"
	typeFlexLM = "flexlm"
)

// Policy is the authorization part of the config: deny by default.
type Policy struct {
	perms    map[string][]string // role -> permissions
	users    map[string][]string // identity -> roles
	groups   map[string][]string // proxy group -> roles
	defaults []string
	aliases  map[string]config.Alias // identity -> upstream names
	minAge   time.Duration
	sources  map[string]policySource // by source name
}

// policySource is what the policy knows of one source: its type, for the
// wording, and what the source itself refuses to end.
type policySource struct {
	typ  string
	term source.Terminator
}

// NewPolicy builds a Policy from a validated config and its sources, by
// name; every configured source must be there.
func NewPolicy(c *config.Sidecar, srcs map[string]source.Terminator) *Policy {
	p := &Policy{
		perms:    c.Roles,
		users:    c.Users,
		groups:   c.Groups,
		defaults: c.DefaultRoles,
		aliases:  c.UserAliases,
		minAge:   time.Duration(c.Terminate.MinSessionAge),
		sources:  map[string]policySource{},
	}
	for i := range c.Sources {
		s := &c.Sources[i]
		p.sources[s.Name] = policySource{typ: s.Type, term: srcs[s.Name]}
	}
	return p
}

// Grant is what an identity may do.
type Grant struct {
	Roles     []string
	View      bool // view_monitor
	Terminate bool // terminate_sessions (anyone's session)

	identity string
	alias    *config.Alias // nil without a user_aliases entry
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
	g := Grant{Roles: roles, identity: id.Name}
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
		g.alias = &a
	}
	return g
}

// UpstreamNames are the upstream users that are the identity on source
// src: its user_aliases entry for that source, or the identity itself.
func (g *Grant) UpstreamNames(src string) []string {
	return g.alias.Names(g.identity, src)
}

// Owns reports whether sess, a session of source src, belongs to the
// identity behind g: byte for byte, never case-folded.
func (g *Grant) Owns(src string, sess *source.Session) bool {
	return slices.Contains(g.UpstreamNames(src), sess.User)
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
// source's Terminable predicted it, to the Why the page and JSON show,
// which depends on the source's type.
func whyNotTerminable(code, typ string) string {
	switch {
	case code == source.CodeCheckedOut:
		return WhyCheckedOut
	case typ == typeCSI:
		return WhyNotCloudSignIn
	case typ == typeFlexLM:
		return WhyNotFloating
	}
	return WhyNotTerminable
}

// notTerminableReason is the sentence for a session its source will not
// end, worded for the source's type.
func notTerminableReason(why, typ, licenseType string) string {
	t := licenseType
	if t == "" {
		t = "unknown"
	}
	switch why {
	case WhyCheckedOut:
		if typ == typeFlexLM {
			return "the seat is borrowed; a borrowed FlexLM seat lives on the user's machine and cannot be removed with lmremove"
		}
		return "the session is checked out; checked-out licenses cannot be terminated remotely"
	case WhyNotCloudSignIn:
		return fmt.Sprintf("the session's license is %s, not cloud_sign_in; only Cloud Sign-in sessions can be terminated", t)
	case WhyNotFloating:
		return fmt.Sprintf("the session's license is %s, not floating; only floating FlexLM checkouts can be removed with lmremove", t)
	}
	return fmt.Sprintf("the session's license (%s) cannot be terminated remotely", t)
}

// Decide applies "Who may do what" (docs/architecture.md) to a session of
// source src read fresh from upstream. What the source forbids (checked
// out or borrowed, a type it cannot end) and what the config forbids (too
// young) comes first and is the same for everyone; then ownership and
// permissions. An unknown source ends nothing.
func (p *Policy) Decide(g *Grant, src string, sess *source.Session, licenseType string, now time.Time) Verdict {
	ps, known := p.sources[src]
	ok, code := false, source.CodeNotTerminable
	if known && ps.term != nil {
		ok, code = ps.term.Terminable(sess, licenseType)
	}
	if !ok {
		why := whyNotTerminable(code, ps.typ)
		return Verdict{Status: http.StatusConflict, Outcome: OutcomeNotTerminable, Why: why,
			Reason: notTerminableReason(why, ps.typ, licenseType)}
	}
	if age := now.Sub(sess.StartedAt); p.minAge > 0 && age < p.minAge {
		return Verdict{Status: http.StatusConflict, Outcome: OutcomeNotTerminable, Why: WhyTooYoung,
			Reason: fmt.Sprintf("the session started less than terminate.min_session_age (%s) ago", p.minAge)}
	}
	if g.Owns(src, sess) {
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
