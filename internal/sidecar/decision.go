package sidecar

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/source"
)

// A terminate request is decided here without I/O; terminate.go does the
// authentication, limits, upstream calls and the answer around it.

// step is what the handler does after a verdict.
type step int

const (
	stepAnswer    step = iota // answer and audit the verdict
	stepRead                  // read upstream, then decide again with the snapshot
	stepTerminate             // call upstream terminate, then map the result with afterTerminate
)

// verdict is a terminate request's result: the answer's status and body,
// and the audit line's fields that depend on the decision.
type verdict struct {
	next       step
	status     int
	allow      bool // the audit line's decision
	outcome    string
	why        string // a Why* code, for refusals
	reason     string // the audit line's reason
	answer     string // the answer's reason when it is not reason
	owner      string // the session's upstream user, once read
	session    string // the upstream id to terminate (stepTerminate)
	upstream   string // the audit line's upstream result; "" is not_called
	retryAfter string // the Retry-After header; "" for none
}

// route is what the URL's source came to.
type route int

const (
	routeOK            route = iota // source names a configured source
	routeUnknownSource              // the URL names no configured source
	routeAmbiguous                  // the path without a source, with several configured
)

// terminateInput is everything a decision depends on.
type terminateInput struct {
	policy  *Policy
	grant   *Grant
	route   route
	source  string           // the configured source's name (routeOK)
	session string           // the id from the URL, cleaned; "" if unusable
	snap    *source.Snapshot // nil until upstream is read
	dryRun  bool
	now     time.Time
}

func refusal(status int, outcome, why, reason string) verdict {
	return verdict{status: status, outcome: outcome, why: why, reason: reason}
}

// decide decides a terminate request. Without a snapshot it refuses what
// can be refused before reading upstream, or asks for the read.
func decide(in terminateInput) verdict {
	// Nobody without a permission learns whether a session exists, and
	// upstream is not read for them.
	if !in.grant.View && !in.grant.Terminate {
		return refusal(http.StatusForbidden, OutcomeDenied, WhyNoPermission, "your roles grant neither view_monitor nor terminate_sessions")
	}
	switch in.route {
	case routeAmbiguous:
		return refusal(http.StatusBadRequest, OutcomeBadRequest, "",
			"several sources are configured, so the path must name one: POST "+sourceTerminatePath)
	case routeUnknownSource:
		return refusal(http.StatusNotFound, OutcomeNotFound, "", "no such source")
	}
	if in.session == "" {
		return refusal(http.StatusNotFound, OutcomeNotFound, "", "no such session")
	}
	// The session and its owner come from upstream, never from the request.
	if in.snap == nil {
		return verdict{next: stepRead}
	}
	sess, licType := findSession(in.snap, in.session)
	if sess == nil {
		return refusal(http.StatusNotFound, OutcomeNotFound, "", "no such session (it may have ended)")
	}
	pv := in.policy.Decide(in.grant, in.source, sess, licType, in.now)
	if !pv.Allowed {
		v := refusal(pv.Status, pv.Outcome, pv.Why, pv.Reason)
		v.owner = sess.User
		return v
	}
	if in.dryRun {
		return verdict{status: http.StatusOK, allow: true, outcome: OutcomeDryRun, owner: sess.User,
			reason: pv.Reason + "; dry run, upstream not called", answer: "dry run: the session would have been terminated"}
	}
	return verdict{next: stepTerminate, allow: true, reason: pv.Reason, owner: sess.User, session: sess.ID}
}

// afterTerminate is the verdict after the upstream terminate call of a
// source of type typ: the one place where its error becomes an answer. An
// allowed request that fails upstream stays "allow" in the audit.
func afterTerminate(v verdict, err error, typ string) verdict {
	v.next = stepAnswer
	if err == nil {
		v.status, v.outcome, v.upstream = http.StatusOK, OutcomeTerminated, "accepted"
		v.answer = "terminated: the software closes on the user's machine"
		return v
	}
	v.upstream = upstreamResult(err)
	var ue *source.Error
	errors.As(err, &ue)
	switch {
	case ue != nil && ue.Status == http.StatusNotFound:
		v.status, v.outcome, v.reason = http.StatusNotFound, OutcomeNotFound, "upstream no longer knows the session (it has ended)"
	case ue != nil && ue.Status == http.StatusConflict:
		v.status, v.outcome, v.why = http.StatusConflict, OutcomeNotTerminable, whyNotTerminable(ue.Code, typ)
		v.reason = "upstream refused: the session is not terminable (" + ue.Code + ")"
	default:
		v.status, v.outcome = http.StatusBadGateway, OutcomeUpstreamError
		v.reason = "the upstream terminate call failed: " + upstreamResult(err)
		if ue != nil && ue.Reason == source.ReasonTimeout {
			v.reason += "; the session may or may not have ended, check the monitor before trying again"
		}
		if ra := source.RetryAfterOf(err); ra > 0 {
			v.retryAfter = strconv.Itoa(int(ra.Seconds()))
		}
	}
	return v
}

// auditUnavailable is the verdict when the attempt line of an allowed
// terminate cannot be written: upstream is not called, so no termination
// goes unaudited. The decision stays allow.
func auditUnavailable(v verdict) verdict {
	v.next, v.status, v.outcome, v.session = stepAnswer, http.StatusServiceUnavailable, OutcomeAuditFailed, ""
	v.reason = "the audit log cannot be written, so upstream was not called"
	v.answer = "the audit log cannot be written; the session was not terminated, try again later"
	v.upstream = UpstreamNotCalled
	return v
}

// readFailed is the verdict when upstream cannot be read to decide.
func readFailed(err error) verdict {
	v := refusal(http.StatusBadGateway, OutcomeUpstreamError, "", "cannot read the session from upstream: "+upstreamResult(err))
	v.upstream = "read failed: " + upstreamResult(err)
	return v
}

// bodyTooLarge refuses a request with a body: the API takes none.
func bodyTooLarge() verdict {
	return refusal(http.StatusRequestEntityTooLarge, OutcomeBadRequest, "",
		fmt.Sprintf("the request body is over %d bytes; this API takes none", maxBodyBytes))
}

// rateLimited refuses a caller over terminate.rate_limit and says when a
// token is back.
func rateLimited(rl config.RateLimit) verdict {
	v := refusal(http.StatusTooManyRequests, OutcomeRateLimited, "", fmt.Sprintf("more than %d terminate requests per %s", rl.Requests, rl.Interval))
	v.retryAfter = strconv.Itoa(max(1, int(time.Duration(rl.Interval).Seconds())/max(1, rl.Requests)))
	return v
}

// findSession returns the session with id and its license's type ("" if
// the license is not listed, which makes it not terminable).
func findSession(snap *source.Snapshot, id string) (*source.Session, string) {
	for i := range snap.Sessions {
		if snap.Sessions[i].ID == id {
			sess := &snap.Sessions[i]
			for j := range snap.Licenses {
				if snap.Licenses[j].ID == sess.LicenseID {
					return sess, snap.Licenses[j].Type
				}
			}
			return sess, ""
		}
	}
	return nil, ""
}
