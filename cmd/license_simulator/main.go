// Command license_simulator serves a simulated CSI License Monitor API for
// demos, end-to-end tests and benchmarks. See internal/simulator.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
	_ "time/tzdata" // --timezone works without a system zone database

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/license-monitor/license-monitor/internal/serve"
	"github.com/license-monitor/license-monitor/internal/simulator"
)

const program = "license_simulator"

func main() {
	// The fake lmutil (lmutil.go): through a symlink named lmutil, or as
	// a subcommand.
	if filepath.Base(os.Args[0]) == "lmutil" {
		os.Exit(runLmutil(os.Args[1:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "lmutil" {
		os.Exit(runLmutil(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, nil))
}

// flags are the command line's values.
type flags struct {
	listen, controlListen, startTime, now, scale, tokenFile, keyFile, fault, timezone string
	seed                                                                              int64
	speed                                                                             float64
	churn, churnSet                                                                   bool
	log                                                                               *promslog.Config
}

// parseFlags reads args; exit >= 0 means the program ends with that code
// (help, version or a bad flag, already reported).
func parseFlags(args []string, stdout, stderr io.Writer) (f flags, exit int) {
	app := kingpin.New(program, "Serves a simulated CSI License Monitor API under "+simulator.APIPrefix+
		", with a control API under /-/control for tests and demos.")
	app.Writer(stdout).ErrorWriter(stderr).UsageWriter(stdout)
	exit = -1
	app.Terminate(func(code int) {
		if exit < 0 {
			exit = code
		}
	})
	app.Version(version.Print(program))
	app.HelpFlag.Short('h')

	app.Flag("web.listen-address", "Address to listen on.").Default("127.0.0.1:9850").StringVar(&f.listen)
	app.Flag("web.control-listen-address", "Address of the control API alone, e.g. 127.0.0.1:9851, which --web.listen-address then does not serve (default: served with the API).").StringVar(&f.controlListen)
	app.Flag("seed", "Seed of the account and the event stream.").Default("1").Int64Var(&f.seed)
	app.Flag("speed", "How many times faster than real time the simulated clock runs.").Default("1").Float64Var(&f.speed)
	app.Flag("start-time", "Start of the simulated clock: RFC 3339, or "+simulator.WeekdayPrefix+
		"HH:MM for the most recent weekday HH:MM at or before --now in --timezone (default: now).").StringVar(&f.startTime)
	app.Flag("now", "The moment a relative --start-time counts back from, RFC 3339 (default: the real clock); "+
		"not later than the real clock, so no session starts in the future.").StringVar(&f.now)
	app.Flag("scale", "Account: demo, or a benchmark tier (small, large, huge).").Default("demo").EnumVar(&f.scale, "demo", "small", "large", "huge")
	app.Flag("churn", "Sessions come and go (default: on for demo, off for the tiers).").IsSetByUser(&f.churnSet).BoolVar(&f.churn)
	app.Flag("token-file", "File holding the bearer token every API request must carry.").StringVar(&f.tokenFile)
	app.Flag("api-key-file", "File holding the secret every API request must carry as ?key=.").StringVar(&f.keyFile)
	app.Flag("fault", "Start with a fault on: a kind (e.g. http_5xx) or a control API fault body in JSON.").StringVar(&f.fault)
	app.Flag("timezone", "Time zone of the account's working hours.").Default("UTC").StringVar(&f.timezone)
	f.log = &promslog.Config{Writer: stderr}
	promslogflag.AddFlags(app, f.log)

	_, err := app.Parse(args)
	if exit >= 0 {
		return f, exit
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", program, err)
		return f, 2
	}
	return f, -1
}

// run is the program; it ends when ctx does or on SIGTERM. ready, if set,
// learns the listening address.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(net.Addr)) int {
	f, exit := parseFlags(args, stdout, stderr)
	if exit >= 0 {
		return exit
	}
	logger := promslog.New(f.log)
	opts, fault, err := options(f.seed, f.speed, f.startTime, f.now, time.Now(), simulator.Tier(f.scale), f.churn, f.churnSet,
		f.tokenFile, f.keyFile, f.fault, f.timezone)
	if err != nil {
		logger.Error("bad flags", "err", err)
		return 2
	}
	opts.Logger = logger
	sim, err := simulator.New(opts)
	if err != nil {
		logger.Error("cannot start the simulator", "err", err)
		return 2
	}
	defer sim.Close()
	if fault.Kind != simulator.FaultNone {
		if err := sim.SetFault(fault); err != nil {
			logger.Error("bad --fault", "err", err)
			return 2
		}
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		logger.Error("cannot listen", "err", err)
		return 1
	}
	logger.Info("starting "+program, "version", version.Info(), "address", ln.Addr().String(),
		"base_url", "http://"+ln.Addr().String()+simulator.APIPrefix,
		"scale", opts.Tier, "seed", opts.Seed, "speed", opts.Speed, "sim_time", sim.State().SimTime,
		"churn", opts.Churn, "timezone", opts.Location.String(),
		"token_required", opts.Token != "", "api_key_required", opts.APIKey != "", "fault", fault.Kind)
	handler := sim.Handler()
	if f.controlListen != "" {
		cln, err := net.Listen("tcp", f.controlListen)
		if err != nil {
			ln.Close()
			logger.Error("cannot listen for the control API", "err", err)
			return 1
		}
		logger.Info("control API on its own address", "address", cln.Addr().String())
		ctrl := newServer(sim.ControlHandler(), sim, logger)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = ctrl.Serve(cln)
		}()
		defer func() {
			_ = ctrl.Close()
			<-done
		}()
		handler = sim.APIHandler()
	}
	if ready != nil {
		ready(ln.Addr())
	}
	noTLS := ""
	return serve.RunListener(ctx, ln, newServer(handler, sim, logger), &web.FlagConfig{WebConfigFile: &noTLS}, logger, nil)
}

// newServer is the simulator's HTTP server of h. Shutdown waits for
// handlers; Close releases the ones a hang fault holds.
func newServer(h http.Handler, sim *simulator.Simulator, logger *slog.Logger) *http.Server {
	srv := &http.Server{
		Handler:           logRequests(logger, h),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Answers restart this deadline after a fault's wait and for each
		// chunk of a huge body (internal/simulator/http.go).
		WriteTimeout: simulator.WriteTimeout,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	srv.RegisterOnShutdown(sim.Close)
	return srv
}

// options turns the flags into simulator options and the initial fault.
// realNow is the real clock, passed in so tests can pin it.
func options(seed int64, speed float64, startTime, nowFlag string, realNow time.Time, tier simulator.Tier, churn, churnSet bool,
	tokenFile, keyFile, faultFlag, timezone string) (simulator.Options, simulator.Fault, error) {
	opts := simulator.Options{Tier: tier, Seed: seed, Speed: speed, Churn: churn}
	if !churnSet {
		opts.Churn = tier == simulator.TierDemo
	}
	if !(speed > 0) {
		return opts, simulator.Fault{}, fmt.Errorf("--speed must be positive, not %v", speed)
	}
	loc, err := time.LoadLocation(timezone)
	if err != nil {
		return opts, simulator.Fault{}, fmt.Errorf("--timezone: %w", err)
	}
	opts.Location = loc
	now := realNow
	if nowFlag != "" {
		if now, err = time.Parse(time.RFC3339, nowFlag); err != nil {
			return opts, simulator.Fault{}, fmt.Errorf("--now: %q is not RFC 3339 (2026-12-01T03:00:00Z)", nowFlag)
		}
		if now.After(realNow) {
			return opts, simulator.Fault{}, fmt.Errorf("--now %s is later than the real clock (%s): sessions would start in the future",
				now.Format(time.RFC3339), realNow.UTC().Format(time.RFC3339))
		}
	}
	if startTime != "" {
		if opts.Start, err = simulator.ParseStart(startTime, now, loc); err != nil {
			return opts, simulator.Fault{}, fmt.Errorf("--start-time: %w", err)
		}
	} else if nowFlag != "" {
		opts.Start = now
	}
	if opts.Token, err = readSecret(tokenFile, "--token-file"); err != nil {
		return opts, simulator.Fault{}, err
	}
	if opts.APIKey, err = readSecret(keyFile, "--api-key-file"); err != nil {
		return opts, simulator.Fault{}, err
	}
	fault := simulator.Fault{Kind: simulator.FaultNone}
	if faultFlag != "" {
		body := []byte(faultFlag)
		if !strings.HasPrefix(strings.TrimSpace(faultFlag), "{") {
			body, _ = json.Marshal(map[string]string{"kind": faultFlag})
		}
		if fault, err = simulator.ParseFault(body); err != nil {
			return opts, simulator.Fault{}, fmt.Errorf("--fault: %w", err)
		}
	}
	return opts, fault, nil
}

// readSecret reads a trimmed secret; errors name the flag and file, never
// the content. An empty file is refused: it would silently turn the check off.
func readSecret(path, flag string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", flag, path)
	}
	return s, nil
}

// logRequests logs each request at debug level: method, path and status,
// never the query string, which may carry the API key.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !logger.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		logger.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
