// Command license_exporter exports CSI License Monitor usage to Prometheus.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/license-monitor/license-monitor/collector"
	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/internal/probe"
	"github.com/license-monitor/license-monitor/internal/serve"
	_ "github.com/license-monitor/license-monitor/source/all" // every source type
)

const name = "license_exporter"

func main() {
	os.Exit(run())
}

func run() int {
	f := parseFlags()
	logger := promslog.New(f.log)
	if f.configCheck {
		return checkConfig(f.configFile, os.Stdout, os.Stderr)
	}
	if f.probe.Source != "" || f.probe.DumpDir != "" || f.probe.ShowUsers {
		return runProbe(f)
	}

	logger.Info("starting "+name, "version", version.Info(), "build_context", version.BuildContext())
	coll := collector.New(name+"/"+version.Version, logger)
	defer coll.Stop()
	rl := serve.NewReloader(name, logger)
	load := loader(f.configFile, coll)
	if err := rl.Apply(load); err != nil {
		logger.Error("cannot load the config; exiting", "err", err)
		return 1
	}
	srv := newServer()
	var others []prometheus.Collector
	if lim := serve.LimitConnsPerClient(srv, name, f.maxConnsPerClient); lim != nil {
		others = append(others, lim)
	}
	handler, err := newHandler(f.metricsPath, coll, rl, load, logger, others...)
	if err != nil {
		logger.Error("cannot build the landing page", "err", err)
		return 1
	}
	srv.Handler = handler
	return serve.Run(srv, f.web, logger, func() { _ = rl.Apply(load) })
}

// flags are the command line.
type flags struct {
	configFile  string
	configCheck bool
	metricsPath string
	// maxConnsPerClient caps the connections one client address holds.
	maxConnsPerClient int
	web               *web.FlagConfig
	log               *promslog.Config
	probe             probe.Options
}

func parseFlags() flags {
	var f flags
	kingpin.Flag("config.file", "License exporter configuration file.").Default("license_exporter.yml").StringVar(&f.configFile)
	kingpin.Flag("config.check", "Validate the configuration file, then exit 0 if it is valid and 1 if not.").BoolVar(&f.configCheck)
	kingpin.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&f.metricsPath)
	kingpin.Flag("web.max-connections-per-client", "Most connections one client (an IPv4 address or IPv6 /64) may hold open; more are closed on accept. 0: no limit.").
		Default(strconv.Itoa(defaultMaxConnsPerClient)).IntVar(&f.maxConnsPerClient)
	kingpin.Flag("source.probe", "Read the named source once, as a poll would, print what was read and what was not understood, and exit: 0 all understood, 2 the read failed, 3 unknown fields.").PlaceHolder("NAME").StringVar(&f.probe.Source)
	kingpin.Flag("source.probe.dump", "With --source.probe: write each raw response body to this new or empty directory, secrets removed and users pseudonymised.").PlaceHolder("DIR").StringVar(&f.probe.DumpDir)
	kingpin.Flag("source.probe.show-users", "With --source.probe: print and dump user names and hosts as they are.").BoolVar(&f.probe.ShowUsers)
	f.web = kingpinflag.AddFlags(kingpin.CommandLine, ":9848")
	f.log = &promslog.Config{}
	promslogflag.AddFlags(kingpin.CommandLine, f.log)
	kingpin.Version(version.Print(name))
	kingpin.HelpFlag.Short('h')
	kingpin.Parse()
	return f
}

// checkConfig is --config.check: the exit code says whether path is
// valid. Beyond loading, it checks that each flexlm source's lmutil can
// run, which loading leaves alone (a reload must not fail while lmutil is
// being upgraded), so an install is told before its first poll fails.
func checkConfig(path string, stdout, stderr io.Writer) int {
	cfg, err := config.LoadExporterFile(path)
	if err != nil {
		fmt.Fprintln(stderr, "config is invalid:", err)
		return 1
	}
	if errs := config.CheckHosts(cfg.Sources); len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(stderr, "config is invalid:", err)
		}
		return 1
	}
	fmt.Fprintf(stdout, "config %s is valid: %d source(s)\n", path, len(cfg.Sources))
	return 0
}

// runProbe is --source.probe (docs/probe.md); its exit code is the
// probe's.
func runProbe(f flags) int {
	if f.probe.Source == "" {
		fmt.Fprintln(os.Stderr, "--source.probe.dump and --source.probe.show-users need --source.probe=NAME")
		return probe.ExitUsage
	}
	o := f.probe
	o.ConfigFile, o.UserAgent, o.Out, o.Err = f.configFile, name+"/"+version.Version, os.Stdout, os.Stderr
	return probe.Run(context.Background(), o)
}

// loader loads path strictly and hands it to the collector, at start and
// on every reload.
func loader(path string, coll *collector.Collector) serve.LoadFunc {
	return func() ([]any, error) {
		cfg, err := config.LoadExporterFile(path)
		if err != nil {
			return nil, err
		}
		if err := coll.Apply(cfg); err != nil {
			return nil, err
		}
		return []any{"file", path, "sources", len(cfg.Sources)}, nil
	}
}

// newHandler routes the metrics, health, readiness, reload and landing
// pages.
func newHandler(metricsPath string, coll *collector.Collector, rl *serve.Reloader, load serve.LoadFunc, logger *slog.Logger, others ...prometheus.Collector) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		versioncollector.NewCollector(name),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		rl,
	)
	reg.MustRegister(others...)

	mux := http.NewServeMux()
	// The collector writes its license and per-user series itself (see
	// README.md "Performance"); reg holds the rest.
	mux.Handle(metricsPath, coll.Handler(reg, collector.HandlerOpts{
		ErrorLog:            logger,
		MaxRequestsInFlight: maxScrapesInFlight,
		StallTimeout:        scrapeStallTimeout,
		WriteTimeout:        writeTimeout,
	}))
	mux.Handle("/-/healthy", serve.Healthy)
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !rl.Loaded() {
			http.Error(w, "config not loaded", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	mux.Handle("/-/reload", rl.Handler(load))
	if metricsPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "License Exporter",
			Description: "Prometheus exporter for CSI cloud License Monitor usage",
			Version:     version.Info(),
			Links: []web.LandingLinks{
				{Address: metricsPath, Text: "Metrics"},
				{Address: "/-/healthy", Text: "Health"},
				{Address: "/-/ready", Text: "Readiness"},
			},
		})
		if err != nil {
			return nil, err
		}
		mux.Handle("/", landing)
	}
	return mux, nil
}

// The server's bounds (docs/architecture.md, "Endpoints"). A request is
// headers and at most a small body, so reading one may take little time;
// a response may take writeTimeout (a huge account's text exposition over
// a slow link), but a scrape whose reader stalls for scrapeStallTimeout
// loses its connection and its in-flight slot.
const (
	readHeaderTimeout        = 10 * time.Second
	readTimeout              = 30 * time.Second
	writeTimeout             = 2 * time.Minute
	idleTimeout              = 2 * time.Minute
	scrapeStallTimeout       = 10 * time.Second
	maxScrapesInFlight       = 10
	defaultMaxConnsPerClient = 8 // below maxScrapesInFlight, so one client cannot take every slot
)

func newServer() *http.Server {
	return &http.Server{
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
	}
}
