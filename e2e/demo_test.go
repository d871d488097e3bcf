package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/testenv"
)

// demoConfig reads a committed config of `make run` and points it at
// simAddr instead of the simulator's default port, so the test runs beside
// a developer's own `make run`.
func demoConfig(t *testing.T, rel, simAddr string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), rel))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.Contains(s, "127.0.0.1:9850") {
		t.Fatalf("%s no longer points at the simulator's default address; update this test", rel)
	}
	return strings.ReplaceAll(s, "127.0.0.1:9850", simAddr)
}

// TestMakeRunConfigs starts the exporter and the sidecar with the very
// configs `make run` uses (deploy/demo, deploy/sidecar), so they are proven
// to run, and checks the README's promise about the demo.
func TestMakeRunConfigs(t *testing.T) {
	sim := testenv.StartSimulator(t)
	exp := testenv.StartExporter(t, demoConfig(t, "deploy/demo/license_exporter.yml", sim.Addr))
	testenv.Eventually(t, 45*time.Second, 100*time.Millisecond, func() error {
		m, err := testenv.TryScrape(exp.URL("/metrics"))
		if err != nil {
			return err
		}
		if v, ok := m.Get("license_up", map[string]string{"source": "demo"}); !ok || v != 1 {
			return fmt.Errorf(`license_up{source="demo"} is not 1`)
		}
		for _, name := range contractMetrics {
			if len(m[name]) == 0 {
				return fmt.Errorf("%s is missing", name)
			}
		}
		return nil
	})

	addr := testenv.FreeAddr(t)
	sc := testenv.Start(t, addr, testenv.Binary(t, "license_sidecar"),
		"--config.file="+testenv.WriteFile(t, "license_sidecar.yml", demoConfig(t, "deploy/sidecar/license_sidecar.yml", sim.Addr)),
		"--web.config.file="+filepath.Join(testenv.RepoRoot(), "deploy/sidecar/web-config.yml"),
		"--web.listen-address="+addr)
	// The passwords make run prints, read from the same file it reads.
	passwords := map[string]string{}
	web, _ := os.ReadFile(filepath.Join(testenv.RepoRoot(), "deploy/sidecar/web-config.yml"))
	for _, line := range strings.Split(string(web), "\n") {
		if f := strings.Fields(strings.TrimPrefix(line, "#users:")); strings.HasPrefix(line, "#users:") && len(f) >= 3 {
			passwords[f[0]] = f[2]
		}
	}
	if len(passwords) != 3 {
		t.Fatalf("make run prints %d demo users, want admin, bob and nobody", len(passwords))
	}
	get := func(user, path string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, sc.URL(path), nil)
		req.SetBasicAuth(user, passwords[user])
		var resp *http.Response
		testenv.Eventually(t, 45*time.Second, 100*time.Millisecond, func() (err error) {
			resp, err = http.DefaultClient.Do(req)
			return err
		})
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := get("admin", "/api/v1/monitor")
	var view struct {
		Sessions []struct {
			User         string `json:"user"`
			CanTerminate bool   `json:"can_terminate"`
		} `json:"sessions"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&view) != nil || len(view.Sessions) == 0 {
		t.Fatalf("the demo admin cannot read the monitor: HTTP %d", resp.StatusCode)
	}
	bobs := 0
	for _, s := range view.Sessions {
		if s.User == "bob@acme.example" {
			bobs++
		}
	}
	if bobs == 0 {
		t.Error("the demo account has no session of bob, the demo's plain user")
	}
	if code := get("nobody", "/api/v1/monitor").StatusCode; code != http.StatusForbidden {
		t.Errorf("the demo user nobody got HTTP %d, want 403", code)
	}
}
