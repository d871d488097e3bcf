package probe

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/testenv"
	_ "github.com/license-monitor/license-monitor/source/flexlm" // type: flexlm
)

// flexlmConfig builds source/flexlm's fake lmutil printing triad.txt
// and writes a config of one flexlm source that runs it.
func flexlmConfig(t *testing.T) (cfg, weekday string) {
	t.Helper()
	dir := t.TempDir()
	bin := testenv.FakeLmutil(t)
	chicago, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	fixture, weekday := testenv.DatedLmstatFixture(t, dir, "triad.txt", chicago)
	cfg = filepath.Join(dir, "exporter.yml")
	if err := os.WriteFile(bin+".mode", []byte("cat "+fixture), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte("sources:\n  - name: lm\n    type: flexlm\n    timezone: America/Chicago\n    license_server: 27000@lic-a,27000@lic-b,27000@lic-c\n    lmutil: "+bin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, weekday
}

// names are every user and host triad.txt holds, queued and reserved
// ones included.
var triadNames = []string{"alice", "bob", "carol", "dan", "erin", "frank", "gina", "hank", "ivan", "judy", "kim",
	"ws-01", "ws-02", "laptop-7", "ws-04", "ws-05", "ws-06", "ws-09", "ws-10", "bench-1", "lab-3", "ws-11"}

// A FlexLM probe: one lmstat document, the lines the parser skipped by
// shape, exit 3, and no user or host name in the report or the dump.
func TestProbeFlexlm(t *testing.T) {
	cfg, wd := flexlmConfig(t)
	dump := filepath.Join(t.TempDir(), "dump")
	var out, errs bytes.Buffer
	code := Run(context.Background(), Options{ConfigFile: cfg, Source: "lm", DumpDir: dump, UserAgent: "test", Out: &out, Err: &errs,
		Now: func() time.Time { return time.Unix(0, 0) }})
	report := out.String()
	if code != ExitNotUnderstood {
		t.Fatalf("exit %d, want %d:\n%s\n%s", code, ExitNotUnderstood, report, errs.String())
	}
	for _, want := range []string{
		`License Monitor probe of source "lm" (type flexlm, host 27000@lic-a,27000@lic-b,27000@lic-c)`,
		"documents  lmstat 1 (",
		"licenses   4, in 4 product editions",
		"sessions   7: 7 distinct users on 7 distinct hosts",
		"denials    not offered by this account",
		"  lmstat (1 document):\n",
		"    <w> <w>-9 <w>-9 (v9.9) <w>-<w>/9 9, start " + wd + " 9/9 9:9  skipped line  1\n",
		"    <w> <w> is not <w>'<w>: <w> <w> <w> <w>.               skipped line  1\n",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q:\n%s", want, report)
		}
	}
	files, err := os.ReadDir(dump)
	if err != nil || len(files) != 2 || files[0].Name() != "001-lmstat.txt" {
		t.Fatalf("dump: %v %v", files, err)
	}
	body, err := os.ReadFile(filepath.Join(dump, "001-lmstat.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range triadNames {
		for what, text := range map[string]string{"report": report, "dump": string(body)} {
			if strings.Contains(text, " "+name+" ") || strings.Contains(text, " "+name+")") || strings.Contains(text, "\n"+name+" ") {
				t.Errorf("the %s names %q:\n%s", what, name, text)
			}
		}
	}
	if !strings.Contains(string(body), "<skipped: <w> <w>-9 <w>-9 (v9.9) <w>-<w>/9 9, start "+wd+" 9/9 9:9>") || !strings.Contains(string(body), "user-0001") ||
		!strings.Contains(string(body), "Users of ETABS:  (Total of 10 licenses issued;  Total of 7 licenses in use)") {
		t.Errorf("the dump:\n%s", body)
	}
}

func TestLineShape(t *testing.T) {
	for in, want := range map[string]string{
		"    kim ws-11 ws-11 (v21.0) lic-a/27000 999, start Mon 3/2 9:00": "<w> <w>-9 <w>-9 (v9.9) <w>-<w>/9 9, start Mon 9/9 9:9",
		"  1 RESERVATION for USER hänk\t(x)":                              "9 RESERVATION for USER <w> (<w>)",
		"bad \xff\x01 ٣":                                                  "<w> ?? 9",
		strings.Repeat("ab ", 100):                                        strings.TrimSpace(strings.Repeat("<w> ", 30)),
	} {
		if got := lineShape(in); got != want {
			t.Errorf("lineShape(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzLineShape: a shape is short, printable ASCII, and its only words
// are lmstat's own or <w>: no name of a line reaches it.
func FuzzLineShape(f *testing.F) {
	f.Add("    kim ws-11 ws-11 (v21.0) lic-a/27000 999, start Mon 3/2 9:00")
	f.Add("  1 RESERVATION for USER hänk\t(x) ٣٤ \xff")
	f.Add("Users of F:  (Total of 9 licenses issued;  Total of 1 license in use)")
	f.Fuzz(func(t *testing.T, line string) {
		s := lineShape(line)
		if len(s) > maxShapeLen {
			t.Fatalf("shape of %d bytes", len(s))
		}
		for i := 0; i < len(s); i++ {
			if s[i] < ' ' || s[i] > '~' {
				t.Fatalf("shape %q has byte %#x", s, s[i])
			}
		}
		for _, w := range regexp.MustCompile(`[A-Za-z_]+`).FindAllString(strings.ReplaceAll(s, "<w>", " "), -1) {
			if !lmstatWords[w] {
				t.Fatalf("shape %q of %q holds the word %q", s, line, w)
			}
		}
	})
}
