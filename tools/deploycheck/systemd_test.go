package deploycheck

import (
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/testenv"
	"github.com/license-monitor/license-monitor/tools/deploycheck/internal/repo"
)

var systemdUnits = []string{"license_exporter", "license_sidecar"}

// binDir is a directory holding the three built programs.
func binDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Dir(testenv.Binary(t, "license_exporter"))
	for _, p := range testenv.Programs {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Fatalf("%s is not built beside the exporter: %v", p, err)
		}
	}
	return dir
}

// install runs deploy/systemd/install.sh into a staging root, as a package
// build would, and returns the root.
func install(t *testing.T, root string) string {
	t.Helper()
	cmd := exec.Command("sh", repo.Path("deploy", "systemd", "install.sh"), binDir(t))
	cmd.Env = append(os.Environ(), "DESTDIR="+root, "PREFIX=/usr/local", "SYSCONFDIR=/etc")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	return string(out)
}

func TestSystemdInstall(t *testing.T) {
	root := t.TempDir()
	install(t, root)
	want := map[string]fs.FileMode{
		"usr/local/bin/license_exporter":                        0o755,
		"usr/local/bin/license_sidecar":                         0o755,
		"usr/local/bin/license_simulator":                       0o755,
		"usr/local/lib/systemd/system/license_exporter.service": 0o644,
		"usr/local/lib/systemd/system/license_sidecar.service":  0o644,
		"usr/local/lib/sysusers.d/license-monitor.conf":         0o644,
		"etc/license_exporter/license_exporter.yml":             0o640,
		"etc/license_sidecar/license_sidecar.yml":               0o640,
		"etc/license_sidecar/web-config.yml":                    0o640,
	}
	var got []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			got = append(got, rel)
		}
		return err
	})
	for f, mode := range want {
		fi, err := os.Stat(filepath.Join(root, f))
		if err != nil {
			t.Errorf("not installed: %s", f)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %o, want %o", f, fi.Mode().Perm(), mode)
		}
	}
	if len(got) != len(want) {
		t.Errorf("installed %d files, want %d: %v", len(got), len(want), got)
	}
	for _, d := range []string{"etc/license_exporter", "etc/license_sidecar"} {
		if fi, err := os.Stat(filepath.Join(root, d)); err != nil || fi.Mode().Perm() != 0o750 {
			t.Errorf("%s should be mode 750: %v", d, fi.Mode())
		}
	}

	// A second install keeps the administrator's edits.
	cfg := filepath.Join(root, "etc/license_exporter/license_exporter.yml")
	if err := os.WriteFile(cfg, []byte("edited\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	out := install(t, root)
	if b, _ := os.ReadFile(cfg); string(b) != "edited\n" {
		t.Error("a second install overwrote an edited config")
	}
	if !strings.Contains(out, "kept") {
		t.Errorf("install.sh did not say it kept the config:\n%s", out)
	}
}

// verifiableUnit copies an installed unit with its ExecStart pointing at
// the built binary, since systemd-analyze verify checks that it exists.
func verifiableUnit(t *testing.T, root, unit string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "usr/local/lib/systemd/system", unit+".service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "ExecStart=/usr/local/bin/"+unit) {
		t.Fatalf("%s does not start /usr/local/bin/%s", unit, unit)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, unit+".service")
	text := strings.ReplaceAll(string(b), "/usr/local/bin/", binDir(t)+"/")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSystemdAnalyzeVerify(t *testing.T) {
	sa := testenv.RequireTool(t, "systemd-analyze")
	root := t.TempDir()
	install(t, root)
	for _, u := range systemdUnits {
		p := verifiableUnit(t, root, u)
		// verify exits 0 on unknown keys and bad values, and says so: any
		// output is a failure.
		out, err := exec.Command(sa, "verify", p).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", u, err, out)
		}
		out, err = exec.Command(sa, "security", "--offline=true", p).CombinedOutput()
		if err != nil {
			t.Errorf("systemd-analyze security %s: %v\n%s", u, err, out)
			continue
		}
		m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
		if m == nil {
			t.Errorf("no exposure level for %s:\n%s", u, out)
			continue
		}
		score, _ := strconv.ParseFloat(string(m[1]), 64)
		t.Logf("%s: systemd exposure level %.1f", u, score)
		if score > 2.0 {
			t.Errorf("%s: exposure level %.1f, want at most 2.0 (hardened)", u, score)
		}
	}
}

// TestSystemdVerifySeesMistakes shows the check above can fail.
func TestSystemdVerifySeesMistakes(t *testing.T) {
	sa := testenv.RequireTool(t, "systemd-analyze")
	root := t.TempDir()
	install(t, root)
	p := verifiableUnit(t, root, "license_exporter")
	b, _ := os.ReadFile(p)
	bad := strings.Replace(string(b), "ProtectSystem=strict", "ProtectSystem=stricty", 1)
	if err := os.WriteFile(p, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command(sa, "verify", p).CombinedOutput(); !strings.Contains(string(out), "stricty") {
		t.Errorf("verify did not report the bad value:\n%s", out)
	}
}

func TestSystemdUsersDeclared(t *testing.T) {
	b, err := os.ReadFile(repo.Path("deploy", "systemd", "license-monitor.sysusers"))
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	for _, m := range regexp.MustCompile(`(?m)^u\s+(\S+)`).FindAllSubmatch(b, -1) {
		users = append(users, string(m[1]))
	}
	for _, u := range systemdUnits {
		unit := readUnit(t, repo.Path("deploy", "systemd", u+".service"))
		if !slices.Contains(users, unit["User"]) {
			t.Errorf("%s runs as %q, which sysusers does not create (%v)", u, unit["User"], users)
		}
	}
	if len(users) != 2 || users[0] == users[1] {
		t.Errorf("want one user per program, got %v", users)
	}
}

// readUnit reads a unit's last value of each key, continuation lines joined.
func readUnit(t *testing.T, p string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`\\\n\s*`).ReplaceAllString(string(b), " ")
	m := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// TestSystemdConfigsRun starts each program exactly as its installed unit
// does, with the installed example configs, the paths under /etc moved into
// the staging root and the account's link pointing at the simulator.
func TestSystemdConfigsRun(t *testing.T) {
	root := t.TempDir()
	install(t, root)
	sim := testenv.StartSimulator(t)
	for _, u := range systemdUnits {
		t.Run(u, func(t *testing.T) {
			unit := readUnit(t, filepath.Join(root, "usr/local/lib/systemd/system", u+".service"))
			argv := strings.Fields(unit["ExecStart"])
			if len(argv) == 0 || argv[0] != "/usr/local/bin/"+u {
				t.Fatalf("ExecStart %q", unit["ExecStart"])
			}
			// The secret the administrator writes after installing.
			if err := os.WriteFile(filepath.Join(root, "etc", u, "api_url"), []byte(sim.BaseURL+"\n"), 0o640); err != nil {
				t.Fatal(err)
			}
			addr := testenv.FreeAddr(t)
			var args []string
			for _, a := range argv[1:] {
				if strings.HasPrefix(a, "--web.listen-address=") {
					continue
				}
				args = append(args, strings.ReplaceAll(a, "=/etc/", "="+root+"/etc/"))
			}
			p := testenv.Start(t, addr, filepath.Join(binDir(t), u), append(args, "--web.listen-address="+addr)...)
			waitTCP(t, p, addr)

			hdr := http.Header{}
			if u == "license_sidecar" {
				// Basic auth covers every path; probe is the role-less user
				// of the example web-config.yml.
				get := func(path string, h http.Header) int {
					req, _ := http.NewRequest(http.MethodGet, p.URL(path), nil)
					req.Header = h
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					return resp.StatusCode
				}
				if code := get("/-/ready", nil); code != http.StatusUnauthorized {
					t.Errorf("the sidecar answered %d without credentials, want 401", code)
				}
				hdr.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("probe:probe")))
				if code := get("/api/v1/monitor", hdr); code != http.StatusForbidden {
					t.Errorf("probe got %d from the monitor, want 403", code)
				}
			}
			testenv.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
				req, _ := http.NewRequest(http.MethodGet, p.URL("/metrics"), nil)
				req.Header = hdr
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					return err
				}
				body := string(b)
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("/metrics: HTTP %d", resp.StatusCode)
				}
				if u == "license_exporter" && !strings.Contains(body, `license_up{source="acme"} 1`) {
					return fmt.Errorf("the exporter has not read the account yet")
				}
				return nil
			})
			if p.Exited() {
				t.Fatalf("%s exited:\n%s", u, p.Logs())
			}
		})
	}
}

// TestSystemdFlexLMConfigRuns starts the exporter exactly as its installed
// unit does, with deploy/systemd/license_exporter.flexlm.yml in place of the
// installed config and a fake lmutil where the example names it, and waits
// for a good poll of its FlexLM source.
func TestSystemdFlexLMConfigRuns(t *testing.T) {
	root := t.TempDir()
	install(t, root)
	const u = "license_exporter"
	unit := readUnit(t, filepath.Join(root, "usr/local/lib/systemd/system", u+".service"))
	argv := strings.Fields(unit["ExecStart"])
	if len(argv) == 0 || argv[0] != "/usr/local/bin/"+u {
		t.Fatalf("ExecStart %q", unit["ExecStart"])
	}
	example, err := os.ReadFile(repo.Path("deploy", "systemd", "license_exporter.flexlm.yml"))
	if err != nil {
		t.Fatal(err)
	}
	names := flexlmSources(t, "systemd/license_exporter.flexlm.yml", example)
	cfg := withFakeLmutil(string(example), fakeLmutil(t))
	if err := os.WriteFile(filepath.Join(root, "etc", u, u+".yml"), []byte(cfg), 0o640); err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreeAddr(t)
	var args []string
	for _, a := range argv[1:] {
		if !strings.HasPrefix(a, "--web.listen-address=") {
			args = append(args, strings.ReplaceAll(a, "=/etc/", "="+root+"/etc/"))
		}
	}
	if out, err := exec.Command(filepath.Join(binDir(t), u), append(slices.Clone(args), "--config.check")...).CombinedOutput(); err != nil {
		t.Errorf("--config.check with the FlexLM example: %v\n%s", err, out)
	}
	p := testenv.Start(t, addr, filepath.Join(binDir(t), u), append(args, "--web.listen-address="+addr)...)
	waitTCP(t, p, addr)
	waitExporterUp(t, p, names...)
}
