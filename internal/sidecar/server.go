// Package sidecar is license_sidecar: the monitor page, its JSON API and
// permission-checked, audited session termination.
package sidecar

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/internal/serve"
	"github.com/license-monitor/license-monitor/source"
)

// The terminate paths: the first names the source; the second, from
// before several sources, stays for a config with exactly one.
const (
	sourceTerminatePath = "/api/v1/sources/{source}/sessions/{id}/terminate"
	legacyTerminatePath = "/api/v1/sessions/{id}/terminate"
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
	// WebConfigFile is --web.config.file: the Server checks its
	// basic_auth_users itself (login.go); serve with ToolkitWebConfigFile.
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
	opts    Options
	logger  *slog.Logger
	now     func() time.Time
	state   atomic.Pointer[state]
	limiter *limiter
	audit   *auditor
	reg     *prometheus.Registry
	handler http.Handler
	reloads *serve.Reloader
	login   *login // nil without --web.config.file

	refusals  *collapser
	flushMu   sync.Mutex
	stopFlush chan struct{}
	flushDone chan struct{}
	closeOnce sync.Once
	closeErr  error

	terminations   *prometheus.CounterVec
	upstreamErrors *prometheus.CounterVec
	auditFailures  prometheus.Counter
	authFailures   prometheus.Counter
	authThrottled  prometheus.Counter
}

// state is everything that a reload replaces at once.
type state struct {
	cfg     *config.Sidecar
	policy  *Policy
	sources []*upstream // in the config's order
}

// upstream is one configured source as the sidecar uses it.
type upstream struct {
	name, typ string
	src       Upstream
	timeout   time.Duration
	view      *viewReader
}

// close lets go of what the sources hold open (FlexLM's denials_log).
func (st *state) close() error {
	var errs []error
	for _, u := range st.sources {
		if c, ok := u.src.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// source returns the source named name, or nil.
func (st *state) source(name string) *upstream {
	for _, u := range st.sources {
		if u.name == name {
			return u
		}
	}
	return nil
}

// Upstream is what the sidecar needs of a source: reading it and ending
// its sessions. Tests stand in for it with fakes.
type Upstream interface {
	source.Source
	source.Terminator
}

// newUpstream opens one source block: the one place the sidecar chooses
// its implementation, through the registry (source/all).
func newUpstream(sc *config.Source, userAgent string) (Upstream, error) {
	src, err := sc.Open(userAgent)
	if err != nil {
		return nil, err
	}
	up, ok := src.(Upstream)
	if !ok {
		return nil, fmt.Errorf("type %q cannot end sessions, which the sidecar is for", sc.Type)
	}
	return up, nil
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
	s := &Server{opts: opts, logger: opts.Logger, now: opts.Now, limiter: newLimiter(), reg: opts.Registry,
		reloads: serve.NewReloader(program, opts.Logger), refusals: newCollapser(),
		stopFlush: make(chan struct{}), flushDone: make(chan struct{})}
	s.initMetrics()
	st, err := s.newState(cfg)
	if err != nil {
		return nil, err
	}
	if opts.WebConfigFile != "" {
		if s.login, err = newLogin(opts.WebConfigFile, opts.Logger, opts.Now, s.authFailures, s.authThrottled); err != nil {
			_ = st.close()
			return nil, fmt.Errorf("--web.config.file: %w", err)
		}
	}
	if s.audit, err = openAuditor(cfg.AuditLog, opts.Stdout); err != nil {
		if s.login != nil {
			_ = s.login.close()
		}
		_ = st.close()
		return nil, fmt.Errorf("audit_log: %w", err)
	}
	_ = s.reloads.Apply(func() ([]any, error) { s.apply(st); return configAttrs(cfg), nil })
	h := s.routes()
	if s.login != nil {
		h = s.login.wrap(h)
	}
	// Outermost, so that login's 401 and 429 carry the headers too.
	s.handler = securityHeaders(h)
	go s.flushLoop()
	return s, nil
}

// flushLoop writes the summaries of collapsed refusals as their intervals
// end, until Close.
func (s *Server) flushLoop() {
	defer close(s.flushDone)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stopFlush:
			return
		case <-t.C:
			s.flushSummaries(false)
		}
	}
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
	s.authFailures, s.authThrottled = newLoginMetrics()
	s.reg.MustRegister(s.terminations, s.upstreamErrors, s.auditFailures, s.authFailures, s.authThrottled, s.reloads,
		versioncollector.NewCollector(program),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
}

func (s *Server) newState(cfg *config.Sidecar) (*state, error) {
	st := &state{cfg: cfg}
	terms := map[string]source.Terminator{}
	for i := range cfg.Sources {
		sc := &cfg.Sources[i]
		src, err := newUpstream(sc, s.opts.UserAgent)
		if err != nil {
			_ = st.close()
			return nil, fmt.Errorf("source %q: %w", sc.Name, err)
		}
		timeout := time.Duration(sc.Timeout)
		st.sources = append(st.sources, &upstream{name: sc.Name, typ: sc.Type, src: src, timeout: timeout,
			view: &viewReader{src: src, timeout: timeout}})
		terms[sc.Name] = src
	}
	st.policy = NewPolicy(cfg, terms)
	return st, nil
}

func (s *Server) apply(st *state) {
	rl := st.cfg.Terminate.RateLimit
	s.limiter.configure(rl.Requests, time.Duration(rl.Interval))
	s.state.Store(st)
	if st.cfg.Auth.Proxy == nil && !s.login.hasUsers() {
		s.logger.Warn("no identity source: --web.config.file lists no basic_auth_users and auth.proxy is not set, so every page and API call will answer 401")
	}
}

// Reload applies a new validated config. On error the old one stays.
func (s *Server) Reload(cfg *config.Sidecar) error {
	return s.reloads.Apply(func() ([]any, error) { return s.swap(cfg) })
}

// ReloadFile loads path strictly and applies it, on SIGHUP; a bad file
// keeps the old config.
func (s *Server) ReloadFile(path string) error {
	return s.reloads.Apply(func() ([]any, error) {
		cfg, err := config.LoadSidecarFile(path)
		if err != nil {
			// Still let a rotated audit file go: SIGHUP is the rotation signal.
			if rerr := s.audit.reopen(s.audit.currentPath(), s.opts.Stdout); rerr != nil {
				s.logger.Error("cannot reopen the audit log", "err", rerr)
			}
			return nil, err
		}
		return s.swap(cfg)
	})
}

// swap replaces the running config with cfg, or keeps it on error.
func (s *Server) swap(cfg *config.Sidecar) ([]any, error) {
	st, err := s.newState(cfg)
	if err != nil {
		return nil, err
	}
	// Reopened on every reload, so a rotated audit file is let go.
	if err := s.audit.reopen(cfg.AuditLog, s.opts.Stdout); err != nil {
		_ = st.close()
		return nil, fmt.Errorf("audit_log: %w", err)
	}
	old := s.state.Load()
	s.apply(st)
	if old != nil {
		// A view still reading an old source gets a closed tail's nothing.
		if err := old.close(); err != nil {
			s.logger.Warn("cannot close a replaced source", "err", err)
		}
	}
	return configAttrs(cfg), nil
}

// configAttrs describe a config in the log, without its secrets.
func configAttrs(cfg *config.Sidecar) []any {
	names := make([]string, len(cfg.Sources))
	for i := range cfg.Sources {
		names[i] = cfg.Sources[i].Name
	}
	return []any{"sources", strings.Join(names, ","), "dry_run", cfg.Terminate.DryRun, "proxy_auth", cfg.Auth.Proxy != nil}
}

// Handler serves every endpoint.
func (s *Server) Handler() http.Handler { return s.handler }

// ToolkitWebConfigFile is the web config exporter-toolkit must serve with
// (TLS, without basic_auth_users, which the Server checks itself); "" for
// none.
func (s *Server) ToolkitWebConfigFile() string {
	if s.login == nil {
		return ""
	}
	return s.login.toolkitPath()
}

// Close stops the summary writer, writes the pending summaries and closes
// the audit log.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.stopFlush)
		<-s.flushDone
		s.flushSummaries(true)
		s.closeErr = errors.Join(s.audit.close(), s.state.Load().close())
		if s.login != nil {
			s.closeErr = errors.Join(s.closeErr, s.login.close())
		}
	})
	return s.closeErr
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.servePage)
	mux.HandleFunc("GET /api/v1/monitor", s.serveMonitorJSON)
	mux.HandleFunc("POST "+sourceTerminatePath, s.serveTerminate)
	mux.HandleFunc("POST "+legacyTerminatePath, s.serveTerminate)
	mux.Handle("GET /static/", staticHandler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /-/healthy", serve.Healthy)
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if s.state.Load() == nil {
			http.Error(w, "Not ready.", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "Ready.\n")
	})

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(s.serveCrossOriginDenied))
	return cop.Handler(mux)
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
	verified := false
	if u, _, ok := r.BasicAuth(); ok && u != "" {
		verified = verifiedUser(r) == u
	}
	return identify(r, st.cfg.Auth.Proxy, verified)
}

// unauthorized answers 401 and asks a browser for basic auth when that is
// how identities are given.
func (s *Server) unauthorized(w http.ResponseWriter, err error) {
	if s.login.hasUsers() {
		w.Header().Set("WWW-Authenticate", `Basic realm="license_sidecar"`)
	}
	writeJSON(w, http.StatusUnauthorized, terminateAnswer{Outcome: OutcomeUnauthenticated, Reason: err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
