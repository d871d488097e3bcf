package serve

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Reloader applies a program's config at start, on SIGHUP and on POST
// /-/reload, the same way in every program: loads never overlap, a refused
// config is logged and the running one stays, and two gauges record the
// last result.
type Reloader struct {
	logger      *slog.Logger
	mu          sync.Mutex
	loaded      atomic.Bool
	success     prometheus.Gauge
	successTime prometheus.Gauge
}

// LoadFunc loads a config strictly and applies it. It returns log
// attributes that describe what it applied.
type LoadFunc func() (attrs []any, err error)

// NewReloader makes the Reloader of program, whose gauges are
// <program>_config_last_reload_successful and
// <program>_config_last_reload_success_timestamp_seconds.
func NewReloader(program string, logger *slog.Logger) *Reloader {
	return &Reloader{
		logger: logger,
		success: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: program + "_config_last_reload_successful",
			Help: "1 if the last load of the config file succeeded, 0 if it was refused.",
		}),
		successTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: program + "_config_last_reload_success_timestamp_seconds",
			Help: "Time of the last successful load of the config file, in Unix seconds.",
		}),
	}
}

// Apply runs load and records its result. The first failure, before any
// config is loaded, is left to the caller to report: the program exits.
func (r *Reloader) Apply(load LoadFunc) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	attrs, err := load()
	if err != nil {
		r.success.Set(0)
		if r.loaded.Load() {
			r.logger.Error("config reload refused; the old config keeps running", "err", err)
		}
		return err
	}
	r.success.Set(1)
	r.successTime.SetToCurrentTime()
	msg := "config reloaded"
	if !r.loaded.Swap(true) {
		msg = "config loaded"
	}
	r.logger.Info(msg, attrs...)
	return nil
}

// Loaded reports whether a config has been applied: readiness.
func (r *Reloader) Loaded() bool { return r.loaded.Load() }

// Handler serves POST /-/reload with load. A refusal answers 500 with the
// reason; internal/config names keys, never values, in its errors. A
// browser's cross-origin POST (a page elsewhere posting a form or
// text/plain) is refused with 403 by net/http's CrossOriginProtection;
// curl and other programs send no Sec-Fetch-Site or Origin and pass.
func (r *Reloader) Handler(load LoadFunc) http.Handler {
	return http.NewCrossOriginProtection().Handler(r.handler(load))
}

func (r *Reloader) handler(load LoadFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST to reload the config", http.StatusMethodNotAllowed)
			return
		}
		if err := r.Apply(load); err != nil {
			http.Error(w, "config refused, the old one keeps running: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "config reloaded")
	})
}

// Describe implements prometheus.Collector: the two gauges.
func (r *Reloader) Describe(ch chan<- *prometheus.Desc) {
	r.success.Describe(ch)
	r.successTime.Describe(ch)
}

// Collect implements prometheus.Collector.
func (r *Reloader) Collect(ch chan<- prometheus.Metric) {
	r.success.Collect(ch)
	r.successTime.Collect(ch)
}
