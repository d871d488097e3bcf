// Command license_exporter exports CSI License Monitor usage to Prometheus.
package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
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
	"github.com/license-monitor/license-monitor/internal/serve"
	_ "github.com/license-monitor/license-monitor/source/all" // every source type
)

const name = "license_exporter"

func main() {
	os.Exit(run())
}

func run() int {
	var (
		configFile  = kingpin.Flag("config.file", "License exporter configuration file.").Default("license_exporter.yml").String()
		configCheck = kingpin.Flag("config.check", "Validate the configuration file, then exit 0 if it is valid and 1 if not.").Bool()
		metricsPath = kingpin.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").String()
		webConfig   = kingpinflag.AddFlags(kingpin.CommandLine, ":9848")
	)
	logConfig := &promslog.Config{}
	promslogflag.AddFlags(kingpin.CommandLine, logConfig)
	kingpin.Version(version.Print(name))
	kingpin.HelpFlag.Short('h')
	kingpin.Parse()
	logger := promslog.New(logConfig)

	if *configCheck {
		cfg, err := config.LoadExporterFile(*configFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "config is invalid:", err)
			return 1
		}
		fmt.Printf("config %s is valid: %d source(s)\n", *configFile, len(cfg.Sources))
		return 0
	}

	logger.Info("starting "+name, "version", version.Info(), "build_context", version.BuildContext())
	coll := collector.New(name+"/"+version.Version, logger)
	defer coll.Stop()
	rl := newReloader(*configFile, coll, logger)
	if err := rl.reload(); err != nil {
		logger.Error("cannot load the config; exiting", "err", err)
		return 1
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		versioncollector.NewCollector(name),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		rl.success, rl.successTime,
	)

	mux := http.NewServeMux()
	// The collector writes its license and per-user series itself (see
	// README "Performance"); reg holds the rest.
	mux.Handle(*metricsPath, coll.Handler(reg, collector.HandlerOpts{
		ErrorLog:            logger,
		MaxRequestsInFlight: 10,
	}))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Healthy") })
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !rl.loaded.Load() {
			http.Error(w, "config not loaded", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	mux.HandleFunc("/-/reload", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST to reload the config", http.StatusMethodNotAllowed)
			return
		}
		if err := rl.reload(); err != nil {
			http.Error(w, "config refused, the old one keeps running: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "config reloaded")
	})
	if *metricsPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "License Exporter",
			Description: "Prometheus exporter for CSI cloud License Monitor usage",
			Version:     version.Info(),
			Links: []web.LandingLinks{
				{Address: *metricsPath, Text: "Metrics"},
				{Address: "/-/healthy", Text: "Health"},
				{Address: "/-/ready", Text: "Readiness"},
			},
		})
		if err != nil {
			logger.Error("cannot build the landing page", "err", err)
			return 1
		}
		mux.Handle("/", landing)
	}

	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	return serve.Run(srv, webConfig, logger, func() { _ = rl.reload() })
}

// reloader applies the config file; a bad file is refused and the running
// config stays.
type reloader struct {
	path        string
	coll        *collector.Collector
	logger      *slog.Logger
	mu          sync.Mutex
	loaded      atomic.Bool
	success     prometheus.Gauge
	successTime prometheus.Gauge
}

func newReloader(path string, coll *collector.Collector, logger *slog.Logger) *reloader {
	return &reloader{
		path: path, coll: coll, logger: logger,
		success: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "license_exporter_config_last_reload_successful",
			Help: "1 if the last load of the config file succeeded, 0 if it was refused.",
		}),
		successTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "license_exporter_config_last_reload_success_timestamp_seconds",
			Help: "Time of the last successful load of the config file, in Unix seconds.",
		}),
	}
}

func (r *reloader) reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg, err := config.LoadExporterFile(r.path)
	if err == nil {
		err = r.coll.Apply(cfg)
	}
	if err != nil {
		r.success.Set(0)
		if r.loaded.Load() {
			r.logger.Error("config reload refused; the old config keeps running", "err", err)
		}
		return err
	}
	r.success.Set(1)
	r.successTime.SetToCurrentTime()
	r.loaded.Store(true)
	r.logger.Info("config loaded", "file", r.path, "sources", len(cfg.Sources))
	return nil
}
