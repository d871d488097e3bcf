package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/testenv"
)

func httpPost(url string) (string, error) {
	resp, err := http.Post(url, "text/plain", nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b), err
}

func TestConfigCheck(t *testing.T) {
	bin := testenv.Binary(t, "license_exporter")
	good := testenv.WriteFile(t, "good.yml", testenv.ExporterConfig("a", "http://127.0.0.1:1/v1"))
	bad := testenv.WriteFile(t, "bad.yml", "sources:\n  - name: a\n    url: http://127.0.0.1:1/v1\n    pol_interval: 5s\n")
	if out, err := exec.Command(bin, "--config.check", "--config.file="+good).CombinedOutput(); err != nil {
		t.Errorf("--config.check on a valid file: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--config.check", "--config.file="+bad).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("--config.check on a bad file: %v, want exit 1", err)
	}
	if !strings.Contains(string(out), `line 4: unknown key "pol_interval"`) {
		t.Errorf("the error does not name the key and line:\n%s", out)
	}
}

// TestReload: SIGHUP and POST /-/reload apply a good file; a bad file is
// refused, logged, and the old config keeps running.
func TestReload(t *testing.T) {
	sim := testenv.StartSimulator(t, "--no-churn")
	cfgPath := testenv.WriteFile(t, "license_exporter.yml", testenv.ExporterConfig("one", sim.BaseURL, "poll_interval: 5s", "timeout: 2s"))
	addr := testenv.FreeAddr(t)
	exp := testenv.Start(t, addr, testenv.Binary(t, "license_exporter"), "--config.file="+cfgPath, "--web.listen-address="+addr)
	testenv.WaitHTTP(t, exp, exp.URL("/-/ready"), 30*time.Second)
	waitPolls(t, exp, "one", 1)

	sourceUp := func(name string) bool {
		v, ok := testenv.Scrape(t, exp.URL("/metrics")).Get("license_up", map[string]string{"source": name})
		return ok && v == 1
	}

	// A bad file by SIGHUP: refused, logged, "one" still served.
	os.WriteFile(cfgPath, []byte("sources:\n  - name: two\n    url: "+sim.BaseURL+"\n    bogus: 1\n"), 0o600)
	exp.Signal(syscall.SIGHUP)
	testenv.Eventually(t, 45*time.Second, 50*time.Millisecond, func() error {
		if !strings.Contains(exp.Logs(), "config reload refused") || !strings.Contains(exp.Logs(), `unknown key \"bogus\"`) {
			return errors.New("the refusal is not logged")
		}
		return nil
	})
	if !sourceUp("one") {
		t.Fatal("the old config stopped after a refused reload")
	}
	if v, _ := testenv.Scrape(t, exp.URL("/metrics")).Get("license_exporter_config_last_reload_successful", nil); v != 0 {
		t.Error("license_exporter_config_last_reload_successful should be 0 after a refusal")
	}

	// The same through POST /-/reload: 500 with the reason.
	if resp, _ := httpPost(exp.URL("/-/reload")); !strings.HasPrefix(resp, "500") || !strings.Contains(resp, "bogus") {
		t.Errorf("POST /-/reload with a bad file answered %q", resp)
	}
	if resp, _ := http.Get(exp.URL("/-/reload")); resp == nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Error("GET /-/reload must be refused with 405")
	}

	// A good file: "two" replaces "one".
	os.WriteFile(cfgPath, []byte(testenv.ExporterConfig("two", sim.BaseURL, "poll_interval: 5s", "timeout: 2s")), 0o600)
	if resp, _ := httpPost(exp.URL("/-/reload")); !strings.HasPrefix(resp, "200") {
		t.Fatalf("POST /-/reload with a good file answered %q", resp)
	}
	testenv.Eventually(t, 45*time.Second, 100*time.Millisecond, func() error {
		m := testenv.Scrape(t, exp.URL("/metrics"))
		if len(m.Select("license_up", map[string]string{"source": "one"})) != 0 {
			return errors.New("source one is still exported")
		}
		if !sourceUp("two") {
			return errors.New("source two is not up")
		}
		return nil
	})
}
