package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/license-monitor/license-monitor/internal/simulator"
	"github.com/license-monitor/license-monitor/internal/testenv"
)

func (r *running) post(t *testing.T, path, body string) {
	t.Helper()
	resp, err := http.Post(r.base+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
	}
}

func (r *running) get(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := http.Get(r.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

func lmutilRun(args ...string) (string, string, int) {
	var out, errOut bytes.Buffer
	code := runLmutil(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestFakeLmutil(t *testing.T) {
	r := runInProcess(t)
	// The clock stands still, so two reads print the same minute.
	r.post(t, "/-/control/clock", `{"paused":true}`)
	port := r.base[strings.LastIndex(r.base, ":")+1:]
	dead := testenv.FreeAddr(t)
	deadPort := dead[strings.LastIndex(dead, ":")+1:]
	want := string(r.get(t, simulator.PathLmstat))
	if !strings.Contains(want, "Users of KS_SOLVER:") {
		t.Fatalf("the simulator's lmstat: %q", want)
	}

	out, errOut, code := lmutilRun("lmstat", "-a", "-c", port+"@127.0.0.1")
	if code != 0 || out != want || errOut != "" {
		t.Fatalf("lmstat: exit %d, stderr %q, output equal %v", code, errOut, out == want)
	}
	// A triad list: the first entry does not answer, the next does.
	if out, _, code := lmutilRun("lmstat", "-a", "-c", deadPort+"@127.0.0.1,"+port+"@127.0.0.1"); code != 0 || out != want {
		t.Fatalf("lmstat with a dead first server: exit %d", code)
	}
	out, _, code = lmutilRun("lmstat", "-a", "-c", deadPort+"@127.0.0.1")
	wantDown := simulator.LmutilBanner + "\n\nError getting status: " + `Cannot connect to license server system. (-15,570:111 "Connection refused")` + "\n"
	if code != 1 || out != wantDown {
		t.Fatalf("nothing reachable: exit %d, %q", code, out)
	}
	r.post(t, "/-/control/flexlm/fault", `{"kind":"down"}`)
	if out, _, code := lmutilRun("lmstat", "-a", "-c", port+"@127.0.0.1"); code != 1 || !strings.Contains(out, "Error getting status: Cannot connect") {
		t.Fatalf("down: exit %d, %q", code, out)
	}
	r.post(t, "/-/control/flexlm/fault", `{"kind":"none"}`)

	var acct simulator.FlexLMAccount
	if err := json.Unmarshal(r.get(t, "/-/control/flexlm"), &acct); err != nil {
		t.Fatal(err)
	}
	var bob simulator.FlexLMSessionInfo
	for _, x := range acct.Sessions {
		if x.User == simulator.FlexBobUser && x.Feature == "KS_SOLVER" {
			bob = x
		}
	}
	out, _, code = lmutilRun("lmremove", "-c", port+"@127.0.0.1", "-h", "KS_SOLVER", bob.Server, bob.Port, bob.Handle)
	if code != 0 || out != simulator.LmutilBanner+"\n" {
		t.Fatalf("lmremove: exit %d, %q", code, out)
	}
	out, _, code = lmutilRun("lmremove", "-c", port+"@127.0.0.1", "-h", "KS_SOLVER", bob.Server, bob.Port, bob.Handle)
	if code != 1 || !strings.Contains(out, "no checkout of KS_SOLVER") {
		t.Fatalf("lmremove again: exit %d, %q", code, out)
	}
	var st simulator.ControlState
	if err := json.Unmarshal(r.get(t, "/-/control"), &st); err != nil {
		t.Fatal(err)
	}
	if calls := st.FlexLM.Lmremove; len(calls) != 2 || calls[0].Result != simulator.LmremoveRemoved || calls[0].Handle != bob.Handle ||
		calls[1].Result != simulator.LmremoveNotFound {
		t.Fatalf("recorded: %+v", calls)
	}
	if out, _, code := lmutilRun("lmremove", "-c", deadPort+"@127.0.0.1", "-h", "KS_SOLVER", "flex-a", "27000", "1"); code != 1 ||
		!strings.Contains(out, "Cannot connect") {
		t.Fatalf("lmremove, nothing reachable: exit %d, %q", code, out)
	}

	for _, args := range [][]string{nil, {"lmstat", "-a"}, {"lmstat", "-c", "lic-a"}, {"lmstat", "-c", "0@x"}, {"lmdown", "-c", port + "@127.0.0.1"},
		{"lmstat", "-a", "-c", port + "@127.0.0.1", "-z"}, {"lmremove", "-c", port + "@127.0.0.1"}, {"lmstat", "-c", "1@h/x"}} {
		if out, errOut, code := lmutilRun(args...); code != 1 || out != "" || !strings.HasPrefix(errOut, "lmutil: ") {
			t.Errorf("%q: exit %d, %q, %q", args, code, out, errOut)
		}
	}
}

// TestFakeLmutilBinary runs the built program both ways it becomes lmutil
// (a symlink named lmutil, the lmutil subcommand) with an empty
// environment: it needs none.
func TestFakeLmutilBinary(t *testing.T) {
	r := runInProcess(t)
	r.post(t, "/-/control/clock", `{"paused":true}`)
	port := r.base[strings.LastIndex(r.base, ":")+1:]
	want := string(r.get(t, simulator.PathLmstat))
	dead := testenv.FreeAddr(t)
	for _, argv := range [][]string{
		{testenv.Lmutil(t), "lmstat", "-a", "-c", port + "@127.0.0.1"},
		{testenv.Binary(t, "license_simulator"), "lmutil", "lmstat", "-a", "-c", port + "@127.0.0.1"},
	} {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = []string{}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || string(out) != want || stderr.Len() != 0 {
			t.Errorf("%q: %v, stderr %q, output equal %v", argv[1:], err, stderr.String(), string(out) == want)
		}
	}
	cmd := exec.Command(testenv.Lmutil(t), "lmstat", "-a", "-c", strings.Split(dead, ":")[1]+"@127.0.0.1")
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "Error getting status: Cannot connect") {
		t.Errorf("nothing reachable: %v, %q", err, out)
	}
}
