package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/license-monitor/license-monitor/internal/sidecar/sidecartest"
)

// TestSidecarExactIdentities: behind a trusted proxy, a name written with
// a look-alike of a real user's letter gets none of that user's rights, and
// a repeated groups header is refused unless the config says the proxy
// sends one header per group. Built binaries, real HTTP on loopback.
func TestSidecarExactIdentities(t *testing.T) {
	const proxyAuth = `auth:
  proxy:
    user_header: X-Forwarded-Email
    groups_header: X-Forwarded-Groups
    trusted_cidrs: [127.0.0.1/32]
groups:
  license-admins: [account_administrator]
`
	r := startSidecarRig(t, sidecartest.Options{Extra: proxyAuth, Users: []string{"kate@acme.example", "rose@acme.example"}})
	monitor := func(hdr map[string]string) (int, string) {
		// exporter-toolkit's basic auth covers every path, so the "proxy"
		// signs in as a role-less demo user and names the person in a header.
		return r.sc.Do(t, "nobody", http.MethodGet, "/api/v1/monitor", hdr)
	}
	// The real users can read the monitor.
	for _, u := range []string{"kate@acme.example", "rose@acme.example"} {
		if code, body := monitor(map[string]string{"X-Forwarded-Email": u}); code != http.StatusOK {
			t.Fatalf("%s: HTTP %d %s", u, code, body)
		}
	}
	// U+212A KELVIN SIGN for K, U+017F LONG S for s: case folding would map
	// both onto the real users above.
	for _, u := range []string{"\u212Aate@acme.example", "ro\u017Fe@acme.example", "Kate@acme.example"} {
		code, body := monitor(map[string]string{"X-Forwarded-Email": u})
		if code == http.StatusOK {
			t.Errorf("%q was let in as a look-alike: %s", u, body)
		}
		if u != "Kate@acme.example" && code != http.StatusUnauthorized {
			t.Errorf("%q: HTTP %d, want 401 for a name outside the PRECIS profile", u, code)
		}
		id := r.pinned(t, "carol@acme.example", "WS-CAROL")
		status, _, _, err := r.sc.Request("nobody", http.MethodPost, "/api/v1/sessions/"+id+"/terminate",
			map[string]string{"X-Forwarded-Email": u, "Origin": r.sc.URL("")})
		if err != nil {
			t.Fatal(err)
		}
		if status == http.StatusOK || !r.upstreamHas(t, id) {
			t.Fatalf("%q ended carol's session (HTTP %d)", u, status)
		}
	}
	if calls := r.terminateCalls(t); calls != 0 {
		t.Errorf("upstream saw %d terminate calls from look-alikes", calls)
	}

	// A second groups header, e.g. a client's own appended by the proxy.
	code, body := monitor(map[string]string{"X-Forwarded-Email": "nobody@acme.example"})
	if code != http.StatusForbidden {
		t.Fatalf("nobody without groups: HTTP %d %s", code, body)
	}
	req, _ := http.NewRequest(http.MethodGet, r.sc.URL("/api/v1/monitor"), nil)
	req.SetBasicAuth("nobody", sidecartest.Passwords["nobody"])
	req.Header.Set("X-Forwarded-Email", "nobody@acme.example")
	req.Header.Add("X-Forwarded-Groups", "staff")
	req.Header.Add("X-Forwarded-Groups", "license-admins")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("repeated groups header: HTTP %d, want 401", resp.StatusCode)
	}

	// With groups_header_repeated the same request is one identity with
	// both groups.
	r2 := startSidecarRig(t, sidecartest.Options{Extra: strings.Replace(proxyAuth, "trusted_cidrs:", "groups_header_repeated: true\n    trusted_cidrs:", 1)})
	req, _ = http.NewRequest(http.MethodGet, r2.sc.URL("/api/v1/monitor"), nil)
	req.SetBasicAuth("nobody", sidecartest.Passwords["nobody"])
	req.Header.Set("X-Forwarded-Email", "nobody@acme.example")
	req.Header.Add("X-Forwarded-Groups", "staff")
	req.Header.Add("X-Forwarded-Groups", "license-admins")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("repeated groups header with groups_header_repeated: HTTP %d, want 200", resp.StatusCode)
	}
}
