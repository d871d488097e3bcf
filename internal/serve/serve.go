// Package serve is what every long-running program here shares: Run serves
// until SIGTERM or SIGINT and calls reload on SIGHUP, Reloader applies the
// config file, and Healthy answers /-/healthy.
package serve

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
)

// ShutdownTimeout bounds how long in-flight requests may finish.
const ShutdownTimeout = 10 * time.Second

// Run serves srv with exporter-toolkit (TLS, basic auth, systemd sockets),
// calls reload on every SIGHUP, and shuts down gracefully on SIGTERM or
// SIGINT. It returns the process exit code.
func Run(srv *http.Server, flags *web.FlagConfig, logger *slog.Logger, reload func()) int {
	return run(context.Background(), srv, func() error { return web.ListenAndServe(srv, flags, logger) }, logger, reload)
}

// RunListener is Run on a listener the caller opened (so it knows the
// address, e.g. for port 0), which also stops when ctx ends.
func RunListener(ctx context.Context, l net.Listener, srv *http.Server, flags *web.FlagConfig, logger *slog.Logger, reload func()) int {
	return run(ctx, srv, func() error { return web.Serve(l, srv, flags, logger) }, logger, reload)
}

func run(ctx context.Context, srv *http.Server, serve func() error, logger *slog.Logger, reload func()) int {
	// Signals are caught before the first request can be answered: a
	// SIGTERM sent once the server answers must stop it gracefully.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)

	serveErr := make(chan error, 1)
	go func() { serveErr <- serve() }()
	for {
		var reason string
		select {
		case err := <-serveErr:
			if !errors.Is(err, http.ErrServerClosed) {
				logger.Error("HTTP server failed", "err", err)
				return 1
			}
			return 0
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				if reload != nil {
					reload()
				}
				continue
			}
			reason = sig.String()
		case <-ctx.Done():
			reason = "context done"
		}
		logger.Info("shutting down", "signal", reason)
		sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		err := srv.Shutdown(sctx)
		cancel()
		if err != nil {
			logger.Error("graceful shutdown timed out", "err", err)
			return 1
		}
		<-serveErr
		return 0
	}
}
