package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/testenv"
	"github.com/license-monitor/license-monitor/source/csi"
)

// probeRun is one license_exporter --source.probe run.
type probeRun struct {
	out, errOut string
	code        int
}

func runProbe(t *testing.T, configYAML string, args ...string) probeRun {
	t.Helper()
	cfg := testenv.WriteFile(t, "license_exporter.yml", configYAML)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Binary(t, "license_exporter"), append([]string{"--config.file=" + cfg, "--source.probe=demo"}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := probeRun{out: out.String(), errOut: errOut.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("probe: %v\n%s", err, errOut.String())
	}
	return r
}

func (r probeRun) want(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.out, r.errOut)
	}
}

// rawDoc is what a test reads from the simulator itself, decoded with
// encoding/json, not with the project's client.
type rawDoc = map[string]any

func fetchJSON(t *testing.T, u string, header http.Header) rawDoc {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m rawDoc
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d, %v", u, resp.StatusCode, err)
	}
	return m
}

// readSim reads the simulator's licenses and every sessions page of 1000,
// as the exporter's client asks for them.
func readSim(t *testing.T, sim *testenv.Simulator) (licenses rawDoc, pages []rawDoc) {
	t.Helper()
	licenses = fetchJSON(t, sim.BaseURL+"/licenses", nil)
	tok := ""
	for {
		q := url.Values{"page_size": {"1000"}}
		if tok != "" {
			q.Set("page_token", tok)
		}
		p := fetchJSON(t, sim.BaseURL+"/sessions?"+q.Encode(), nil)
		pages = append(pages, p)
		if tok, _ = p["next_page_token"].(string); tok == "" {
			return licenses, pages
		}
	}
}

func objects(v any) []rawDoc {
	arr, _ := v.([]any)
	out := make([]rawDoc, 0, len(arr))
	for _, e := range arr {
		if m, ok := e.(rawDoc); ok {
			out = append(out, m)
		}
	}
	return out
}

func num(t *testing.T, v any) int64 {
	t.Helper()
	n, err := v.(json.Number).Int64()
	if err != nil {
		t.Fatalf("%v is not an integer", v)
	}
	return n
}

// TestProbeHealthyAccount: exit 0, and the report's counts are the
// simulator's own.
func TestProbeHealthyAccount(t *testing.T) {
	sim := testenv.StartSimulator(t, "--no-churn")
	r := runProbe(t, testenv.ExporterConfig("demo", sim.BaseURL))
	r.want(t, 0)

	licenses, pages := readSim(t, sim)
	type pe struct{ product, edition string }
	type sums struct{ n, seats, inUse int64 }
	want := map[pe]*sums{}
	lics := objects(licenses["licenses"])
	for _, l := range lics {
		k := pe{l["product"].(string), l["edition"].(string)}
		if want[k] == nil {
			want[k] = &sums{}
		}
		want[k].n++
		want[k].seats += num(t, l["seats"])
		want[k].inUse += num(t, l["in_use"])
	}
	users, hosts, sessions := map[string]bool{}, map[string]bool{}, 0
	for _, p := range pages {
		for _, s := range objects(p["sessions"]) {
			sessions++
			users[s["user"].(string)] = true
			if h := s["host"].(string); h != "" {
				hosts[h] = true
			}
		}
	}
	if sessions == 0 {
		t.Fatal("the demo account has no sessions to count")
	}
	for _, line := range []string{
		fmt.Sprintf("licenses   %d, in %d product editions", len(lics), len(want)),
		fmt.Sprintf("sessions   %d: %d distinct users on %d distinct hosts", sessions, len(users), len(hosts)),
		"documents  licenses 1 (",
		fmt.Sprintf("), sessions %d (", len(pages)),
		`account    A-1001 "Acme Engineering"`,
		// CSI reads denials; the simulator serves those of its warm-up,
		// repeats included, as the probe counts them.
		fmt.Sprintf("denials    %d read", len(sim.ReadDenials(t, csi.Options{}, time.Time{}))),
		"nothing: every field read is in the model",
	} {
		if !strings.Contains(r.out, line) {
			t.Errorf("the report lacks %q:\n%s", line, r.out)
		}
	}
	// The product table: one row per product and edition.
	row := regexp.MustCompile(`(?m)^  (\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$`)
	rows := row.FindAllStringSubmatch(r.out, -1)
	if len(rows) != len(want) {
		t.Fatalf("%d product rows, want %d:\n%s", len(rows), len(want), r.out)
	}
	for _, m := range rows {
		ed := m[2]
		if ed == "-" {
			ed = ""
		}
		w := want[pe{m[1], ed}]
		if w == nil {
			t.Errorf("row %q is not a product and edition of the simulator's", m[0])
			continue
		}
		if got := m[3] + "/" + m[4] + "/" + m[5]; got != fmt.Sprintf("%d/%d/%d", w.n, w.seats, w.inUse) {
			t.Errorf("%s %s: licenses/seats/in use %s, the simulator has %d/%d/%d", m[1], m[2], got, w.n, w.seats, w.inUse)
		}
	}
	for u := range users {
		if strings.Contains(r.out, u) {
			t.Fatalf("the report names user %s without --source.probe.show-users", u)
		}
	}
}

// modelFields are the fields of docs/upstream-api.md, by object, copied
// from the document on purpose: the probe derives its own from
// source/csi/wire.go, and this test holds the two to each other.
var modelFields = map[string][]string{
	"$":            {"account", "generated_at", "licenses", "sessions", "next_page_token"},
	"$.account":    {"id", "name"},
	"$.licenses[]": {"id", "product", "edition", "version", "type", "seats", "in_use", "checked_out", "expires_at"},
	"$.sessions[]": {"id", "license_id", "user", "display_name", "host", "started_at", "checked_out", "checkout_expires_at"},
}

// unknownPaths counts the fields of doc that the model lacks, by path,
// and the objects at each parent path.
func unknownPaths(doc rawDoc, count, of map[string]int) {
	var walk func(path string, m rawDoc)
	walk = func(path string, m rawDoc) {
		of[path]++
		known := modelFields[path]
		for k, v := range m {
			p := path + "." + k
			if !contains(known, k) {
				count[p]++
				continue
			}
			switch v := v.(type) {
			case rawDoc:
				walk(p, v)
			case []any:
				for _, e := range objects(v) {
					walk(p+"[]", e)
				}
			}
		}
	}
	walk("$", doc)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestProbeUnknownFields: fields the model lacks give exit 3, each listed
// by path with how often it appeared, counted here from the simulator's
// own answers.
func TestProbeUnknownFields(t *testing.T) {
	sim := testenv.StartSimulator(t, "--no-churn")
	sim.SetFault(t, map[string]any{"kind": "extra_fields"})
	r := runProbe(t, testenv.ExporterConfig("demo", sim.BaseURL))
	r.want(t, 3)

	licenses, pages := readSim(t, sim)
	for ep, docs := range map[string][]rawDoc{"licenses": {licenses}, "sessions": pages} {
		count, of := map[string]int{}, map[string]int{}
		for _, d := range docs {
			unknownPaths(d, count, of)
		}
		if len(count) == 0 {
			t.Fatalf("the extra_fields fault added nothing to %s", ep)
		}
		at := strings.Index(r.out, "  "+ep+" (")
		if at < 0 {
			t.Fatalf("no findings for %s:\n%s", ep, r.out)
		}
		section := r.out[at:]
		for p, n := range count {
			parent := p[:strings.LastIndexByte(p, '.')]
			line := regexp.MustCompile(`(?m)^    ` + regexp.QuoteMeta(p) + `\s+unknown field\s+` + fmt.Sprintf("%d of %d", n, of[parent]) + `$`)
			if !line.MatchString(section) {
				t.Errorf("%s: the report lacks %s, %d of %d:\n%s", ep, p, n, of[parent], r.out)
			}
		}
		if got := strings.Count(section[:strings.Index(section+"\n\n", "\n\n")], "unknown field"); got < len(count) {
			t.Errorf("%s: %d unknown fields listed, want %d", ep, got, len(count))
		}
	}
	if n := strings.Count(r.out, "unknown field"); n != 5 {
		t.Errorf("%d unknown fields listed in all; the fault adds 3 paths to licenses and 2 to sessions:\n%s", n, r.out)
	}
	if !strings.Contains(r.out, "Result: exit 3") {
		t.Errorf("the report does not state its exit code:\n%s", r.out)
	}
}

// TestProbeInvalidData: what a poll rejects gives exit 2, with the path of
// the field or the byte where the body stopped being JSON.
func TestProbeInvalidData(t *testing.T) {
	sim := testenv.StartSimulator(t, "--no-churn")
	cfg := testenv.ExporterConfig("demo", sim.BaseURL)
	cases := []struct {
		fault string
		want  []string
	}{
		{"missing_field", []string{
			"reason  invalid",
			`$.licenses[].seats  missing required field  1 of `,
			"while   GET licenses",
		}},
		{"wrong_type", []string{
			"reason  invalid",
			"$.licenses[].seats  wrong type (string where the model has integer)  1 of ",
		}},
		{"malformed", []string{
			"reason        decode",
			"not JSON      at byte 1, at $: invalid character '<'",
			`Content-Type  "application/json"`,
			`body starts   "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title>`,
		}},
		{"truncated", []string{
			"reason        decode",
			"while         GET licenses",
			"at $.licenses[",
			"the body ended before the JSON document did",
		}},
	}
	for _, c := range cases {
		t.Run(c.fault, func(t *testing.T) {
			sim.SetFault(t, map[string]any{"kind": c.fault, "endpoints": []string{"licenses"}})
			defer sim.ClearFault(t)
			r := runProbe(t, cfg)
			r.want(t, 2)
			for _, w := range c.want {
				if !strings.Contains(r.out, w) {
					t.Errorf("the report lacks %q:\n%s", w, r.out)
				}
			}
		})
	}
	// A truncated body's offset is its length: the probe read it all.
	t.Run("truncated offset", func(t *testing.T) {
		sim.SetFault(t, map[string]any{"kind": "truncated", "endpoints": []string{"sessions"}})
		defer sim.ClearFault(t)
		resp, err := http.Get(sim.BaseURL + "/sessions?page_size=1000")
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		body.ReadFrom(resp.Body)
		resp.Body.Close()
		r := runProbe(t, cfg)
		r.want(t, 2)
		if w := "at byte " + strconv.Itoa(body.Len()) + ", at $.sessions["; !strings.Contains(r.out, w) {
			t.Errorf("the report lacks %q:\n%s", w, r.out)
		}
	})
}

// TestProbeHTTPErrors: 401, 429 and 5xx give exit 2 with the status and
// upstream's own message.
func TestProbeHTTPErrors(t *testing.T) {
	sim := testenv.StartSimulator(t, "--no-churn")
	cfg := testenv.ExporterConfig("demo", sim.BaseURL)
	for _, c := range []struct {
		fault  map[string]any
		reason string
		status int
		code   string
		msg    string
	}{
		{map[string]any{"kind": "unauthorized"}, "http_4xx", 401, "unauthorized", "missing or invalid credentials"},
		{map[string]any{"kind": "rate_limit", "retry_after": 30}, "rate_limited", 429, "rate_limited", "too many requests"},
		{map[string]any{"kind": "http_5xx", "status": 503, "endpoints": []string{"sessions"}}, "http_5xx", 503, "internal", "simulated server error"},
	} {
		t.Run(strconv.Itoa(c.status), func(t *testing.T) {
			sim.SetFault(t, c.fault)
			defer sim.ClearFault(t)
			r := runProbe(t, cfg)
			r.want(t, 2)
			for _, w := range []string{
				"reason         " + c.reason,
				"HTTP status    " + strconv.Itoa(c.status),
				fmt.Sprintf("upstream says  code %q, message %q", c.code, c.msg),
			} {
				if !strings.Contains(r.out, w) {
					t.Errorf("the report lacks %q:\n%s", w, r.out)
				}
			}
		})
	}
}

// TestProbeSecrets: the key in the link and the bearer token appear
// nowhere in the report or the dump, even where upstream echoes them.
func TestProbeSecrets(t *testing.T) {
	const key, token = "k3y-SECRET-0a9b8c7d", "t0ken/SECRET+6e5f4a3b"
	sim := testenv.StartSimulator(t, "--no-churn",
		"--api-key-file="+testenv.WriteFile(t, "key", key),
		"--token-file="+testenv.WriteFile(t, "token", token))
	sim.SetFault(t, map[string]any{"kind": "echo_credentials"})
	tokenFile := testenv.WriteFile(t, "credentials", token+"\n")
	cfg := testenv.ExporterConfig("demo", sim.BaseURL+"?key="+url.QueryEscape(key),
		"http_client_config:", "  authorization:", "    credentials_file: "+tokenFile)

	// The simulator does echo them, or this test would prove nothing.
	echoed := fetchJSON(t, sim.BaseURL+"/licenses?key="+url.QueryEscape(key), http.Header{"Authorization": {"Bearer " + token}})
	if b, _ := json.Marshal(echoed["request"]); !bytes.Contains(b, []byte(key)) || !bytes.Contains(b, []byte("SECRET+6e5f4a3b")) {
		t.Fatalf("echo_credentials did not echo the credentials: %s", b)
	}

	secrets := [][]byte{[]byte(key), []byte(token), []byte(url.QueryEscape(token)), []byte(url.QueryEscape(key))}
	noSecret := func(t *testing.T, what string, b []byte) {
		t.Helper()
		for _, s := range secrets {
			if bytes.Contains(b, s) {
				t.Errorf("%s holds the secret %q", what, s)
			}
		}
	}

	dir := filepath.Join(t.TempDir(), "dump")
	r := runProbe(t, cfg, "--source.probe.dump="+dir)
	r.want(t, 3)
	if !strings.Contains(r.out, "$.request  unknown field  1 of 1") {
		t.Errorf("the echoed field is not reported:\n%s", r.out)
	}
	noSecret(t, "the report", []byte(r.out+r.errOut))
	files := dumpFiles(t, dir)
	if len(files) != 3 { // licenses, one sessions page, the report
		t.Fatalf("dump files %v, want 001-licenses.json, 002-sessions.json, report.txt", files)
	}
	for name, b := range files {
		noSecret(t, name, b)
	}
	if !bytes.Contains(files["002-sessions.json"], []byte(`"authorization":"Bearer <redacted>"`)) {
		t.Errorf("the echoed token is not visibly redacted:\n%.400s", files["002-sessions.json"])
	}

	// Upstream that echoes a rejected credential in its 401 message: the
	// configured (wrong) ones are the secrets now.
	const wrongKey, wrongToken = "wrong-KEY-5566778899", "wrong-TOKEN-1122334455"
	secrets = [][]byte{[]byte(wrongKey), []byte(wrongToken)}
	wrongFile := testenv.WriteFile(t, "wrong-credentials", wrongToken)
	cfg = testenv.ExporterConfig("demo", sim.BaseURL+"?key="+wrongKey,
		"http_client_config:", "  authorization:", "    credentials_file: "+wrongFile)
	dir = filepath.Join(t.TempDir(), "dump")
	r = runProbe(t, cfg, "--source.probe.dump="+dir)
	r.want(t, 2)
	if !strings.Contains(r.out, `message "missing or invalid credentials: got key \"<redacted>\" and authorization \"Bearer <redacted>\""`) {
		t.Errorf("upstream's message, scrubbed, is not in the report:\n%s", r.out)
	}
	noSecret(t, "the 401 report", []byte(r.out+r.errOut))
	for name, b := range dumpFiles(t, dir) {
		noSecret(t, name, b)
	}
}

// dumpFiles reads a dump directory, checking every file's mode.
func dumpFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", e.Name(), info.Mode().Perm())
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// TestProbeDumpPseudonyms: over the 20 sessions pages of the large tier,
// no real user name, display name or host is left in the dump, and each
// person has one pseudonym in every file.
func TestProbeDumpPseudonyms(t *testing.T) {
	sim := testenv.StartSimulator(t, "--scale=large", "--no-churn")
	dir := filepath.Join(t.TempDir(), "dump")
	r := runProbe(t, testenv.ExporterConfig("demo", sim.BaseURL, "timeout: 30s", "poll_interval: 60s"), "--source.probe.dump="+dir)
	r.want(t, 0)

	_, pages := readSim(t, sim)
	files := dumpFiles(t, dir)
	var names []string
	for n := range files {
		if strings.Contains(n, "-sessions.") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) != len(pages) || len(pages) < 2 {
		t.Fatalf("%d sessions files for %d pages", len(names), len(pages))
	}
	pseudonym := map[string]string{} // real value -> pseudonym
	owner := map[string]string{}     // pseudonym -> real value
	pattern := map[string]*regexp.Regexp{
		"user": regexp.MustCompile(`^user-\d{4,}$`), "host": regexp.MustCompile(`^host-\d{4,}$`),
		"display_name": regexp.MustCompile(`^name-\d{4,}$`),
	}
	filesOf := map[string]map[string]bool{}
	for i, name := range names {
		var dumped rawDoc
		if err := json.Unmarshal(files[name], &dumped); err != nil {
			t.Fatalf("%s is not JSON: %v", name, err)
		}
		real, fake := objects(pages[i]["sessions"]), objects(dumped["sessions"])
		if len(real) != len(fake) {
			t.Fatalf("%s: %d sessions, the page has %d", name, len(fake), len(real))
		}
		for j := range real {
			for field, re := range pattern {
				rv, fv := real[j][field].(string), fake[j][field].(string)
				if rv == "" {
					continue
				}
				if !re.MatchString(fv) {
					t.Fatalf("%s: session %d's %s is %q, not a pseudonym", name, j, field, fv)
				}
				if p, ok := pseudonym[rv]; ok && p != fv {
					t.Fatalf("%s: %s has pseudonym %s here and %s before", name, field, fv, p)
				}
				if o, ok := owner[fv]; ok && o != rv {
					t.Fatalf("%s: pseudonym %s stands for two people", name, fv)
				}
				pseudonym[rv], owner[fv] = fv, rv
				if filesOf[rv] == nil {
					filesOf[rv] = map[string]bool{}
				}
				filesOf[rv][name] = true
			}
			if real[j]["id"] != fake[j]["id"] {
				t.Fatalf("%s: session %d's id changed", name, j)
			}
		}
	}
	inMany := 0
	for _, fs := range filesOf {
		if len(fs) > 1 {
			inMany++
		}
	}
	if inMany == 0 {
		t.Fatal("no person appears in two files; the test shows nothing about consistency")
	}
	// And nothing of theirs elsewhere in the files: the e-mail domain, the
	// host names' forms and every display name, byte by byte.
	leak := regexp.MustCompile(`@acme\.example|\b(WS|LT)-\d{6}\b`)
	var all []byte
	for name, b := range files {
		if m := leak.Find(b); m != nil {
			t.Errorf("%s holds %q", name, m)
		}
		all = append(all, b...)
	}
	displayNames := map[string]bool{}
	for _, p := range pages {
		for _, s := range objects(p["sessions"]) {
			if n, _ := s["display_name"].(string); n != "" {
				displayNames[n] = true
			}
		}
	}
	for n := range displayNames {
		if bytes.Contains(all, []byte(n)) {
			t.Errorf("the dump holds the display name %q", n)
		}
	}
}

// TestProbeUsage: bad flags, an unknown source and a used dump directory
// exit 1 before upstream is read; --source.probe.show-users names people.
func TestProbeUsage(t *testing.T) {
	sim := testenv.StartSimulator(t, "--no-churn")
	cfg := testenv.WriteFile(t, "license_exporter.yml", testenv.ExporterConfig("demo", sim.BaseURL))
	used := t.TempDir()
	os.WriteFile(filepath.Join(used, "old.json"), []byte("{}"), 0o600)
	before := sim.Requests(t)["licenses"]
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--source.probe=nope"}, `no source named "nope"`},
		{[]string{"--source.probe.dump=" + t.TempDir()}, "need --source.probe=NAME"},
		{[]string{"--source.probe=demo", "--source.probe.dump=" + used}, "is not empty"},
	} {
		out, err := exec.Command(testenv.Binary(t, "license_exporter"), append([]string{"--config.file=" + cfg}, c.args...)...).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), c.want) {
			t.Errorf("%v: %v, want exit 1 with %q:\n%s", c.args, err, c.want, out)
		}
	}
	if after := sim.Requests(t)["licenses"]; after != before {
		t.Errorf("upstream was read %d times by refused probes", after-before)
	}

	r := runProbe(t, testenv.ExporterConfig("demo", sim.BaseURL), "--source.probe.show-users")
	r.want(t, 0)
	// The demo's pinned sessions (docs/simulator.md): bob on WS-BOB.
	if !strings.Contains(r.out, "bob@acme.example") || !strings.Contains(r.out, "WS-BOB") {
		t.Errorf("--source.probe.show-users does not list the users and hosts:\n%s", r.out)
	}
}
