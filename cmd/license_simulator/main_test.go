package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/simulator"
	"github.com/license-monitor/license-monitor/internal/testenv"
	"github.com/license-monitor/license-monitor/source/csi"
)

type running struct {
	base   string // http://addr
	stderr *testenv.LockedBuffer
	stop   func() int
}

// runInProcess starts run on a free loopback port and returns once it listens.
func runInProcess(t *testing.T, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &testenv.LockedBuffer{}
	addrc := make(chan net.Addr, 1)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"--web.listen-address=127.0.0.1:0"}, testenv.PinStart(args)...), io.Discard, stderr, func(a net.Addr) { addrc <- a })
	}()
	var r *running
	select {
	case a := <-addrc:
		r = &running{base: "http://" + a.String(), stderr: stderr}
	case code := <-done:
		cancel()
		t.Fatalf("run exited %d: %s", code, stderr)
	}
	stopped := false
	r.stop = func() int {
		if stopped {
			return 0
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { r.stop() })
	return r
}

func get(t *testing.T, url string, hdr ...string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func writeFile(t *testing.T, name, content string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunServesWithSecrets(t *testing.T) {
	tok := writeFile(t, "token", "  tok-123456\n")
	key := writeFile(t, "key", "key-abcdef\n")
	r := runInProcess(t, "--scale=small", "--seed=9", "--start-time=2026-12-02T11:00:00Z",
		"--token-file="+tok, "--api-key-file="+key, "--log.level=debug", "--fault=rate_limit")
	lic := r.base + simulator.APIPrefix + "/licenses"
	if code, _ := get(t, lic); code != 401 {
		t.Fatalf("no credentials: %d", code)
	}
	if code, _ := get(t, lic+"?key=key-abcdef", "Authorization", "Bearer tok-123456"); code != 429 {
		t.Fatalf("--fault=rate_limit: %d", code)
	}
	resp, err := http.Post(r.base+"/-/control/fault", "application/json", strings.NewReader(`{"kind":"none"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("clear fault: %v %v", resp, err)
	}
	resp.Body.Close()
	code, body := get(t, lic+"?key=key-abcdef", "Authorization", "Bearer tok-123456")
	var doc csi.LicensesDoc
	if err := json.Unmarshal(body, &doc); code != 200 || err != nil || len(doc.Licenses) != 12 || doc.GeneratedAt != "2026-12-02T11:00:00Z" {
		t.Fatalf("%d %v %s", code, err, body)
	}
	// The tiers do not churn unless asked.
	var st simulator.ControlState
	_, b := get(t, r.base+"/-/control")
	if err := json.Unmarshal(b, &st); err != nil || st.Sessions != 60 {
		t.Fatalf("%s", b)
	}
	if code, _ := get(t, r.base+"/-/healthy"); code != 200 {
		t.Fatalf("healthy: %d", code)
	}
	if code := r.stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	logs := r.stderr.String()
	if !strings.Contains(logs, "token_required=true") || !strings.Contains(logs, `path=/api/license-monitor/v1/licenses`) {
		t.Fatalf("logs lack the startup or request lines:\n%s", logs)
	}
	if strings.Contains(logs, "tok-123456") || strings.Contains(logs, "key-abcdef") {
		t.Fatalf("a secret is in the logs:\n%s", logs)
	}
}

func TestChurnDefaults(t *testing.T) {
	cases := []struct {
		args []string
		want bool
	}{
		{[]string{"--scale=demo"}, true},
		{[]string{"--scale=large"}, false},
		{[]string{"--scale=small", "--churn"}, true},
		{[]string{"--scale=demo", "--no-churn"}, false},
	}
	// The negated flag exists.
	if code := runInProcess(t, "--no-churn", "--log.level=warn").stop(); code != 0 {
		t.Fatalf("--no-churn: exit %d", code)
	}
	for _, c := range cases {
		tier := simulator.Tier(strings.TrimPrefix(c.args[0], "--scale="))
		churn, set := false, len(c.args) > 1
		if set {
			churn = c.args[1] == "--churn"
		}
		opts, _, err := options(1, 1, "", "", time.Now(), tier, churn, set, "", "", "", "UTC")
		if err != nil || opts.Churn != c.want {
			t.Errorf("%v: churn %v, %v", c.args, opts.Churn, err)
		}
	}
}

// The demo's clock: a relative start counts back from --now (or the real
// clock) in the account's zone, and --now may not lie in the future.
func TestStartTimeAndNow(t *testing.T) {
	real := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC) // a Wednesday
	cases := []struct {
		start, now, zone, want string
	}{
		{"", "", "UTC", ""}, // zero: the simulator takes the real clock
		{"weekday-10:30", "", "UTC", "2026-12-01T10:30:00Z"},
		{"weekday-10:30", "2026-12-02T03:00:00Z", "UTC", "2026-12-01T10:30:00Z"},
		{"weekday-10:30", "2026-11-29T03:00:00Z", "UTC", "2026-11-27T10:30:00Z"}, // a Sunday
		{"weekday-10:30", "2026-12-02T03:00:00Z", "Asia/Tokyo", "2026-12-02T01:30:00Z"},
		{"", "2026-12-02T03:00:00Z", "UTC", "2026-12-02T03:00:00Z"},
		{"2026-06-01T12:00:00Z", "2026-12-02T03:00:00Z", "UTC", "2026-06-01T12:00:00Z"},
	}
	for _, c := range cases {
		opts, _, err := options(1, 1, c.start, c.now, real, simulator.TierDemo, false, false, "", "", "", c.zone)
		if err != nil {
			t.Errorf("start %q now %q: %v", c.start, c.now, err)
			continue
		}
		got := ""
		if !opts.Start.IsZero() {
			got = opts.Start.UTC().Format(time.RFC3339)
		}
		if got != c.want {
			t.Errorf("start %q now %q in %s: %q, want %q", c.start, c.now, c.zone, got, c.want)
		}
	}
	_, _, err := options(1, 1, "weekday-10:30", "2026-12-02T07:00:01Z", real, simulator.TierDemo, false, false, "", "", "", "UTC")
	if err == nil || !strings.Contains(err.Error(), "later than the real clock") {
		t.Errorf("--now a second in the future: %v", err)
	}
}

func TestBadFlags(t *testing.T) {
	empty := writeFile(t, "empty", " \n")
	for _, args := range [][]string{
		{"--scale=giant"}, {"--start-time=yesterday"}, {"--start-time=weekday-9am"}, {"--now=3am"},
		{"--now=2999-01-01T00:00:00Z", "--start-time=weekday-10:30"}, {"--speed=0"}, {"--speed=-2"}, {"--timezone=Mars/Olympus"},
		{"--token-file=/nonexistent/token"}, {"--api-key-file=" + empty}, {"--fault=explode"},
		{`--fault={"kind":"latency","latency":"x"}`}, {"--web.listen-address=256.0.0.1:1"}, {"--no-such-flag"},
	} {
		var stderr testenv.LockedBuffer
		code := run(context.Background(), args, io.Discard, &stderr, func(net.Addr) { t.Errorf("%v: started", args) })
		if code == 0 {
			t.Errorf("%v: exit 0", args)
		}
		if stderr.String() == "" {
			t.Errorf("%v: no message", args)
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	for _, arg := range []string{"--version", "--help"} {
		var out bytes.Buffer
		code := run(context.Background(), []string{arg}, &out, io.Discard, func(net.Addr) { t.Errorf("%s: started", arg) })
		if code != 0 || !strings.Contains(out.String(), "license_simulator") {
			t.Errorf("%s: %d %q", arg, code, out.String())
		}
	}
}

func TestFaultFlagJSON(t *testing.T) {
	r := runInProcess(t, `--fault={"kind":"http_5xx","status":503,"endpoints":["sessions"]}`, "--log.level=warn")
	if code, _ := get(t, r.base+simulator.APIPrefix+"/sessions"); code != 503 {
		t.Fatalf("sessions: %d", code)
	}
	if code, _ := get(t, r.base+simulator.APIPrefix+"/licenses"); code != 200 {
		t.Fatalf("licenses: %d", code)
	}
}

// The built binary stops cleanly on SIGTERM, even with a request held by
// the hang fault.
func TestBinarySIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "license_simulator")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--web.listen-address=127.0.0.1:0", "--fault=hang", "--scale=small", testenv.DefaultStart)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	addrRE := regexp.MustCompile(`address=(127\.0\.0\.1:\d+)`)
	var addr string
	for sc.Scan() {
		if m := addrRE.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	if addr == "" {
		t.Fatal("no address in the log")
	}
	go func() { // keep draining so the child never blocks on its log
		for sc.Scan() {
		}
	}()
	held := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + addr + simulator.APIPrefix + "/licenses")
		if err != nil {
			held <- -1
			return
		}
		resp.Body.Close()
		held <- resp.StatusCode
	}()
	// Wait until the request is in (the control API still answers).
	for i := 0; ; i++ {
		_, b := get(t, "http://"+addr+"/-/control")
		if bytes.Contains(b, []byte(`"licenses":1`)) {
			break
		}
		if i > 1000 {
			t.Fatal("the request never arrived")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if code := <-held; code != 503 {
		t.Fatalf("held request got %d, want 503", code)
	}
}

// TestControlOnItsOwnAddress: with --web.control-listen-address the main
// address serves the API without the control API, and the control
// address the control API without the API.
func TestControlOnItsOwnAddress(t *testing.T) {
	ctrl := testenv.FreeAddr(t)
	r := runInProcess(t, "--scale=small", "--web.control-listen-address="+ctrl)
	if code, _ := get(t, r.base+simulator.APIPrefix+"/licenses"); code != http.StatusOK {
		t.Errorf("API on the main address: %d", code)
	}
	if code, _ := get(t, r.base+"/-/control"); code != http.StatusNotFound {
		t.Errorf("control API on the main address: %d, want 404", code)
	}
	if code, _ := get(t, "http://"+ctrl+"/-/control"); code != http.StatusOK {
		t.Errorf("control API on its address: %d", code)
	}
	if code, _ := get(t, "http://"+ctrl+simulator.APIPrefix+"/licenses"); code != http.StatusNotFound {
		t.Errorf("API on the control address: %d, want 404", code)
	}
	if code := r.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
	if _, err := net.Dial("tcp", ctrl); err == nil {
		t.Error("the control address still listens after the stop")
	}
}
