package sidecar

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v2"
	"golang.org/x/crypto/bcrypt"
)

// Basic auth is checked here, from the basic_auth_users of
// --web.config.file, and not by exporter-toolkit: its checks run one at a
// time behind a 100-entry cache, so one client's wrong passwords delayed
// every user (issue 14). exporter-toolkit still serves TLS, from a copy of
// the web config without the users (toolkitConfig).

const (
	// loginQueuePerClient bounds the requests of one client address that
	// wait for or run a password check; past it they get 429.
	loginQueuePerClient = 8
	// loginChecksBurst and loginCheckEvery bound the password checks of
	// one client address (a token bucket); past them it gets 429 without a
	// check, so one client keeps a CPU busy with bcrypt at most a few
	// percent of the time. A credential already found right needs no
	// check and passes.
	loginChecksBurst = 5
	loginCheckEvery  = 2 * time.Second
	// loginTarpit holds a 429 this long (less if the client leaves): a
	// flooding client waits instead of making the sidecar answer it
	// thousands of times a second.
	loginTarpit = time.Second
	// loginCacheSize bounds the cache of checked good credentials; only a
	// right password adds to it, so wrong ones cannot evict anybody.
	loginCacheSize = 4096
	// loginLogEvery spaces the log lines about failed logins.
	loginLogEvery = 10 * time.Second
	// maxWebConfigBytes bounds the web config read on each request.
	maxWebConfigBytes = 1 << 20
)

// dummyHash is checked for unknown users, so that timing does not tell
// which users exist (exporter-toolkit does the same; "fakepassword").
var dummyHash = []byte("$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi")

type verifiedUserKey struct{}

// verifiedUser is the basic auth user whose password login checked for r.
func verifiedUser(r *http.Request) string {
	u, _ := r.Context().Value(verifiedUserKey{}).(string)
	return u
}

// login checks basic auth. Each client address has at most one password
// check running, loginQueuePerClient in all and one per loginCheckEvery
// on average; all clients together run at most GOMAXPROCS checks. A flood
// from one address therefore holds at most one check slot, mostly none,
// and waits behind itself.
type login struct {
	path      string
	logger    *slog.Logger
	now       func() time.Time
	failures  prometheus.Counter
	throttled prometheus.Counter
	slots     chan struct{}
	budget    *limiter // password checks per client address
	tarpit    time.Duration
	toolkit   *memFile

	mu       sync.Mutex
	raw      []byte            // the web config last read
	users    map[string][]byte // its basic_auth_users
	good     map[[32]byte]struct{}
	clients  map[netip.Addr]*clientGate
	lastLog  time.Time
	unlogged int
}

type clientGate struct {
	running chan struct{} // one password check at a time
	queued  int           // requests holding or waiting for running
}

// newLoginMetrics are login's counters; they exist, at 0, without basic auth too.
func newLoginMetrics() (failures, throttled prometheus.Counter) {
	return prometheus.NewCounter(prometheus.CounterOpts{
			Name: "license_sidecar_auth_failures_total",
			Help: "Basic auth logins refused for a wrong user name or password.",
		}), prometheus.NewCounter(prometheus.CounterOpts{
			Name: "license_sidecar_auth_throttled_total",
			Help: "Requests refused with 429 because their client address had too many password checks queued or in the last seconds.",
		})
}

func newLogin(path string, logger *slog.Logger, now func() time.Time, failures, throttled prometheus.Counter) (*login, error) {
	l := &login{
		path: path, logger: logger, now: now, failures: failures, throttled: throttled,
		slots:   make(chan struct{}, max(2, runtime.GOMAXPROCS(0))),
		budget:  newLimiter(),
		tarpit:  loginTarpit,
		good:    map[[32]byte]struct{}{},
		clients: map[netip.Addr]*clientGate{},
	}
	raw, err := readWebConfig(path)
	if err != nil {
		return nil, err
	}
	tk, err := toolkitConfig(raw, filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	l.budget.configure(loginChecksBurst, loginChecksBurst*loginCheckEvery)
	if l.toolkit, err = newMemFile(tk); err != nil {
		return nil, fmt.Errorf("web config for exporter-toolkit: %w", err)
	}
	if err := l.reload(raw); err != nil {
		_ = l.toolkit.close()
		return nil, err
	}
	return l, nil
}

func readWebConfig(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxWebConfigBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxWebConfigBytes {
		return nil, fmt.Errorf("%s: over %d bytes", path, maxWebConfigBytes)
	}
	return b, nil
}

// parseWebConfig reads the file as exporter-toolkit does: strict, its own
// types, so that its format stays the only one.
func parseWebConfig(raw []byte) (*web.Config, error) {
	var c web.Config
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// toolkitConfig is the web config exporter-toolkit gets: the operator's
// file without basic_auth_users, its TLS file paths made absolute (the
// copy lives elsewhere).
func toolkitConfig(raw []byte, dir string) ([]byte, error) {
	if _, err := parseWebConfig(raw); err != nil {
		return nil, err
	}
	var doc yaml.MapSlice
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	out := yaml.MapSlice{}
	for _, item := range doc {
		switch item.Key {
		case "basic_auth_users":
			continue
		case "tls_server_config":
			tls, _ := item.Value.(yaml.MapSlice)
			for i, f := range tls {
				switch f.Key {
				case "cert_file", "key_file", "client_ca_file":
					if p, ok := f.Value.(string); ok {
						tls[i].Value = config_util.JoinDir(dir, p)
					}
				}
			}
		}
		out = append(out, item)
	}
	if len(out) == 0 {
		return []byte("{}\n"), nil
	}
	return yaml.Marshal(out)
}

// reload takes a changed web config: its users, and the copy for
// exporter-toolkit. Under l.mu.
func (l *login) reload(raw []byte) error {
	c, err := parseWebConfig(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", l.path, err)
	}
	users := make(map[string][]byte, len(c.Users))
	for u, h := range c.Users {
		users[u] = []byte(h)
	}
	if l.raw != nil {
		tk, err := toolkitConfig(raw, filepath.Dir(l.path))
		if err != nil {
			return fmt.Errorf("%s: %w", l.path, err)
		}
		if err := l.toolkit.replace(tk); err != nil {
			return err
		}
	}
	l.raw, l.users = bytes.Clone(raw), users
	clear(l.good)
	return nil
}

// current re-reads the web config, as exporter-toolkit does on every
// request, so that a user removed from it is refused at once.
func (l *login) current() (map[string][]byte, error) {
	raw, err := readWebConfig(l.path)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && !bytes.Equal(raw, l.raw) {
		err = l.reload(raw)
	}
	if err != nil {
		return nil, err
	}
	return l.users, nil
}

// hasUsers reports whether basic auth is on: the web config lists users.
func (l *login) hasUsers() bool {
	if l == nil {
		return false
	}
	users, err := l.current()
	return err == nil && len(users) > 0
}

// wrap checks basic auth before h when the web config lists users, as
// exporter-toolkit would: every path needs credentials.
func (l *login) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		users, err := l.current()
		if err != nil {
			l.logger.Error("cannot read --web.config.file", "err", err)
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
			return
		}
		if len(users) == 0 {
			h.ServeHTTP(w, r)
			return
		}
		user, pass, ok := r.BasicAuth()
		if ok {
			switch err := l.check(r.Context(), remoteKey(r), users, user, pass); {
			case err == nil:
				h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), verifiedUserKey{}, user)))
				return
			case errors.Is(err, errLoginBusy):
				l.throttled.Inc()
				if !l.hold(r.Context()) {
					return
				}
				w.Header().Set("Retry-After", "1")
				http.Error(w, "too many password checks from your address; try again later", http.StatusTooManyRequests)
				return
			case errors.Is(err, errLoginGaveUp):
				return // the client left
			}
			l.failed(user, r)
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="license_sidecar"`)
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
	})
}

// hold waits l.tarpit; false if the client left first.
func (l *login) hold(ctx context.Context) bool {
	if l.tarpit <= 0 {
		return true
	}
	t := time.NewTimer(l.tarpit)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

var (
	errLoginBusy   = errors.New("too many password checks queued for this client")
	errLoginGaveUp = errors.New("the client left while its login waited")
	errLoginWrong  = errors.New("wrong user name or password")
)

// credKey is the cache key of a credential: a hash, so the cache holds
// no password.
func credKey(user string, hash []byte, pass string) [32]byte {
	h := sha256.New()
	for _, p := range [][]byte{[]byte(user), hash, []byte(pass)} {
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// check verifies user and pass; nil if they are right.
func (l *login) check(ctx context.Context, client netip.Addr, users map[string][]byte, user, pass string) error {
	hash, known := users[user]
	key := credKey(user, hash, pass)
	if known && l.cached(key) {
		return nil
	}
	if !l.budget.allow(client.String(), l.now()) {
		return errLoginBusy
	}
	g := l.enter(client)
	if g == nil {
		return errLoginBusy
	}
	defer l.leave(client)
	select {
	case g.running <- struct{}{}:
		defer func() { <-g.running }()
	case <-ctx.Done():
		return errLoginGaveUp
	}
	// A check of the same credential may have finished while we waited.
	if known && l.cached(key) {
		return nil
	}
	select {
	case l.slots <- struct{}{}:
		defer func() { <-l.slots }()
	case <-ctx.Done():
		return errLoginGaveUp
	}
	if !known {
		hash = dummyHash
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil || !known {
		return errLoginWrong
	}
	l.mu.Lock()
	if len(l.good) >= loginCacheSize {
		clear(l.good)
	}
	l.good[key] = struct{}{}
	l.mu.Unlock()
	return nil
}

func (l *login) cached(key [32]byte) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.good[key]
	return ok
}

// enter counts a request of client into its gate; nil when the gate is full.
func (l *login) enter(client netip.Addr) *clientGate {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.clients[client]
	if g == nil {
		g = &clientGate{running: make(chan struct{}, 1)}
		l.clients[client] = g
	}
	if g.queued >= loginQueuePerClient {
		return nil
	}
	g.queued++
	return g
}

// leave undoes enter; an idle client's gate is dropped, so the map holds
// only clients with a check in progress.
func (l *login) leave(client netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.clients[client]
	if g.queued--; g.queued == 0 {
		delete(l.clients, client)
	}
}

// failed counts a refused login and logs it, at most once per
// loginLogEvery with the number since the last line. The user name is
// logged, never the password.
func (l *login) failed(user string, r *http.Request) {
	l.failures.Inc()
	l.mu.Lock()
	now := l.now()
	l.unlogged++
	n := l.unlogged
	if !l.lastLog.IsZero() && now.Sub(l.lastLog) < loginLogEvery {
		l.mu.Unlock()
		return
	}
	l.lastLog, l.unlogged = now, 0
	l.mu.Unlock()
	name := user
	if len(name) > maxIdentityLen || !printable(name) {
		name = "(unprintable)"
	}
	l.logger.Warn("basic auth login refused", "user", name, "remote", remoteHost(r), "refused_since_last_line", n)
}

// remoteKey is the client address the per-client limits count by.
func remoteKey(r *http.Request) netip.Addr {
	a, _ := remoteAddr(r)
	return a
}

// toolkitPath is the web config file exporter-toolkit must serve from.
func (l *login) toolkitPath() string { return l.toolkit.path }

func (l *login) close() error { return l.toolkit.close() }
