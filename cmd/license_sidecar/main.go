// Command license_sidecar serves the License Monitor page, its JSON API
// and permission-checked, audited session termination.
package main

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
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
	f := parseFlags()
	logger := promslog.New(f.log)
	cfg, err := config.LoadSidecarFile(f.configFile)
	if f.configCheck {
		return checkConfig(f.configFile, cfg, err)
	}

	logger.Info("starting "+name, "version", version.Info(), "build_context", version.BuildContext())
	if err != nil {
		logger.Error("cannot load the config; exiting", "err", err)
		return 1
	}
	// Fail at start, not on the first request, on a broken web config.
	if err := web.Validate(*f.web.WebConfigFile); err != nil {
		logger.Error("invalid --web.config.file; exiting", "err", err)
		return 1
	}
	srvc, err := sidecar.New(cfg, sidecar.Options{
		WebConfigFile: *f.web.WebConfigFile,
		Logger:        logger,
		UserAgent:     name + "/" + version.Version,
	})
	if err != nil {
		logger.Error("cannot start; exiting", "err", err)
		return 1
	}
	defer srvc.Close()
	// exporter-toolkit serves TLS; the sidecar checks basic auth itself
	// (internal/sidecar/login.go), so the toolkit gets the web config
	// without its users.
	toolkit := *f.web
	toolkitFile := srvc.ToolkitWebConfigFile()
	toolkit.WebConfigFile = &toolkitFile
	// The sidecar logs a refused reload itself and keeps the old config.
	return serve.Run(newServer(srvc.Handler(), cfg), &toolkit, logger, func() { _ = srvc.ReloadFile(f.configFile) })
}

// flags are the command line.
type flags struct {
	configFile  string
	configCheck bool
	web         *web.FlagConfig
	log         *promslog.Config
}

func parseFlags() flags {
	var f flags
	kingpin.Flag("config.file", "License sidecar configuration file.").Default("license_sidecar.yml").StringVar(&f.configFile)
	kingpin.Flag("config.check", "Validate the configuration file, then exit 0 if it is valid and 1 if not.").BoolVar(&f.configCheck)
	f.web = kingpinflag.AddFlags(kingpin.CommandLine, ":9849")
	f.log = &promslog.Config{}
	promslogflag.AddFlags(kingpin.CommandLine, f.log)
	kingpin.Version(version.Print(name))
	kingpin.HelpFlag.Short('h')
	kingpin.Parse()
	return f
}

// checkConfig is --config.check: the exit code says whether the file,
// already loaded as cfg or err, is valid.
func checkConfig(path string, cfg *config.Sidecar, err error) int {
	if err != nil {
		fmt.Fprintln(os.Stderr, "config is invalid:", err)
		return 1
	}
	// The sidecar runs lmutil lmremove for flexlm sources: checked as the
	// exporter checks it.
	if errs := config.CheckHosts(cfg.Sources); len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(os.Stderr, "config is invalid:", err)
		}
		return 1
	}
	names := make([]string, len(cfg.Sources))
	for i := range cfg.Sources {
		names[i] = strconv.Quote(cfg.Sources[i].Name)
	}
	fmt.Printf("config %s is valid: source %s, %d role(s)\n", path, strings.Join(names, ", "), len(cfg.Roles))
	return 0
}

func newServer(h http.Handler, cfg *config.Sidecar) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Above the upstream timeout: a terminate reads upstream and then calls it.
		WriteTimeout:   2*cfg.MaxTimeout() + 15*time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
	}
}
