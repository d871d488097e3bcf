package sidecar

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

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

// serveTerminate is POST /api/v1/sources/{source}/sessions/{id}/terminate,
// and /api/v1/sessions/{id}/terminate for a single source. It does the HTTP
// part: identity, rate limit and body, the answer and the audit. Nothing is
// written before the identity and the rate limit are checked, and refusals
// are collapsed (collapser), so that no caller can fill the audit log.
func (s *Server) serveTerminate(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	now := s.now()
	rec := AuditRecord{RequestID: newRequestID(), Session: cleanID(r.PathValue("id")), Remote: remoteHost(r),
		Upstream: UpstreamNotCalled, DryRun: st.cfg.Terminate.DryRun}
	w.Header().Set("X-Request-Id", rec.RequestID)
	rt, u := resolveSource(st, r)
	if u != nil {
		rec.Source, rec.SourceType = u.name, u.typ
	}
	id, err := s.caller(r, st)
	if err != nil {
		s.audited(rec, refusal(http.StatusUnauthorized, OutcomeUnauthenticated, "", err.Error()))
		s.unauthorized(w, err)
		return
	}
	grant := st.policy.GrantOf(id)
	rec.Identity, rec.IdentitySource, rec.Roles = id.Name, id.Source, grant.Roles

	var v verdict
	switch {
	case !s.limiter.allow(id.Name, now):
		v = rateLimited(st.cfg.Terminate.RateLimit)
	// The API takes no body; a large one is refused before any work.
	case !bodyWithin(w, r, maxBodyBytes):
		v = bodyTooLarge()
	default:
		v = s.terminate(r.Context(), st, u, terminateInput{
			policy: st.policy, grant: &grant, route: rt, source: rec.Source, session: rec.Session,
			dryRun: st.cfg.Terminate.DryRun, now: now,
		}, rec)
	}
	s.answer(w, rec, v)
}

// resolveSource finds the source a terminate path names: the {source}
// segment, or the only source for the path without one. u is nil unless
// the route is routeOK.
func resolveSource(st *state, r *http.Request) (route, *upstream) {
	name := r.PathValue("source")
	if name == "" {
		if len(st.sources) != 1 {
			return routeAmbiguous, nil
		}
		return routeOK, st.sources[0]
	}
	if u := st.source(name); u != nil {
		return routeOK, u
	}
	return routeUnknownSource, nil
}

// terminate does the I/O around decide on source u (nil unless the route
// is routeOK): the read it asks for, then the attempt line and the
// terminate call it allows.
func (s *Server) terminate(ctx context.Context, st *state, u *upstream, in terminateInput, rec AuditRecord) verdict {
	v := decide(in)
	if v.next == stepRead {
		// Fresh, not shared with views: the decision rests on this read.
		rctx, cancel := context.WithTimeout(ctx, u.timeout)
		snap, err := source.ReadAll(rctx, u.src)
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
	// Fail closed: no attempt line (synced, for a file), no call.
	attempt := withVerdict(rec, v)
	attempt.Phase = PhaseAttempt
	if !s.writeAudit(attempt) {
		return auditUnavailable(v)
	}
	// Sent once, and finished even if the caller leaves: terminate is not
	// idempotent, and a retry after a timeout could act twice or on a
	// changed session. The caller decides.
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.timeout)
	err := u.src.Terminate(tctx, v.session)
	cancel()
	u.view.invalidate()
	v = afterTerminate(v, err, u.typ)
	if v.outcome == OutcomeUpstreamError {
		s.upstreamFailed(err)
	}
	return v
}

// withVerdict fills rec's decision fields from v.
func withVerdict(rec AuditRecord, v verdict) AuditRecord {
	rec.Decision = DecisionDeny
	if v.allow {
		rec.Decision = DecisionAllow
	}
	rec.Outcome, rec.Reason, rec.Owner, rec.Count = v.outcome, v.reason, v.owner, 1
	if v.upstream != "" {
		rec.Upstream = v.upstream
	}
	return rec
}

// answer audits the verdict on top of rec, counts it and writes the answer.
func (s *Server) answer(w http.ResponseWriter, rec AuditRecord, v verdict) {
	s.audited(rec, v)
	if v.retryAfter != "" {
		w.Header().Set("Retry-After", v.retryAfter)
	}
	reason := v.reason
	if v.answer != "" {
		reason = v.answer
	}
	writeJSON(w, v.status, terminateAnswer{Session: rec.Session, Outcome: v.outcome, Reason: reason, Why: v.why, DryRun: rec.DryRun})
}

// audited counts the outcome and writes its line. An allowed request gets
// its own line; a refusal goes through the collapser.
func (s *Server) audited(rec AuditRecord, v verdict) {
	rec = withVerdict(rec, v)
	rec.Phase = PhaseOutcome
	s.terminations.WithLabelValues(rec.Outcome).Inc()
	if v.allow {
		s.writeAudit(rec)
		return
	}
	k := refusalKey{identity: rec.Identity, outcome: rec.Outcome, why: v.why}
	for _, line := range s.refusals.add(k, rec, s.now(), s.summaryInterval()) {
		s.writeAudit(line)
	}
}

// writeAudit writes one line; false, counted and logged, if it failed.
func (s *Server) writeAudit(rec AuditRecord) bool {
	if err := s.audit.write(rec, s.now()); err != nil {
		s.auditFailures.Inc()
		s.logger.Error("cannot write the audit log", "phase", rec.Phase, "err", err)
		return false
	}
	return true
}

// flushSummaries writes the summaries of refusal intervals over by now;
// all of them when all is set (at Close).
func (s *Server) flushSummaries(all bool) {
	// One flush at a time: when it returns, every due summary is written.
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	iv := s.summaryInterval()
	if all {
		iv = 0
	}
	for _, line := range s.refusals.due(s.now(), iv) {
		s.writeAudit(line)
	}
}

func (s *Server) summaryInterval() time.Duration {
	return time.Duration(s.state.Load().cfg.AuditSummaryInterval)
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
	src, id, ok := sessionFromPath(r.URL.Path)
	if !ok {
		http.Error(w, reason, http.StatusForbidden)
		return
	}
	rec := AuditRecord{RequestID: newRequestID(), Session: cleanID(id), Remote: remoteHost(r), Upstream: UpstreamNotCalled}
	w.Header().Set("X-Request-Id", rec.RequestID)
	st := s.state.Load()
	if u := st.source(src); u != nil {
		rec.Source, rec.SourceType = u.name, u.typ
	} else if src == "" && len(st.sources) == 1 {
		rec.Source, rec.SourceType = st.sources[0].name, st.sources[0].typ
	}
	if id, err := s.caller(r, st); err == nil {
		g := st.policy.GrantOf(id)
		rec.Identity, rec.IdentitySource, rec.Roles = id.Name, id.Source, g.Roles
	}
	s.answer(w, rec, refusal(http.StatusForbidden, OutcomeCrossOrigin, "", reason))
}

// sessionFromPath picks the source and id out of a terminate path, for
// the audit line of a request refused before routing; src is "" for the
// path without a source.
func sessionFromPath(p string) (src, id string, ok bool) {
	rest, found := strings.CutPrefix(p, "/api/v1/")
	if !found {
		return "", "", false
	}
	rest, found = strings.CutSuffix(rest, "/terminate")
	if !found {
		return "", "", false
	}
	if r, isSource := strings.CutPrefix(rest, "sources/"); isSource {
		src, rest, found = strings.Cut(r, "/")
		if !found || src == "" || strings.Contains(src, "/") {
			return "", "", false
		}
	}
	id, found = strings.CutPrefix(rest, "sessions/")
	if !found || id == "" || strings.Contains(id, "/") {
		return "", "", false
	}
	return src, id, true
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
