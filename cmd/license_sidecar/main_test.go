package main

import (
	"errors"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/config"
)

func TestCheckConfig(t *testing.T) {
	if code := checkConfig("x.yml", nil, errors.New(`unknown key "x"`)); code != 1 {
		t.Errorf("invalid: exit %d", code)
	}
	cfg, err := config.LoadSidecar([]byte("source: {name: a, type: csi, url: \"http://127.0.0.1:1/x\"}\nroles: {r: [view_monitor]}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if code := checkConfig("x.yml", cfg, nil); code != 0 {
		t.Errorf("valid: exit %d", code)
	}
	// A flexlm source whose lmutil cannot run: the sidecar would run it
	// for lmremove, so the check fails as the exporter's does.
	dir := t.TempDir()
	cfg, err = config.LoadSidecar([]byte("source: {name: f, type: flexlm, license_server: 27000@lic-a, lmutil: ./no-lmutil}\nroles: {r: [view_monitor]}\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	if code := checkConfig("x.yml", cfg, nil); code != 1 {
		t.Errorf("missing lmutil: exit %d, want 1", code)
	}
}

// Every timeout is set, and writes outlast a read plus a terminate upstream.
func TestServerTimeouts(t *testing.T) {
	cfg, err := config.LoadSidecar([]byte("source: {name: a, type: csi, url: \"http://127.0.0.1:1/x\", timeout: 20s}\nroles: {r: [view_monitor]}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(nil, cfg)
	if srv.ReadHeaderTimeout == 0 || srv.ReadTimeout == 0 || srv.IdleTimeout == 0 || srv.MaxHeaderBytes == 0 {
		t.Errorf("a limit is unset: %+v", srv)
	}
	if srv.WriteTimeout <= 2*20*time.Second {
		t.Errorf("WriteTimeout %s does not outlast two upstream calls", srv.WriteTimeout)
	}

	// With several sources, the slowest one's two calls.
	cfg, err = config.LoadSidecar([]byte(`sources:
  - {name: a, type: csi, url: "http://127.0.0.1:1/x", timeout: 5s}
  - {name: b, type: flexlm, license_server: 27000@lic-a, timeout: 40s, poll_interval: 2m}
roles: {r: [view_monitor]}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	if srv := newServer(nil, cfg); srv.WriteTimeout <= 2*40*time.Second {
		t.Errorf("WriteTimeout %s does not outlast the slowest source's two calls", srv.WriteTimeout)
	}
}
