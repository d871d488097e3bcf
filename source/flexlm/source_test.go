package flexlm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/testenv"
	"github.com/license-monitor/license-monitor/source"
)

var (
	fakeOnce sync.Once
	fakeBin  string
	fakeErr  error
)

// buildFake builds testdata/fakelmutil once per test binary.
func buildFake(t *testing.T) string {
	t.Helper()
	fakeOnce.Do(func() {
		goCmd, err := exec.LookPath("go")
		if err != nil {
			fakeErr = err
			return
		}
		dir, err := os.MkdirTemp("", "fakelmutil")
		if err != nil {
			fakeErr = err
			return
		}
		fakeBin = filepath.Join(dir, "fakelmutil")
		out, err := exec.Command(goCmd, "build", "-o", fakeBin, "./testdata/fakelmutil").CombinedOutput()
		if err != nil {
			fakeErr = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if fakeErr != nil {
		t.Fatalf("building the fake lmutil: %v", fakeErr)
	}
	return fakeBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fakeBin != "" {
		os.RemoveAll(filepath.Dir(fakeBin))
	}
	os.Exit(code)
}

// fake is one test's lmutil: a link to the fake program with its own
// mode, log and pid files.
type fake struct{ path string }

func newFake(t *testing.T, mode string) fake {
	bin := buildFake(t)
	f := fake{path: filepath.Join(t.TempDir(), "lmutil")}
	if err := os.Symlink(bin, f.path); err != nil {
		t.Fatal(err)
	}
	f.setMode(t, mode)
	return f
}

func (f fake) setMode(t *testing.T, mode string) {
	if err := os.WriteFile(f.path+".mode", []byte(mode), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (f fake) log(t *testing.T) string {
	b, err := os.ReadFile(f.path + ".log")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fixturePath(t *testing.T, name string) string {
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newSource(t *testing.T, f fake, mut func(*Config)) *Source {
	t.Helper()
	c := NewConfig()
	c.LicenseServer = "27000@lic-a,27000@lic-b,27000@lic-c"
	c.Lmutil = f.path
	c.Timezone = "America/Chicago"
	if mut != nil {
		mut(c)
	}
	if err := c.Validate(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return parseAt }
	return s
}

// The poll's exact argv and environment: no shell, nothing inherited but
// PATH, so LM_LICENSE_FILE and secrets do not reach lmutil.
func TestRunnerArgvAndEnvironment(t *testing.T) {
	t.Setenv("LM_LICENSE_FILE", "27000@secret-host")
	t.Setenv("CSI_TOKEN", "s3cret")
	f := newFake(t, "cat "+fixturePath(t, "triad.txt"))
	s := newSource(t, f, nil)
	if _, err := s.Licenses(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("args %q\nenv %q\n",
		[]string{"lmstat", "-a", "-c", "27000@lic-a,27000@lic-b,27000@lic-c"},
		[]string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C", "TZ=America/Chicago"})
	if got := f.log(t); got != want {
		t.Errorf("lmutil ran with\n%s\nwant\n%s", got, want)
	}
}

// One lmstat run answers a poll's Licenses, EachSession and Extra; the
// next poll runs it again.
func TestOneRunPerPoll(t *testing.T) {
	f := newFake(t, "cat "+fixturePath(t, "triad.txt"))
	s := newSource(t, f, nil)
	ctx := context.Background()
	for poll := 1; poll <= 2; poll++ {
		var wg sync.WaitGroup
		wg.Add(2)
		var licErr, sessErr error
		sessions := 0
		go func() { defer wg.Done(); _, licErr = s.Licenses(ctx) }()
		go func() {
			defer wg.Done()
			sessErr = s.EachSession(ctx, func(*source.Session) { sessions++ })
		}()
		wg.Wait()
		if _, err := s.Extra(ctx); licErr != nil || sessErr != nil || err != nil || sessions != 7 {
			t.Fatalf("poll %d: %v %v %v, %d sessions", poll, licErr, sessErr, err, sessions)
		}
		if runs := strings.Count(f.log(t), "args "); runs != poll {
			t.Fatalf("after poll %d: %d runs", poll, runs)
		}
	}
	// A finished run no longer serves a call that comes long after it.
	now := parseAt.Add(reuseWindow + time.Second)
	s.mu.Lock()
	s.now = func() time.Time { return now }
	s.mu.Unlock()
	s.cur.used[kindExtra] = false
	if _, err := s.Extra(ctx); err != nil {
		t.Fatal(err)
	}
	if runs := strings.Count(f.log(t), "args "); runs != 3 {
		t.Errorf("a stale run was reused: %d runs", runs)
	}
}

// The timeout kills lmutil's whole process group: the child it started
// does not outlive the poll. The poll's context ends once both processes
// are running (their pids written), not after a fixed time, so a slow
// start on a busy machine cannot pass the deadline first.
func TestRunnerTimeoutKillsTheGroup(t *testing.T) {
	f := newFake(t, "sleep")
	s := newSource(t, f, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.Licenses(ctx)
		done <- err
	}()
	waitForFile(t, f.path+".pids")
	start := time.Now()
	cancel()
	err := <-done
	if source.ReasonOf(err) != source.ReasonTimeout {
		t.Fatalf("err %v, want timeout", err)
	}
	// The fake sleeps a minute: a run that waited for it took that long.
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("the run took %s after its deadline", took)
	}
	assertGone(t, f)
}

// waitForFile waits for path to exist with content.
func waitForFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 && b[len(b)-1] == '\n' {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not written within a minute", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lmutil that exits but leaves a child holding its output: the run ends
// within waitDelay with the output, and the child is killed.
func TestRunnerKillsLeftoverChildren(t *testing.T) {
	f := newFake(t, "orphan "+fixturePath(t, "triad.txt"))
	s := newSource(t, f, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snap, err := s.Licenses(ctx)
	if err != nil || len(snap.Licenses) != 4 {
		t.Fatalf("%v, %+v", err, snap)
	}
	assertGone(t, f)
}

// assertGone waits for the pids the fake wrote to be gone (or zombies,
// awaiting init's reaping).
func assertGone(t *testing.T, f fake) {
	t.Helper()
	b, err := os.ReadFile(f.path + ".pids")
	if err != nil {
		t.Fatal(err)
	}
	pids := strings.Fields(string(b))
	if len(pids) != 2 {
		t.Fatalf("pids %q", pids)
	}
	deadline := time.Now().Add(time.Minute)
	for _, p := range pids {
		pid, _ := strconv.Atoi(p)
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d of lmutil's group is still running", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	pgid, _ := strconv.Atoi(pids[0])
	if err := syscall.Kill(-pgid, 0); err == nil && groupHasLiving(pgid) {
		t.Errorf("process group %d still has members", pgid)
	}
}

func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command's closing parenthesis.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func groupHasLiving(pgid int) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+1:])
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			return true
		}
	}
	return false
}

func TestRunnerTooLarge(t *testing.T) {
	f := newFake(t, "huge")
	s := newSource(t, f, func(c *Config) { c.MaxResponseBytes = 1 << 20 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := s.Licenses(ctx)
	if source.ReasonOf(err) != source.ReasonTooLarge || !strings.Contains(err.Error(), "1048576") {
		t.Fatalf("err %v, want too_large", err)
	}
}

// How each answer is classified.
func TestPollReasons(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want source.Reason
	}{
		{"cat triad.txt", ""},    // one triad member down: still up
		{"exit 1 triad.txt", ""}, // lmstat's non-zero exit with a server up
		{"cat down.txt", source.ReasonConnection},
		{"exit 1 down.txt", source.ReasonConnection},
		{"exit 1 empty", source.ReasonConnection},     // nothing printed at all
		{"cat no-server-lines.txt", ""},               // features without server lines: answered
		{"cat status-only.txt", source.ReasonInvalid}, // a header, then nothing
		{"cat garbage.txt", source.ReasonDecode},
		{"cat empty", source.ReasonDecode},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			parts := strings.Fields(tc.mode)
			last := len(parts) - 1
			if parts[last] == "empty" {
				parts[last] = filepath.Join(t.TempDir(), "none")
			} else {
				parts[last] = fixturePath(t, parts[last])
			}
			t.Setenv("LM_LICENSE_FILE", "27000@s3cret-host")
			s := newSource(t, newFake(t, strings.Join(parts, " ")), nil)
			_, err := s.Licenses(context.Background())
			if got := source.ReasonOf(err); got != tc.want || (tc.want != "" && err == nil) {
				t.Fatalf("err %v (reason %q), want %q", err, got, tc.want)
			}
			if err != nil && (strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "/opt/flexlm")) {
				t.Errorf("the error shows the environment or a license file path: %v", err)
			}
		})
	}
}

// lmutil missing, not executable, or lacking its ELF loader: plain words
// from CheckLmutil, and the configuration-problem reason from a poll.
func TestLmutilProblems(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "lmutil-noexec")
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
	lsb := testenv.LSBProgram(t, dir)
	for _, tc := range []struct{ lmutil, want string }{
		{filepath.Join(dir, "nope"), "does not exist"},
		{"lmutil-not-on-path-anywhere", "was not found on PATH"},
		{notExec, "is not executable"},
		{dir, "is not a regular file"},
		{lsb, "needs the ELF loader /lib64/ld-lsb-x86-64.so.3, which is missing"},
	} {
		t.Run(filepath.Base(tc.lmutil), func(t *testing.T) {
			if tc.lmutil == lsb && lsb == "" {
				t.Skip("no dynamically linked program to patch")
			}
			err := CheckLmutil(tc.lmutil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckLmutil: %v, want %q", err, tc.want)
			}
			s := newSource(t, fake{path: tc.lmutil}, nil)
			_, err = s.Licenses(context.Background())
			if source.ReasonOf(err) != source.ReasonHTTP4xx || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("poll: %v, want http_4xx and %q", err, tc.want)
			}
		})
	}
	if err := CheckLmutil(buildFake(t)); err != nil {
		t.Errorf("a runnable lmutil: %v", err)
	}
}

func TestMappingOfTriad(t *testing.T) {
	f := newFake(t, "cat "+fixturePath(t, "triad.txt"))
	s := newSource(t, f, nil)
	ctx := context.Background()
	snap, err := s.Licenses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range snap.Licenses {
		exp := "never"
		if !l.ExpiresAt.IsZero() {
			exp = l.ExpiresAt.In(chicago).Format("2006-01-02")
		}
		got = append(got, fmt.Sprintf("%s product=%s version=%s type=%s issued=%d in_use=%d checked_out=%d expiry=%s", l.ID, l.Product, l.Version, l.Type, l.Seats, l.InUse, l.CheckedOut, exp))
	}
	want := []string{
		"csi:ETABS product=ETABS version=21.0 type=floating issued=10 in_use=7 checked_out=1 expiry=2026-12-31",
		"csi:SAP2000 product=SAP2000 version=24.0 type=mixed issued=6 in_use=4 checked_out=0 expiry=2026-06-30",
		"csi:SAFE product=SAFE version=22.0 type=uncounted issued=0 in_use=1 checked_out=0 expiry=never",
		"csi:CSiCol product=CSiCol version= type=floating issued=5 in_use=0 checked_out=0 expiry=never",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("licenses\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	got = nil
	var sessions []source.Session
	err = s.EachSession(ctx, func(ss *source.Session) {
		sessions = append(sessions, *ss)
		co := ""
		if ss.CheckedOut {
			co = " checked_out until " + ss.CheckoutExpiresAt.In(chicago).Format("2006-01-02 15:04")
		}
		got = append(got, fmt.Sprintf("%s %s@%s display=%q start=%s%s", ss.LicenseID, ss.User, ss.Host, ss.DisplayName, ss.StartedAt.In(chicago).Format("2006-01-02 15:04"), co))
	})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{
		`csi:ETABS alice@ws-01 display="ws-01:0.0" start=2026-03-02 09:41`,
		`csi:ETABS bob@ws-02 display="/dev/pts/3 tmux" start=2025-12-31 16:00`,
		// 30 days of seconds, across the change to daylight saving time.
		`csi:ETABS carol@laptop-7 display="laptop-7" start=2025-03-04 09:00 checked_out until 2025-04-03 10:00`,
		`csi:ETABS dan@ws-04 display="ws-04" start=2026-03-04 10:02`,
		`csi:SAP2000 gina@ws-10 display="ws-10" start=2026-03-02 08:00`,
		`csi:SAP2000 ivan@bench-1 display="bench-1" start=2026-02-26 17:30`,
		`csi:SAFE judy@lab-3 display="lab-3" start=2026-03-04 07:15`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("sessions\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	ids := map[string]bool{}
	for _, ss := range sessions {
		if !strings.HasPrefix(ss.ID, "flexlm-") || len(ss.ID) != len("flexlm-")+32 || ids[ss.ID] {
			t.Errorf("session id %q", ss.ID)
		}
		ids[ss.ID] = true
	}

	extra, err := s.Extra(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, x := range extra {
		var labels []string
		for _, l := range x.Labels {
			labels = append(labels, l.Name+"="+strconv.Quote(l.Value))
		}
		got = append(got, fmt.Sprintf("%s{%s} %g", x.Name, strings.Join(labels, ","), x.Value))
	}
	want = []string{
		`license_server_up{server="lic-a"} 1`,
		`license_server_up{server="lic-b"} 1`,
		`license_server_up{server="lic-c"} 0`,
		`license_vendor_daemon_up{vendor="csi"} 1`,
		`license_vendor_daemon_up{vendor="ansyslmd"} 0`,
		`license_seats_reserved{license_id="csi:ETABS",product="ETABS",edition="",license_type="floating"} 2`,
		`license_queued_requests{license_id="csi:ETABS",product="ETABS",edition="",license_type="floating"} 2`,
		`license_seats_reserved{license_id="csi:SAP2000",product="SAP2000",edition="",license_type="mixed"} 2`,
		`license_queued_requests{license_id="csi:SAP2000",product="SAP2000",edition="",license_type="mixed"} 0`,
		`license_seats_reserved{license_id="csi:SAFE",product="SAFE",edition="",license_type="uncounted"} 0`,
		`license_queued_requests{license_id="csi:SAFE",product="SAFE",edition="",license_type="uncounted"} 0`,
		`license_seats_reserved{license_id="csi:CSiCol",product="CSiCol",edition="",license_type="floating"} 0`,
		`license_queued_requests{license_id="csi:CSiCol",product="CSiCol",edition="",license_type="floating"} 0`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("extra series\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The id hashes the start too: the same handle reused by a later
// checkout is another session.
func TestSessionIDIsStable(t *testing.T) {
	u := User{Name: "alice", Host: "ws-01", Server: "lic-a", Port: "27000", Handle: "101", Start: at(2026, 3, 2, 9, 41)}
	id := sessionID("27000@lic-a", "ETABS", &u)
	if id != sessionID("27000@lic-a", "ETABS", &u) {
		t.Fatal("not stable")
	}
	for name, mod := range map[string]func(*User) (string, string){
		"start":         func(u *User) (string, string) { u.Start = u.Start.Add(time.Minute); return "27000@lic-a", "ETABS" },
		"handle":        func(u *User) (string, string) { u.Handle = "102"; return "27000@lic-a", "ETABS" },
		"user":          func(u *User) (string, string) { u.Name = "alicf"; return "27000@lic-a", "ETABS" },
		"host":          func(u *User) (string, string) { u.Host = "ws-02"; return "27000@lic-a", "ETABS" },
		"feature":       func(u *User) (string, string) { return "27000@lic-a", "SAFE" },
		"server":        func(u *User) (string, string) { return "27000@lic-b", "ETABS" },
		"lmstat server": func(u *User) (string, string) { u.Server = "lic-b"; return "27000@lic-a", "ETABS" },
		"port":          func(u *User) (string, string) { u.Port = "27001"; return "27000@lic-a", "ETABS" },
		// Length-prefixed parts: moving a character across a boundary
		// changes the id.
		"boundary": func(u *User) (string, string) { u.Name, u.Host = "alicew", "s-01"; return "27000@lic-a", "ETABS" },
	} {
		v := u
		srv, feat := mod(&v)
		if sessionID(srv, feat, &v) == id {
			t.Errorf("%s: same id", name)
		}
	}
}

// mapStatus hashes each feature's server part once per server and keeps
// four; past them, and across features, the ids are still sessionID's.
func TestMapStatusSessionIDs(t *testing.T) {
	var users []User
	for i := range 40 {
		users = append(users, User{Name: fmt.Sprintf("u%d", i%3), Host: "ws", Server: fmt.Sprintf("lic-%d", i%6),
			Port: "27000", Handle: strconv.Itoa(100 + i%5), Start: at(2026, 3, 2, 9, i%7)})
	}
	st := &Status{Features: []Feature{
		{Name: "A", Issued: 40, InUse: 20, Blocks: []Block{{Vendor: "v", Users: users[:20]}}},
		{Name: "B", Issued: 40, InUse: 20, Blocks: []Block{{Vendor: "v", Users: users[20:30]}, {Users: users[30:]}}},
	}}
	snap := mapStatus(st, "27000@lic-0", nil)
	if len(snap.sessions) != len(users) {
		t.Fatalf("%d sessions", len(snap.sessions))
	}
	ids := map[string]bool{}
	for i, s := range snap.sessions {
		u := &users[i]
		if want := sessionID("27000@lic-0", snap.licenses[s.lic].Product, u); s.ID != want || len(s.ID) != sessionIDLen {
			t.Errorf("session %d: id %s, want %s", i, s.ID, want)
		}
		ids[s.ID] = true
	}
	if len(ids) != len(users) {
		t.Errorf("%d distinct ids of %d sessions", len(ids), len(users))
	}
}

func TestTerminable(t *testing.T) {
	var s Source
	for _, tc := range []struct {
		checkedOut bool
		typ        string
		ok         bool
		code       string
	}{
		{false, TypeFloating, true, ""},
		{true, TypeFloating, false, source.CodeCheckedOut},
		{false, TypeNodelocked, false, source.CodeNotTerminable},
		{false, TypeUncounted, false, source.CodeNotTerminable},
		{false, TypeMixed, false, source.CodeNotTerminable},
		{false, "", false, source.CodeNotTerminable},
	} {
		ok, code := s.Terminable(&source.Session{CheckedOut: tc.checkedOut}, tc.typ)
		if ok != tc.ok || code != tc.code {
			t.Errorf("%v %q: %v %q", tc.checkedOut, tc.typ, ok, code)
		}
	}
}

// Terminate reads lmstat afresh, finds the session by its id and runs
// lmremove with the exact argv; stale, borrowed and node-locked sessions
// are refused without running lmremove.
func TestTerminate(t *testing.T) {
	f := newFake(t, "cat "+fixturePath(t, "triad.txt"))
	s := newSource(t, f, nil)
	ctx := context.Background()
	ids := map[string]string{}
	if err := s.EachSession(ctx, func(ss *source.Session) { ids[ss.User] = ss.ID }); err != nil {
		t.Fatal(err)
	}
	if err := s.Terminate(ctx, ids["dan"]); err != nil {
		t.Fatal(err)
	}
	log := f.log(t)
	wantLast := fmt.Sprintf("args %q\n", []string{"lmremove", "-c", "27000@lic-a,27000@lic-b,27000@lic-c", "-h", "ETABS", "lic-b", "27000", "404"})
	if !strings.Contains(log, wantLast) || strings.Count(log, "args ") != 3 {
		t.Errorf("log\n%s\nwant the third run to be\n%s", log, wantLast)
	}
	for _, tc := range []struct {
		id     string
		status int
		code   string
	}{
		{ids["carol"], 409, source.CodeCheckedOut},
		{ids["ivan"], 409, source.CodeNotTerminable},
		{ids["judy"], 409, source.CodeNotTerminable},
		{"flexlm-0123456789abcdef0123456789abcdef", 404, ""},
	} {
		err := s.Terminate(ctx, tc.id)
		var e *source.Error
		if !errors.As(err, &e) || e.Status != tc.status || e.Code != tc.code {
			t.Errorf("%s: %v", tc.id, err)
		}
	}
	if n := strings.Count(f.log(t), "lmremove"); n != 1 {
		t.Errorf("lmremove ran %d times", n)
	}
	// An argument that would read as an option is never passed.
	if _, ok := lmremoveArgs("27000@lic-a", "-x", &User{Server: "lic-a", Port: "27000", Handle: "1"}); ok {
		t.Error("an option-like feature was accepted")
	}
	if _, ok := lmremoveArgs("27000@lic-a", "F", &User{Server: "lic-a", Port: "27000", Handle: "1 2"}); ok {
		t.Error("a handle with a space was accepted")
	}
}

func TestRegisteredAsFlexLM(t *testing.T) {
	cfg, err := source.NewConfig(Type)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.(*Config)
	if c.Lmutil != "lmutil" || c.MaxResponseBytes != DefaultMaxResponseBytes {
		t.Errorf("defaults %+v", c)
	}
	c.LicenseServer = "27000@lic-a"
	if err := c.Validate(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if c.Location() != time.Local {
		t.Errorf("zone %v", c.Location())
	}
	src, err := source.New(Type, c, source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.(source.ExtraSeries); !ok || src.Host() != "27000@lic-a" {
		t.Errorf("%T on %q", src, src.Host())
	}
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no server", func(c *Config) { c.LicenseServer = "" }, "license_server: required"},
		{"a file path", func(c *Config) { c.LicenseServer = "/opt/flexlm/license.dat" }, "entry 1 is not port@host"},
		{"bad port", func(c *Config) { c.LicenseServer = "27000@a,70000@b" }, "entry 2: port"},
		{"option-like host", func(c *Config) { c.LicenseServer = "27000@-x" }, "entry 1: host"},
		{"spaces", func(c *Config) { c.LicenseServer = "27000@a b" }, "host"},
		{"too many", func(c *Config) { c.LicenseServer = strings.Repeat("1@a,", 8) + "1@a" }, "at most 8"},
		{"zone", func(c *Config) { c.Timezone = "Mars/Olympus" }, "timezone"},
		{"max bytes", func(c *Config) { c.MaxResponseBytes = 0 }, "max_response_bytes"},
		{"denials dir", func(c *Config) { c.DenialsLog = "." }, "is a directory"},
		{"triad", func(c *Config) { c.LicenseServer = "27000@lic-a,27000@lic-b,27000@10.0.0.3" }, ""},
		{"default port", func(c *Config) { c.LicenseServer = "@lic-a" }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConfig()
			c.LicenseServer = "27000@lic-a"
			tc.mod(c)
			err := c.Validate(dir)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	c := NewConfig()
	c.LicenseServer, c.Lmutil, c.DenialsLog = "27000@a", "bin/lmutil", "logs/csi.log"
	if err := c.Validate(dir); err != nil || c.Lmutil != filepath.Join(dir, "bin/lmutil") || c.DenialsLogPath() != filepath.Join(dir, "logs/csi.log") {
		t.Errorf("relative paths: %v, %q, %q", err, c.Lmutil, c.DenialsLogPath())
	}
}

// A poll whose deadline passed before lmutil started is a timeout, not a
// configuration problem.
func TestExpiredContextIsATimeout(t *testing.T) {
	f := newFake(t, "cat "+fixturePath(t, "triad.txt"))
	s := newSource(t, f, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Licenses(ctx); source.ReasonOf(err) != source.ReasonTimeout {
		t.Fatalf("err %v, want timeout", err)
	}
	if _, err := os.Stat(f.path + ".log"); err == nil {
		t.Error("lmutil ran after the deadline")
	}
}

// A feature none of whose seats is in use has no version block: its
// vendor is the only daemon up, or unknown.
func TestVendorOfUnusedFeatures(t *testing.T) {
	for _, tc := range []struct {
		vendors []Vendor
		want    string
	}{
		{[]Vendor{{Name: "csi", Up: true}, {Name: "ansyslmd"}}, "csi"},
		{[]Vendor{{Name: "csi", Up: true}, {Name: "ansyslmd", Up: true}}, ""},
		{[]Vendor{{Name: "csi", Up: true}, {Name: "csi", Up: true}}, "csi"},
		{[]Vendor{{Name: "csi"}}, ""},
		{nil, ""},
	} {
		if got := vendorOfUnusedFeatures(tc.vendors); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.vendors, got, tc.want)
		}
	}
}

// A feature whose seats are all free has no version block, so no vendor;
// with two vendor daemons up, the vendor a block named earlier keeps its
// license_id.
func TestUnusedFeatureKeepsItsVendor(t *testing.T) {
	const head = "License server status: 27000@lic-a\n lic-a: license server UP v11.19.0\nVendor daemon status (on lic-a):\n csi: UP v11.19.0\n ansyslmd: UP v11.19.0\nFeature usage info:\n"
	used := head + "Users of F:  (Total of 2 licenses issued;  Total of 1 license in use)\n  \"F\" v1.0, vendor: ansyslmd, expiry: permanent\n  floating license\n    u h d (v1.0) (lic-a/27000 1), start Wed 3/4 9:00\n"
	unused := head + "Users of F:  (Total of 2 licenses issued;  Total of 0 licenses in use)\n"
	ids := func(out string, known map[string]string) string {
		st, err := Parse([]byte(out), parseAt, chicago)
		if err != nil {
			t.Fatal(err)
		}
		return mapStatus(st, "27000@lic-a", known).licenses[0].ID
	}
	if got := ids(unused, map[string]string{}); got != ":F" {
		t.Errorf("never seen: %q", got)
	}
	known := map[string]string{}
	if got := ids(used, known); got != "ansyslmd:F" {
		t.Errorf("in use: %q", got)
	}
	if got := ids(unused, known); got != "ansyslmd:F" {
		t.Errorf("unused after: %q", got)
	}
}
