package testenv

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/simulator"
)

// Lmutil returns the path of an `lmutil` symlink to the built
// license_simulator in a fresh temporary directory: run through it, the
// simulator acts as lmutil and reads the simulator that -c names.
func Lmutil(t testing.TB) string {
	t.Helper()
	bin, err := filepath.Abs(Binary(t, "license_simulator"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "lmutil")
	if err := os.Symlink(bin, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// LicenseServer is the simulator's address as a FlexLM source's
// license_server: port@127.0.0.1.
func (s *Simulator) LicenseServer() string {
	return s.Addr[strings.LastIndex(s.Addr, ":")+1:] + "@127.0.0.1"
}

// FlexLMExporterConfig is a one-source exporter config of type flexlm
// reading sim through lmutil, with extra YAML lines of the source.
func FlexLMExporterConfig(name, lmutil string, sim *Simulator, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "sources:\n  - name: %s\n    type: flexlm\n    lmutil: %q\n    license_server: %q\n    timezone: UTC\n",
		name, lmutil, sim.LicenseServer())
	for _, e := range extra {
		fmt.Fprintf(&b, "    %s\n", e)
	}
	return b.String()
}

// SetFlexLMFault switches a FlexLM fault on, e.g. {"kind":"slow","latency":"1m"};
// {"kind":"none"} clears it.
func (s *Simulator) SetFlexLMFault(t testing.TB, fault map[string]any) {
	t.Helper()
	s.Control(t, "/flexlm/fault", fault)
}

// ClearFlexLMFault switches FlexLM faults off.
func (s *Simulator) ClearFlexLMFault(t testing.TB) {
	t.Helper()
	s.SetFlexLMFault(t, map[string]any{"kind": "none"})
}

// PauseClock stops the simulated clock (both accounts), so sessions
// change only when AdvanceClock moves it.
func (s *Simulator) PauseClock(t testing.TB) {
	t.Helper()
	s.Control(t, "/clock", map[string]any{"paused": true})
}

// AdvanceClock moves the simulated clock forward by d (at most a day).
func (s *Simulator) AdvanceClock(t testing.TB, d time.Duration) {
	t.Helper()
	s.Control(t, "/clock", map[string]any{"advance": d.String()})
}

// FlexLMState is the FlexLM part of GET /-/control: fault, counts,
// lmstat requests and every recorded lmremove call.
func (s *Simulator) FlexLMState(t testing.TB) simulator.FlexLMState {
	t.Helper()
	var st simulator.ControlState
	s.getJSON(t, "/-/control", &st)
	return st.FlexLM
}

// LmremoveCalls are the lmremove calls the simulator recorded, oldest
// first (the last 1000).
func (s *Simulator) LmremoveCalls(t testing.TB) []simulator.LmremoveCall {
	t.Helper()
	return s.FlexLMState(t).Lmremove
}

// FlexLM is the simulated FlexLM account now: features' totals and every
// checkout and queued request (GET /-/control/flexlm).
func (s *Simulator) FlexLM(t testing.TB) simulator.FlexLMAccount {
	t.Helper()
	var a simulator.FlexLMAccount
	s.getJSON(t, "/-/control/flexlm", &a)
	return a
}

func (s *Simulator) getJSON(t testing.TB, path string, v any) {
	t.Helper()
	resp, err := http.Get(s.URL(path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d %v: %s", path, resp.StatusCode, err, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// AddFlexLMSession adds a FlexLM checkout (or queued request) that the
// load model never ends (a simulator.FlexLMSessionRequest: feature, user,
// host, and optionally version, display, licenses, borrowed, queued,
// started_at) and returns it, handle included.
func (s *Simulator) AddFlexLMSession(t testing.TB, req simulator.FlexLMSessionRequest) simulator.FlexLMSessionInfo {
	t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(s.URL("/-/control/flexlm/sessions"), "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var si simulator.FlexLMSessionInfo
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(out, &si) != nil {
		t.Fatalf("adding a FlexLM session: HTTP %d: %s", resp.StatusCode, out)
	}
	return si
}

// AppendFile appends s to the file at path, creating it, in one write: a
// daemon writing its log.
func AppendFile(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// FlexDeniedLine is a vendor daemon's debug-log DENIED line for user@host,
// stamped with at's time of day (no date, as FlexNet prints it) in UTC,
// with FlexNet's message and code, e.g. "Licensed number of users already
// reached." and -4; code 0 leaves the code out.
func FlexDeniedLine(at time.Time, vendor, feature, user, host, message string, code int) string {
	at = at.UTC()
	why := message
	if code != 0 {
		why = fmt.Sprintf("%s (%d,342)", message, code)
	}
	return fmt.Sprintf("%d:%02d:%02d (%s) DENIED: %q %s@%s  (%s)\n", at.Hour(), at.Minute(), at.Second(), vendor, feature, user, host, why)
}

// FakeLmutil builds source/flexlm's test lmutil (testdata/fakelmutil,
// which logs its calls to <path>.log and does what <path>.mode says) into
// a fresh temporary directory and returns its path.
func FakeLmutil(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lmutil")
	cmd := exec.Command("go", "build", "-o", bin, "./source/flexlm/testdata/fakelmutil")
	cmd.Dir = RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the fake lmutil: %v\n%s", err, out)
	}
	return bin
}

// lmstatStartDate is a start time's date in lmstat's user lines.
var lmstatStartDate = regexp.MustCompile(`start (Mon|Tue|Wed|Thu|Fri|Sat|Sun) [0-9]{1,2}/[0-9]{1,2} `)

// DatedLmstatFixture copies fixture, a file of source/flexlm/testdata,
// into dir with every start date moved to yesterday in loc, and returns
// the copy's path and that weekday ("Tue"). lmstat prints start dates
// without a year and the parser checks the weekday against this year's
// and last year's, so a fixture's own dates would stop parsing in a later
// year for a program that reads the real clock.
func DatedLmstatFixture(t testing.TB, dir, fixture string, loc *time.Location) (path, weekday string) {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(RepoRoot(), "source", "flexlm", "testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	y := time.Now().In(loc).AddDate(0, 0, -1)
	weekday = y.Weekday().String()[:3]
	text = lmstatStartDate.ReplaceAll(text, []byte(fmt.Sprintf("start %s %d/%d ", weekday, y.Month(), y.Day())))
	path = filepath.Join(dir, fixture)
	if err := os.WriteFile(path, text, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, weekday
}
