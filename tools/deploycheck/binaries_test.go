package deploycheck

import (
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/license-monitor/license-monitor/internal/testenv"
)

var (
	flagsMu    sync.Mutex
	flagsCache = map[string]map[string]string{}
	helpFlagRE = regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([\w.-]+)=(\S+)`)
)

// flagDefaults is a program's flags and their defaults, read from the built
// binary's --help: the defaults the program really has.
func flagDefaults(t *testing.T, program string) map[string]string {
	t.Helper()
	flagsMu.Lock()
	defer flagsMu.Unlock()
	if m, ok := flagsCache[program]; ok {
		return m
	}
	out, err := exec.Command(testenv.Binary(t, program), "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --help: %v\n%s", program, err, out)
	}
	m := map[string]string{}
	for _, sm := range helpFlagRE.FindAllStringSubmatch(string(out), -1) {
		m[sm[1]] = strings.Trim(sm[2], `"`)
	}
	if _, ok := m["web.listen-address"]; !ok {
		t.Fatalf("%s --help shows no --web.listen-address default:\n%s", program, out)
	}
	flagsCache[program] = m
	return m
}

// defaultPort is the port of a program's default --web.listen-address.
func defaultPort(t *testing.T, program string) int {
	t.Helper()
	return portOf(t, flagDefaults(t, program)["web.listen-address"])
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("listen address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("listen address %q: %v", addr, err)
	}
	return n
}

// flagValue is the value of --name=value in args, if present.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// listenPort is the port a program listens on when started with args.
func listenPort(t *testing.T, program string, args []string) int {
	t.Helper()
	if v, ok := flagValue(args, "web.listen-address"); ok {
		return portOf(t, v)
	}
	return defaultPort(t, program)
}
