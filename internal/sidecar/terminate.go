package sidecar

import (
	"context"
	"io"
	"net"
	"net/http"

	"github.com/license-monitor/license-monitor/source"
)

// terminateAnswer is the JSON body of every terminate answer.
type terminateAnswer struct {
	Session string `json:"session,omitempty"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
	Why     string `json:"why,omitempty"`
	DryRun  bool   `json:"dry_run"`
}

// serveTerminate is POST /api/v1/sessions/{id}/terminate. It does the HTTP
// part: identity, body and rate limits, the answer; every answer is audited.
func (s *Server) serveTerminate(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	now := s.now()
	rec := AuditRecord{Session: cleanID(r.PathValue("id")), Remote: remoteHost(r), Upstream: UpstreamNotCalled, DryRun: st.cfg.Terminate.DryRun}
	id, err := s.caller(r, st)
	if err != nil {
		rec.Decision, rec.Outcome, rec.Reason = DecisionDeny, OutcomeUnauthenticated, err.Error()
		s.record(rec)
		s.unauthorized(w, err)
		return
	}
	grant := st.policy.GrantOf(id)
	rec.Identity, rec.IdentitySource, rec.Roles = id.Name, id.Source, grant.Roles

	var v verdict
	switch {
	// The API takes no body; a large one is refused before any work.
	case !bodyWithin(w, r, maxBodyBytes):
		v = bodyTooLarge()
	case !s.limiter.allow(id.Name, now):
		v = rateLimited(st.cfg.Terminate.RateLimit)
	default:
		v = s.terminate(r.Context(), st, terminateInput{
			policy: st.policy, grant: &grant, session: rec.Session, dryRun: st.cfg.Terminate.DryRun, now: now,
		})
	}
	s.answer(w, rec, v)
}

// terminate does the upstream I/O around decide: the read it asks for,
// then the terminate call it allows.
func (s *Server) terminate(ctx context.Context, st *state, in terminateInput) verdict {
	v := decide(in)
	if v.next == stepRead {
		// Fresh, not shared with views: the decision rests on this read.
		rctx, cancel := context.WithTimeout(ctx, st.timeout)
		snap, err := source.ReadAll(rctx, st.src)
		cancel()
		if err != nil {
			s.upstreamFailed(err)
			return readFailed(err)
		}
		in.snap = snap
		v = decide(in)
	}
	if v.next != stepTerminate {
		return v
	}
	// Sent once, and finished even if the caller leaves: terminate is not
	// idempotent, and a retry after a timeout could act twice or on a
	// changed session. The caller decides.
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), st.timeout)
	err := st.src.Terminate(tctx, v.session)
	cancel()
	st.view.invalidate()
	v = afterTerminate(v, err)
	if v.outcome == OutcomeUpstreamError {
		s.upstreamFailed(err)
	}
	return v
}

// answer audits the verdict on top of rec, counts it and writes the answer.
func (s *Server) answer(w http.ResponseWriter, rec AuditRecord, v verdict) {
	rec.Decision = DecisionDeny
	if v.allow {
		rec.Decision = DecisionAllow
	}
	rec.Outcome, rec.Reason, rec.Owner = v.outcome, v.reason, v.owner
	if v.upstream != "" {
		rec.Upstream = v.upstream
	}
	s.record(rec)
	if v.retryAfter != "" {
		w.Header().Set("Retry-After", v.retryAfter)
	}
	reason := v.reason
	if v.answer != "" {
		reason = v.answer
	}
	writeJSON(w, v.status, terminateAnswer{Session: rec.Session, Outcome: v.outcome, Reason: reason, Why: v.why, DryRun: rec.DryRun})
}

// record writes the audit line and counts the outcome.
func (s *Server) record(rec AuditRecord) {
	s.terminations.WithLabelValues(rec.Outcome).Inc()
	if err := s.audit.write(rec, s.now()); err != nil {
		s.auditFailures.Inc()
		s.logger.Error("cannot write the audit log", "err", err)
	}
}

// bodyWithin reads and drops the body; false if it is over limit bytes.
func bodyWithin(w http.ResponseWriter, r *http.Request, limit int64) bool {
	_, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, limit))
	return err == nil
}

// serveCrossOriginDenied answers a cross-origin browser request; the check
// runs before routing, so only terminate requests are audited.
func (s *Server) serveCrossOriginDenied(w http.ResponseWriter, r *http.Request) {
	const reason = "cross-origin browser request refused"
	id := sessionFromPath(r.URL.Path)
	if id == "" {
		http.Error(w, reason, http.StatusForbidden)
		return
	}
	rec := AuditRecord{Session: cleanID(id), Remote: remoteHost(r), Upstream: UpstreamNotCalled}
	st := s.state.Load()
	if id, err := s.caller(r, st); err == nil {
		g := st.policy.GrantOf(id)
		rec.Identity, rec.IdentitySource, rec.Roles = id.Name, id.Source, g.Roles
	}
	s.answer(w, rec, refusal(http.StatusForbidden, OutcomeCrossOrigin, "", reason))
}

// sessionFromPath picks the id out of /api/v1/sessions/{id}/terminate for
// the audit line of a request refused before routing.
func sessionFromPath(p string) string {
	const prefix, suffix = "/api/v1/sessions/", "/terminate"
	if len(p) > len(prefix)+len(suffix) && p[:len(prefix)] == prefix && p[len(p)-len(suffix):] == suffix {
		return p[len(prefix) : len(p)-len(suffix)]
	}
	return ""
}

// cleanID bounds and checks a session id from the URL; "" if unusable.
func cleanID(id string) string {
	if id == "" || len(id) > maxSessionIDLen || !printable(id) {
		return ""
	}
	return id
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	return host
}
