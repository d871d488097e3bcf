// Package sidecar is license_sidecar: the monitor page, its JSON API and
// permission-checked, audited session termination.
package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/source"
)

const (
	// maxBodyBytes bounds a terminate request's body; the API needs none.
	maxBodyBytes = 1 << 10
	// maxSessionIDLen bounds the id taken from the URL.
	maxSessionIDLen = 200
	program         = "license_sidecar"
)

// Options configure a Server.
type Options struct {
	// WebConfigFile is --web.config.file: basic auth names are trusted as
	// identities only while it lists basic_auth_users.
	WebConfigFile string
	Logger        *slog.Logger
	// Stdout receives the audit log when audit_log is "-".
	Stdout io.Writer
	// UserAgent is sent upstream, e.g. "license_sidecar/1.2.3".
	UserAgent string
	// Now is the clock, for tests; default time.Now.
	Now func() time.Time
	// Registry gets the sidecar's metrics; nil makes a new one.
	Registry *prometheus.Registry
}

// Server serves the sidecar's endpoints. Build it with New and serve
// Handler(); Reload swaps the config atomically.
type Server struct {
	opts     Options
	logger   *slog.Logger
	now      func() time.Time
	state    atomic.Pointer[state]
	limiter  *limiter
	audit    *auditor
	reg      *prometheus.Registry
	handler  http.Handler
	reloadMu sync.Mutex

	terminations   *prometheus.CounterVec
	upstreamErrors *prometheus.CounterVec
	auditFailures  prometheus.Counter
	reloadOK       prometheus.Gauge
	reloadTime     prometheus.Gauge
}

// state is everything that a reload replaces at once.
type state struct {
	cfg     *config.Sidecar
	policy  *Policy
	client  terminatingSource
	timeout time.Duration
	view    *sharedReader
}

// terminatingSource is what the sidecar needs of a source: reading it and
// ending its sessions.
type terminatingSource interface {
	source.Source
	source.Terminator
}

// New builds a Server from a validated config.
func New(cfg *config.Sidecar, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	s := &Server{opts: opts, logger: opts.Logger, now: opts.Now, limiter: newLimiter(), reg: opts.Registry}
	s.initMetrics()
	st, err := s.newState(cfg)
	if err != nil {
		return nil, err
	}
	if s.audit, err = openAuditor(cfg.AuditLog, opts.Stdout); err != nil {
		return nil, fmt.Errorf("audit_log: %w", err)
	}
	s.apply(st)
	s.handler = s.routes()
	return s, nil
}

func (s *Server) initMetrics() {
	s.terminations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "license_sidecar_terminations_total",
		Help: "Terminate requests by outcome (terminated, dry_run, denied, not_terminable, not_found, rate_limited, upstream_error, unauthenticated, cross_origin, bad_request).",
	}, []string{"outcome"})
	for _, o := range Outcomes {
		s.terminations.WithLabelValues(o)
	}
	s.upstreamErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "license_sidecar_upstream_failures_total",
		Help: "Failed upstream calls (reads and terminate calls) by reason.",
	}, []string{"reason"})
	for _, r := range source.Reasons {
		s.upstreamErrors.WithLabelValues(string(r))
	}
	s.auditFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "license_sidecar_audit_write_failures_total",
		Help: "Audit lines that could not be written.",
	})
	s.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "license_sidecar_config_last_reload_successful",
		Help: "1 if the last config (re)load succeeded.",
	})
	s.reloadTime = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "license_sidecar_config_last_reload_success_timestamp_seconds",
		Help: "Time of the last successful config (re)load.",
	})
	s.reg.MustRegister(s.terminations, s.upstreamErrors, s.auditFailures, s.reloadOK, s.reloadTime,
		versioncollector.NewCollector(program),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
}

func (s *Server) newState(cfg *config.Sidecar) (*state, error) {
	src, err := cfg.Source.Open(s.opts.UserAgent)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	client, ok := src.(terminatingSource)
	if !ok {
		return nil, fmt.Errorf("source: type %q cannot end sessions, which the sidecar is for", cfg.Source.Type)
	}
	st := &state{cfg: cfg, policy: NewPolicy(cfg, client), client: client, timeout: time.Duration(cfg.Source.Timeout)}
	st.view = &sharedReader{client: client, timeout: st.timeout}
	return st, nil
}

func (s *Server) apply(st *state) {
	rl := st.cfg.Terminate.RateLimit
	s.limiter.configure(rl.Requests, time.Duration(rl.Interval))
	s.state.Store(st)
	s.reloadOK.Set(1)
	s.reloadTime.Set(float64(s.now().Unix()))
	if st.cfg.Auth.Proxy == nil && !webConfigHasUsers(s.opts.WebConfigFile) {
		s.logger.Warn("no identity source: --web.config.file lists no basic_auth_users and auth.proxy is not set, so every page and API call will answer 401")
	}
}

// Reload applies a new validated config. On error the old one stays.
func (s *Server) Reload(cfg *config.Sidecar) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	st, err := s.newState(cfg)
	if err == nil {
		// Reopened on every reload, so a rotated audit file is let go.
		if err = s.audit.reopen(cfg.AuditLog, s.opts.Stdout); err != nil {
			err = fmt.Errorf("audit_log: %w", err)
		}
	}
	if err != nil {
		s.reloadOK.Set(0)
		return err
	}
	s.apply(st)
	return nil
}

// ReloadFile loads path and applies it; a bad file keeps the old config.
func (s *Server) ReloadFile(path string) error {
	cfg, err := config.LoadSidecarFile(path)
	if err != nil {
		s.reloadOK.Set(0)
		return err
	}
	return s.Reload(cfg)
}

// Handler serves every endpoint.
func (s *Server) Handler() http.Handler { return s.handler }

// Close closes the audit log.
func (s *Server) Close() error { return s.audit.close() }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.servePage)
	mux.HandleFunc("GET /api/v1/monitor", s.serveMonitorJSON)
	mux.HandleFunc("POST /api/v1/sessions/{id}/terminate", s.serveTerminate)
	mux.Handle("GET /static/", staticHandler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "Healthy.\n")
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if s.state.Load() == nil {
			http.Error(w, "Not ready.", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "Ready.\n")
	})

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(s.serveCrossOriginDenied))
	return securityHeaders(cop.Handler(mux))
}

// securityHeaders keeps the page out of frames and caches, and sniffing
// off; the page's own CSP is set where it is served.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// caller identifies the request's caller under the current state.
func (s *Server) caller(r *http.Request, st *state) (Identity, error) {
	return identify(r, st.cfg.Auth.Proxy, webConfigHasUsers(s.opts.WebConfigFile))
}

// unauthorized answers 401 and asks a browser for basic auth when that is
// how identities are given.
func (s *Server) unauthorized(w http.ResponseWriter, err error) {
	if webConfigHasUsers(s.opts.WebConfigFile) {
		w.Header().Set("WWW-Authenticate", `Basic realm="license_sidecar"`)
	}
	writeJSON(w, http.StatusUnauthorized, terminateAnswer{Outcome: OutcomeUnauthenticated, Reason: err.Error()})
}

// terminateAnswer is the JSON body of every terminate answer.
type terminateAnswer struct {
	Session string `json:"session,omitempty"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
	Why     string `json:"why,omitempty"`
	DryRun  bool   `json:"dry_run"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// record writes the audit line and counts the outcome.
func (s *Server) record(rec AuditRecord) {
	s.terminations.WithLabelValues(rec.Outcome).Inc()
	if err := s.audit.write(rec, s.now()); err != nil {
		s.auditFailures.Inc()
		s.logger.Error("cannot write the audit log", "err", err)
	}
}

func (s *Server) serveCrossOriginDenied(w http.ResponseWriter, r *http.Request) {
	const reason = "cross-origin browser request refused"
	// The check runs before routing: only terminate requests are audited.
	id := sessionFromPath(r.URL.Path)
	if id == "" {
		http.Error(w, reason, http.StatusForbidden)
		return
	}
	rec := AuditRecord{
		Session: cleanID(id), Remote: remoteHost(r), Decision: DecisionDeny,
		Outcome: OutcomeCrossOrigin, Reason: reason, Upstream: UpstreamNotCalled,
	}
	st := s.state.Load()
	if id, err := s.caller(r, st); err == nil {
		g := st.policy.GrantOf(id)
		rec.Identity, rec.IdentitySource, rec.Roles = id.Name, id.Source, g.Roles
	}
	s.record(rec)
	writeJSON(w, http.StatusForbidden, terminateAnswer{Session: rec.Session, Outcome: rec.Outcome, Reason: rec.Reason})
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

func (s *Server) serveTerminate(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	now := s.now()
	dryRun := st.cfg.Terminate.DryRun
	rec := AuditRecord{Session: cleanID(r.PathValue("id")), Remote: remoteHost(r), Upstream: UpstreamNotCalled, DryRun: dryRun}
	refuse := func(status int, outcome, why, reason string) {
		// An allowed request can still fail upstream: it stays "allow".
		if rec.Decision == "" {
			rec.Decision = DecisionDeny
		}
		rec.Outcome, rec.Reason = outcome, reason
		s.record(rec)
		writeJSON(w, status, terminateAnswer{Session: rec.Session, Outcome: outcome, Reason: reason, Why: why, DryRun: dryRun})
	}

	id, err := s.caller(r, st)
	if err != nil {
		rec.Decision, rec.Outcome, rec.Reason = DecisionDeny, OutcomeUnauthenticated, err.Error()
		s.record(rec)
		s.unauthorized(w, err)
		return
	}
	grant := st.policy.GrantOf(id)
	rec.Identity, rec.IdentitySource, rec.Roles = id.Name, id.Source, grant.Roles

	// The API takes no body; a large one is refused before any work.
	if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxBodyBytes)); err != nil {
		refuse(http.StatusRequestEntityTooLarge, OutcomeBadRequest, "", fmt.Sprintf("the request body is over %d bytes; this API takes none", maxBodyBytes))
		return
	}
	if !s.limiter.allow(id.Name, now) {
		rl := st.cfg.Terminate.RateLimit
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(time.Duration(rl.Interval).Seconds())/max(1, rl.Requests))))
		refuse(http.StatusTooManyRequests, OutcomeRateLimited, "", fmt.Sprintf("more than %d terminate requests per %s", rl.Requests, rl.Interval))
		return
	}
	// Nobody without a permission learns whether a session exists, and
	// upstream is not read for them.
	if !grant.View && !grant.Terminate {
		refuse(http.StatusForbidden, OutcomeDenied, WhyNoPermission, "your roles grant neither view_monitor nor terminate_sessions")
		return
	}
	if rec.Session == "" {
		refuse(http.StatusNotFound, OutcomeNotFound, "", "no such session")
		return
	}

	// The session and its owner are read fresh from upstream, never taken
	// from the request.
	ctx, cancel := context.WithTimeout(r.Context(), st.timeout)
	snap, err := source.ReadAll(ctx, st.client)
	cancel()
	if err != nil {
		s.upstreamFailed(err)
		rec.Upstream = "read failed: " + upstreamResult(err)
		refuse(http.StatusBadGateway, OutcomeUpstreamError, "", "cannot read the session from upstream: "+upstreamResult(err))
		return
	}
	sess, licType := findSession(snap, rec.Session)
	if sess == nil {
		refuse(http.StatusNotFound, OutcomeNotFound, "", "no such session (it may have ended)")
		return
	}
	rec.Owner = sess.User

	v := st.policy.Decide(&grant, sess, licType, now)
	if !v.Allowed {
		refuse(v.Status, v.Outcome, v.Why, v.Reason)
		return
	}
	rec.Decision = DecisionAllow
	if dryRun {
		rec.Outcome, rec.Reason = OutcomeDryRun, v.Reason+"; dry run, upstream not called"
		s.record(rec)
		writeJSON(w, http.StatusOK, terminateAnswer{Session: rec.Session, Outcome: rec.Outcome, Reason: "dry run: the session would have been terminated", DryRun: true})
		return
	}

	// Sent once: terminate is not idempotent, and a retry after a timeout
	// could act twice or on a changed session. The caller decides.
	ctx, cancel = context.WithTimeout(context.WithoutCancel(r.Context()), st.timeout)
	err = st.client.Terminate(ctx, sess.ID)
	cancel()
	st.view.invalidate()
	if err == nil {
		rec.Outcome, rec.Reason, rec.Upstream = OutcomeTerminated, v.Reason, "accepted"
		s.record(rec)
		writeJSON(w, http.StatusOK, terminateAnswer{Session: rec.Session, Outcome: OutcomeTerminated, Reason: "terminated: the software closes on the user's machine"})
		return
	}
	rec.Upstream = upstreamResult(err)
	var ue *source.Error
	errors.As(err, &ue)
	switch {
	case ue != nil && ue.Status == http.StatusNotFound:
		refuse(http.StatusNotFound, OutcomeNotFound, "", "upstream no longer knows the session (it has ended)")
	case ue != nil && ue.Status == http.StatusConflict:
		why := WhyNotCloudSignIn
		if ue.Code == source.CodeCheckedOut {
			why = WhyCheckedOut
		}
		refuse(http.StatusConflict, OutcomeNotTerminable, why, "upstream refused: the session is not terminable ("+ue.Code+")")
	default:
		s.upstreamFailed(err)
		reason := "the upstream terminate call failed: " + upstreamResult(err)
		if ue != nil && ue.Reason == source.ReasonTimeout {
			reason += "; the session may or may not have ended, check the monitor before trying again"
		}
		if ra := source.RetryAfterOf(err); ra > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(ra.Seconds())))
		}
		refuse(http.StatusBadGateway, OutcomeUpstreamError, "", reason)
	}
}

// upstreamFailed counts and logs a failed upstream call. *source.Error
// never holds the URL or a token, so its text is safe to log.
func (s *Server) upstreamFailed(err error) {
	if r := source.ReasonOf(err); r != "" {
		s.upstreamErrors.WithLabelValues(string(r)).Inc()
	}
	s.logger.Warn("upstream call failed", "err", err)
}

// upstreamResult describes a failed call briefly: reason, status, code.
// *source.Error never holds the URL or a token.
func upstreamResult(err error) string {
	var ue *source.Error
	if !errors.As(err, &ue) {
		return "error"
	}
	s := string(ue.Reason)
	if ue.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", ue.Status)
	}
	if ue.Code != "" {
		s += " code=" + ue.Code
	}
	return s
}

// findSession returns the session with id and its license's type ("" if
// the license is not listed, which makes it not terminable).
func findSession(snap *source.Snapshot, id string) (*source.Session, string) {
	for i := range snap.Sessions {
		if snap.Sessions[i].ID == id {
			sess := &snap.Sessions[i]
			if j, ok := source.IndexLicenses(snap.Licenses).Of(sess); ok {
				return sess, snap.Licenses[j].Type
			}
			return sess, ""
		}
	}
	return nil, ""
}

// sharedReader lets concurrent page and JSON views share one upstream
// read instead of each reading every page of sessions. It keeps nothing
// once a read ends, so a view is never older than its request.
type sharedReader struct {
	client  source.Source
	timeout time.Duration

	mu     sync.Mutex
	gen    uint64
	flight *flight
}

type flight struct {
	gen  uint64
	done chan struct{}
	snap *source.Snapshot
	err  error
}

// invalidate makes later views start a new read, after a terminate.
func (r *sharedReader) invalidate() {
	r.mu.Lock()
	r.gen++
	r.mu.Unlock()
}

func (r *sharedReader) read(ctx context.Context) (*source.Snapshot, error) {
	r.mu.Lock()
	if f := r.flight; f != nil && f.gen == r.gen {
		r.mu.Unlock()
		select {
		case <-f.done:
			return f.snap, f.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f := &flight{gen: r.gen, done: make(chan struct{})}
	r.flight = f
	r.mu.Unlock()

	// Runs in this request's goroutine; it does not stop when this caller
	// leaves, since others may be waiting, but the timeout bounds it.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	f.snap, f.err = source.ReadAll(rctx, r.client)
	cancel()
	close(f.done)
	r.mu.Lock()
	if r.flight == f {
		r.flight = nil
	}
	r.mu.Unlock()
	return f.snap, f.err
}
