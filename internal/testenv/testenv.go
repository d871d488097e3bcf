// Package testenv builds the project's programs and starts them, and the
// real tools the tests use (Debian's prometheus and alertmanager), on free
// loopback ports, for end-to-end tests. Every process started here stops
// when its test ends.
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/simulator"
	"github.com/license-monitor/license-monitor/source"
	"github.com/license-monitor/license-monitor/source/csi"
)

// Programs are the project's binaries.
var Programs = []string{"license_exporter", "license_sidecar", "license_simulator"}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// RepoRoot is the main module's directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binary returns the path of a built program. It uses $LICENSE_MONITOR_BIN
// (set by `make test` after `make build`; a relative one is under the
// repository root) when that holds the program, and otherwise builds the
// programs once per test process.
func Binary(t testing.TB, name string) string {
	t.Helper()
	if dir := os.Getenv("LICENSE_MONITOR_BIN"); dir != "" {
		// A relative directory is the repository's (bin), not the test
		// package's, which is go test's working directory.
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(RepoRoot(), dir)
		}
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "license-monitor-bin-")
		if buildErr != nil {
			return
		}
		for _, p := range Programs {
			if !fileExists(filepath.Join(RepoRoot(), "cmd", p)) {
				continue
			}
			cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, p), "./cmd/"+p)
			cmd.Dir = RepoRoot()
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", p, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	p := filepath.Join(buildDir, name)
	if !fileExists(p) {
		t.Fatalf("program %s was not built", name)
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// RequireTool returns the path of an installed tool. It skips the test when
// the tool is missing, except under CI, where that is a failure.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; `make deps` installs it", name)
	}
	t.Skipf("%s is not installed (make deps installs it)", name)
	return ""
}

// FreeAddr returns a free loopback address.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// WriteFile writes content to name in a test's temporary directory.
func WriteFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Process is a started program.
type Process struct {
	Name string
	Addr string
	cmd  *exec.Cmd
	out  *LockedBuffer
	done chan struct{}
	err  error
}

// LockedBuffer is a goroutine-safe buffer, for a process's or a logger's
// output that a test reads while it is written.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *LockedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *LockedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start runs path with args; its output is kept for Logs. It is stopped
// (SIGTERM, then SIGKILL after 10s) when the test ends.
func Start(t testing.TB, addr, path string, args ...string) *Process {
	t.Helper()
	p := &Process{Name: filepath.Base(path), Addr: addr, out: &LockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.Name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("--- %s output ---\n%s", p.Name, tail(p.Logs(), 8000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// Logs is everything the process wrote so far.
func (p *Process) Logs() string { return p.out.String() }

// URL is http://Addr + path.
func (p *Process) URL(path string) string { return "http://" + p.Addr + path }

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Args are the process's command-line arguments, without the program.
func (p *Process) Args() []string { return p.cmd.Args[1:] }

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop ends the process gracefully and returns its exit error.
func (p *Process) Stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return p.err
}

// Wait waits for the process to end by itself.
func (p *Process) Wait(timeout time.Duration) (error, bool) {
	select {
	case <-p.done:
		return p.err, true
	case <-time.After(timeout):
		return nil, false
	}
}

// WaitHTTP polls url until it answers 200, or fails the test.
func WaitHTTP(t testing.TB, p *Process, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if p != nil && p.Exited() {
			t.Fatalf("%s exited before %s was ready:\n%s", p.Name, url, tail(p.Logs(), 4000))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %s (last error: %v)", url, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Eventually retries cond every interval until it returns nil or timeout
// passes, then fails with cond's last error.
func Eventually(t testing.TB, timeout, interval time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", timeout, err)
		}
		time.Sleep(interval)
	}
}

// Simulator is a running license_simulator.
type Simulator struct {
	*Process
	// BaseURL is the API base, without any key.
	BaseURL string
}

// DefaultStart pins a test simulator's clock to a busy working moment, the
// most recent weekday 09:00 in the account's zone, so a test sees the same
// kind of account at any hour it runs. Not a fixed date: expiry dates are
// set relative to the start, and the exporter compares them with its clock.
const DefaultStart = "--start-time=" + simulator.WeekdayPrefix + "09:00"

// PinStart returns args with DefaultStart first, unless they set
// --start-time themselves (a test that needs night, a weekend or a month
// end says so).
func PinStart(args []string) []string {
	for _, a := range args {
		if strings.HasPrefix(a, "--start-time=") || a == "--start-time" {
			return args
		}
	}
	return append([]string{DefaultStart}, args...)
}

// StartSimulator starts license_simulator on a free port with args; its
// clock starts at DefaultStart unless args say otherwise.
func StartSimulator(t testing.TB, args ...string) *Simulator {
	t.Helper()
	addr := FreeAddr(t)
	p := Start(t, addr, Binary(t, "license_simulator"), append([]string{"--web.listen-address=" + addr}, PinStart(args)...)...)
	WaitHTTP(t, p, p.URL("/-/healthy"), 30*time.Second)
	return &Simulator{Process: p, BaseURL: p.URL("/api/license-monitor/v1")}
}

// Control POSTs body as JSON to the simulator's control path and returns
// the decoded answer.
func (s *Simulator) Control(t testing.TB, path string, body any) map[string]any {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(s.URL("/-/control"+path), "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("simulator control %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("simulator control %s: HTTP %d: %s", path, resp.StatusCode, out)
	}
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	return m
}

// SetFault switches a fault on ({"kind":"none"} clears it).
func (s *Simulator) SetFault(t testing.TB, fault map[string]any) { s.Control(t, "/fault", fault) }

// ClearFault switches faults off.
func (s *Simulator) ClearFault(t testing.TB) { s.SetFault(t, map[string]any{"kind": "none"}) }

// SetLoad sets the load mode: normal, saturate or idle.
func (s *Simulator) SetLoad(t testing.TB, mode string) {
	s.Control(t, "/load", map[string]any{"mode": mode})
}

// State is GET /-/control.
func (s *Simulator) State(t testing.TB) map[string]any {
	t.Helper()
	resp, err := http.Get(s.URL("/-/control"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Requests returns the simulator's API request counts by endpoint.
func (s *Simulator) Requests(t testing.TB) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	if m, ok := s.State(t)["requests"].(map[string]any); ok {
		for k, v := range m {
			if f, ok := v.(float64); ok {
				out[k] = int64(f)
			}
		}
	}
	return out
}

// AddSession creates a session through the control API.
func (s *Simulator) AddSession(t testing.TB, sess map[string]any) csi.SessionDoc {
	t.Helper()
	m := s.Control(t, "/sessions", sess)
	b, _ := json.Marshal(m)
	var d csi.SessionDoc
	if err := json.Unmarshal(b, &d); err != nil || d.ID == "" {
		t.Fatalf("simulator did not return a session: %s", b)
	}
	return d
}

// AddDenial records a denial through the control API (a
// simulator.DenialRequest: license_id or product, user, and optionally
// id to repeat one and at to make it late).
func (s *Simulator) AddDenial(t testing.TB, d map[string]any) csi.DenialDoc {
	t.Helper()
	m := s.Control(t, "/denials", d)
	b, _ := json.Marshal(m)
	var doc csi.DenialDoc
	if err := json.Unmarshal(b, &doc); err != nil || doc.ID == "" {
		t.Fatalf("simulator did not return a denial: %s", b)
	}
	return doc
}

// SetDenialsEndpoint turns the simulator's GET denials on, or off (404,
// an account without denial records).
func (s *Simulator) SetDenialsEndpoint(t testing.TB, on bool) {
	s.Control(t, "/denials/endpoint", map[string]any{"enabled": on})
}

// ReadDenials returns every denial the simulator serves since since (zero:
// all), decoded with the project's client, repeats included.
func (s *Simulator) ReadDenials(t testing.TB, opts csi.Options, since time.Time) []source.Denial {
	t.Helper()
	c := s.client(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []source.Denial
	if err := c.EachDenial(ctx, since, func(d *source.Denial) { out = append(out, *d) }); err != nil {
		t.Fatalf("reading the simulator's denials: %v", err)
	}
	return out
}

// EndSession ends a session through the control API.
func (s *Simulator) EndSession(t testing.TB, id string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, s.URL("/-/control/sessions/"+id), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("end session %s: HTTP %d", id, resp.StatusCode)
	}
}

// client is the project's CSI client for the simulator, authenticated as
// opts say; opts.URL defaults to the simulator's API base.
func (s *Simulator) client(t testing.TB, opts csi.Options) *csi.Client {
	t.Helper()
	if opts.URL == "" {
		opts.URL = s.BaseURL
	}
	c, err := csi.NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Read returns what the simulator itself serves, every page, decoded with
// the project's client (authenticated as the args say).
func (s *Simulator) Read(t testing.TB, opts csi.Options) *source.Snapshot {
	t.Helper()
	c := s.client(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	snap, err := source.ReadAll(ctx, c)
	if err != nil {
		t.Fatalf("reading the simulator: %v", err)
	}
	return snap
}

// StartExporter writes configYAML to a file and starts license_exporter
// with it on a free port; it waits for /-/ready.
func StartExporter(t testing.TB, configYAML string, args ...string) *Process {
	t.Helper()
	cfg := WriteFile(t, "license_exporter.yml", configYAML)
	addr := FreeAddr(t)
	p := Start(t, addr, Binary(t, "license_exporter"),
		append([]string{"--config.file=" + cfg, "--web.listen-address=" + addr}, args...)...)
	WaitHTTP(t, p, p.URL("/-/ready"), 30*time.Second)
	return p
}

// ExporterConfig is a one-source exporter config for sim, with overrides
// as extra YAML lines of the source (indented by the caller's choice).
func ExporterConfig(name, url string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "sources:\n  - name: %s\n    type: csi\n    url: %q\n", name, url)
	for _, e := range extra {
		fmt.Fprintf(&b, "    %s\n", e)
	}
	return b.String()
}

// Get fetches url and returns the status and body.
func Get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// StartPrometheus starts Debian's prometheus with configYAML (rule files
// are referenced by the config itself) and waits until it is ready.
func StartPrometheus(t testing.TB, configYAML string) *Process {
	t.Helper()
	return startTool(t, "prometheus", "prometheus.yml", configYAML,
		"--storage.tsdb.path="+t.TempDir(), "--web.enable-lifecycle")
}

// StartAlertmanager starts Debian's alertmanager with configYAML, without
// clustering, and waits until it is ready.
func StartAlertmanager(t testing.TB, configYAML string) *Process {
	t.Helper()
	return startTool(t, "prometheus-alertmanager", "alertmanager.yml", configYAML,
		"--storage.path="+t.TempDir(), "--cluster.listen-address=")
}

// startTool runs one of Debian's Prometheus tools with configYAML on a free
// port, quiet but for warnings, and waits for its /-/ready.
func startTool(t testing.TB, tool, configName, configYAML string, args ...string) *Process {
	t.Helper()
	bin := RequireTool(t, tool)
	cfg := WriteFile(t, configName, configYAML)
	addr := FreeAddr(t)
	p := Start(t, addr, bin, append([]string{
		"--config.file=" + cfg,
		"--web.listen-address=" + addr,
		"--log.level=warn",
	}, args...)...)
	WaitHTTP(t, p, p.URL("/-/ready"), 60*time.Second)
	return p
}
