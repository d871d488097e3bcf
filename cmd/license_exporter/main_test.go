package main

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/license-monitor/license-monitor/collector"
	"github.com/license-monitor/license-monitor/internal/serve"
)

// The wiring: readiness follows the config, reload is POST only, and the
// reload gauges are on /metrics.
func TestHandler(t *testing.T) {
	path := filepath.Join(t.TempDir(), "license_exporter.yml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	logger := slog.New(slog.DiscardHandler)
	coll := collector.New("license_exporter/test", logger)
	t.Cleanup(coll.Stop)
	rl := serve.NewReloader(name, logger)
	load := loader(path, coll)
	h, err := newHandler("/metrics", coll, rl, load, logger)
	if err != nil {
		t.Fatal(err)
	}
	get := func(method, p string) (int, string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, p, nil))
		return w.Code, w.Body.String()
	}

	write("sources: [\n")
	if err := rl.Apply(load); err == nil {
		t.Fatal("a broken file loaded")
	}
	if code, _ := get(http.MethodGet, "/-/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("ready before any config: %d", code)
	}
	write("sources:\n  - name: a\n    url: http://127.0.0.1:1/v1\n")
	if code, body := get(http.MethodPost, "/-/reload"); code != http.StatusOK {
		t.Fatalf("POST /-/reload: %d %s", code, body)
	}
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/-/ready", http.StatusOK},
		{http.MethodGet, "/-/healthy", http.StatusOK},
		{http.MethodGet, "/-/reload", http.StatusMethodNotAllowed},
		{http.MethodGet, "/", http.StatusOK},
	} {
		if code, _ := get(c.method, c.path); code != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, code, c.want)
		}
	}
	if _, body := get(http.MethodGet, "/metrics"); !strings.Contains(body, "license_exporter_config_last_reload_successful 1") {
		t.Error("/metrics lacks the reload gauge at 1")
	}
	write("sources:\n  - name: a\n    bogus: 1\n")
	if code, body := get(http.MethodPost, "/-/reload"); code != http.StatusInternalServerError || !strings.Contains(body, "bogus") {
		t.Errorf("POST /-/reload of a bad file: %d %s", code, body)
	}
	if code, _ := get(http.MethodGet, "/-/ready"); code != http.StatusOK {
		t.Error("a refused reload made the exporter unready")
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.yml"), filepath.Join(dir, "bad.yml")
	if err := errors.Join(
		os.WriteFile(good, []byte("sources:\n  - name: a\n    url: http://127.0.0.1:1/v1\n"), 0o600),
		os.WriteFile(bad, []byte("sources:\n  - name: a\n    pol_interval: 5s\n"), 0o600),
	); err != nil {
		t.Fatal(err)
	}
	if code := checkConfig(good, io.Discard, io.Discard); code != 0 {
		t.Errorf("good file: exit %d", code)
	}
	if code := checkConfig(bad, io.Discard, io.Discard); code != 1 {
		t.Errorf("bad file: exit %d", code)
	}
}
