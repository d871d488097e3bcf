// Command license_sidecar serves the License Monitor page, its JSON API
// and permission-checked, audited session termination.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/internal/serve"
	"github.com/license-monitor/license-monitor/internal/sidecar"
	_ "github.com/license-monitor/license-monitor/source/all" // every source type
)

const name = "license_sidecar"

func main() {
	os.Exit(run())
}

func run() int {
	var (
		configFile  = kingpin.Flag("config.file", "License sidecar configuration file.").Default("license_sidecar.yml").String()
		configCheck = kingpin.Flag("config.check", "Validate the configuration file, then exit 0 if it is valid and 1 if not.").Bool()
		webConfig   = kingpinflag.AddFlags(kingpin.CommandLine, ":9849")
	)
	logConfig := &promslog.Config{}
	promslogflag.AddFlags(kingpin.CommandLine, logConfig)
	kingpin.Version(version.Print(name))
	kingpin.HelpFlag.Short('h')
	kingpin.Parse()
	logger := promslog.New(logConfig)

	cfg, err := config.LoadSidecarFile(*configFile)
	if *configCheck {
		if err != nil {
			fmt.Fprintln(os.Stderr, "config is invalid:", err)
			return 1
		}
		fmt.Printf("config %s is valid: source %q, %d role(s)\n", *configFile, cfg.Source.Name, len(cfg.Roles))
		return 0
	}
	logger.Info("starting "+name, "version", version.Info(), "build_context", version.BuildContext())
	if err != nil {
		logger.Error("cannot load the config; exiting", "err", err)
		return 1
	}
	// Fail at start, not on the first request, on a broken web config.
	if err := web.Validate(*webConfig.WebConfigFile); err != nil {
		logger.Error("invalid --web.config.file; exiting", "err", err)
		return 1
	}
	srvc, err := sidecar.New(cfg, sidecar.Options{
		WebConfigFile: *webConfig.WebConfigFile,
		Logger:        logger,
		UserAgent:     name + "/" + version.Version,
	})
	if err != nil {
		logger.Error("cannot start; exiting", "err", err)
		return 1
	}
	defer srvc.Close()
	logger.Info("config loaded", "source_name", cfg.Source.Name, "dry_run", cfg.Terminate.DryRun, "proxy_auth", cfg.Auth.Proxy != nil)

	srv := &http.Server{
		Handler:           srvc.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Above the upstream timeout: a terminate reads upstream and then calls it.
		WriteTimeout:   2*time.Duration(cfg.Source.Timeout) + 15*time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
	}
	return serve.Run(srv, webConfig, logger, func() {
		if err := srvc.ReloadFile(*configFile); err != nil {
			logger.Error("config reload refused; the old config keeps running", "err", err)
		} else {
			logger.Info("config reloaded")
		}
	})
}
