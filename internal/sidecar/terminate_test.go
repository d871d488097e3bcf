package sidecar

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestDryRunDecidesWithoutCallingUpstream(t *testing.T) {
	up := newFakeUpstream(t)
	ts := startSidecar(t, up, "", true)
	if err := ts.Reload(mustConfig(t, up, ts, "terminate:\n  dry_run: true\n")); err != nil {
		t.Fatal(err)
	}
	id := sessionID("carol@acme.example", kindSignIn)
	ans := ts.terminate(t, admin, id)
	if ans.status != http.StatusOK || ans.json(t)["outcome"] != OutcomeDryRun || ans.json(t)["dry_run"] != true {
		t.Fatalf("dry run answered %d %s", ans.status, ans.body)
	}
	// Still decided: a refused case is refused in dry run too.
	if ans := ts.terminate(t, bob, id); ans.status != http.StatusForbidden {
		t.Errorf("dry run let bob terminate carol's session: %d", ans.status)
	}
	terms, reads := up.calls()
	if len(terms) != 0 || !up.has(id) {
		t.Errorf("dry run called upstream terminate: %v", terms)
	}
	if reads != 2 {
		t.Errorf("upstream read %d times, want 2 (each decision reads fresh)", reads)
	}
	lines := ts.auditLines(t)
	if len(lines) != 2 || lines[0].Outcome != OutcomeDryRun || lines[0].Decision != DecisionAllow || !lines[0].DryRun ||
		lines[0].Upstream != UpstreamNotCalled || lines[0].Owner != "carol@acme.example" {
		t.Errorf("dry run audit: %+v", lines)
	}
}

func TestUpstreamFailures(t *testing.T) {
	up := newFakeUpstream(t)
	ts := startSidecar(t, up, "", true)
	id := sessionID("carol@acme.example", kindSignIn)

	t.Run("5xx is 502 and audited, sent once", func(t *testing.T) {
		up.reset()
		up.mu.Lock()
		up.terminateCode = http.StatusInternalServerError
		up.mu.Unlock()
		ans := ts.terminate(t, admin, id)
		if ans.status != http.StatusBadGateway || ans.json(t)["outcome"] != OutcomeUpstreamError {
			t.Fatalf("got %d %s", ans.status, ans.body)
		}
		if terms, _ := up.calls(); !slices.Equal(terms, []string{id}) {
			t.Errorf("terminate calls %v: sent exactly once, never retried", terms)
		}
		rec, _ := ts.lastAudit(t)
		if rec.Decision != DecisionAllow || rec.Outcome != OutcomeUpstreamError || rec.Upstream != "http_5xx (HTTP 500) code=boom" {
			t.Errorf("audit %+v", rec)
		}
	})
	t.Run("timeout is 502, sent once, and says the result is unknown", func(t *testing.T) {
		up.reset()
		hold := make(chan struct{})
		defer close(hold)
		up.mu.Lock()
		up.terminateWait = hold
		up.mu.Unlock()
		ans := ts.terminate(t, admin, id)
		if ans.status != http.StatusBadGateway || !strings.Contains(ans.json(t)["reason"].(string), "may or may not have ended") {
			t.Fatalf("got %d %s", ans.status, ans.body)
		}
		if terms, _ := up.calls(); !slices.Equal(terms, []string{id}) {
			t.Errorf("terminate calls %v: sent exactly once", terms)
		}
		if rec, _ := ts.lastAudit(t); !strings.HasPrefix(rec.Upstream, "timeout") {
			t.Errorf("audit upstream %q", rec.Upstream)
		}
	})
	t.Run("ended between read and call is 404", func(t *testing.T) {
		up.reset()
		up.mu.Lock()
		up.terminateCode = http.StatusNotFound
		up.mu.Unlock()
		if ans := ts.terminate(t, admin, id); ans.status != http.StatusNotFound {
			t.Fatalf("got %d %s", ans.status, ans.body)
		}
	})
	t.Run("upstream 409 is 409", func(t *testing.T) {
		up.reset()
		up.mu.Lock()
		up.terminateCode = http.StatusConflict
		up.mu.Unlock()
		if ans := ts.terminate(t, admin, id); ans.status != http.StatusConflict {
			t.Fatalf("got %d %s", ans.status, ans.body)
		}
	})
	t.Run("unreadable upstream is 502 and no terminate", func(t *testing.T) {
		up.reset()
		up.Close()
		ans := ts.terminate(t, admin, id)
		if ans.status != http.StatusBadGateway {
			t.Fatalf("got %d %s", ans.status, ans.body)
		}
		rec, _ := ts.lastAudit(t)
		if !strings.HasPrefix(rec.Upstream, "read failed: connection") || rec.Owner != "" {
			t.Errorf("audit %+v", rec)
		}
		if v := testutil.ToFloat64(ts.upstreamErrors.WithLabelValues("connection")); v != 1 {
			t.Errorf("license_sidecar_upstream_failures_total{reason=connection} = %v", v)
		}
	})
	if v := testutil.ToFloat64(ts.terminations.WithLabelValues(OutcomeUpstreamError)); v != 3 {
		t.Errorf("terminations_total{outcome=upstream_error} = %v, want 3", v)
	}
}

func TestUnknownSession(t *testing.T) {
	up := newFakeUpstream(t)
	ts := startSidecar(t, up, "", true)
	for _, id := range []string{"S-nope", "S-%00x", strings.Repeat("x", maxSessionIDLen+1)} {
		if ans := ts.terminate(t, admin, id); ans.status != http.StatusNotFound {
			t.Errorf("%q: got %d %s", id, ans.status, ans.body)
		}
	}
	if terms, _ := up.calls(); len(terms) != 0 {
		t.Errorf("terminate called for unknown sessions: %v", terms)
	}
}

func TestRateLimit(t *testing.T) {
	up := newFakeUpstream(t)
	ts := startSidecar(t, up, "", true)
	if err := ts.Reload(mustConfig(t, up, ts, "terminate:\n  rate_limit: {requests: 2, interval: 1h}\n")); err != nil {
		t.Fatal(err)
	}
	id := sessionID("carol@acme.example", kindCheckedOut)
	for i := 0; i < 2; i++ {
		if ans := ts.terminate(t, admin, id); ans.status != http.StatusConflict {
			t.Fatalf("request %d: %d", i+1, ans.status)
		}
	}
	_, readsBefore := up.calls()
	ans := ts.terminate(t, admin, id)
	if ans.status != http.StatusTooManyRequests || ans.header.Get("Retry-After") == "" {
		t.Fatalf("3rd request: %d, Retry-After %q", ans.status, ans.header.Get("Retry-After"))
	}
	if _, reads := up.calls(); reads != readsBefore {
		t.Error("a rate-limited request still read upstream")
	}
	if rec, _ := ts.lastAudit(t); rec.Outcome != OutcomeRateLimited || rec.Identity != "admin" {
		t.Errorf("audit %+v", rec)
	}
	// Per identity: bob is not held back by admin's requests.
	if ans := ts.terminate(t, bob, id); ans.status != http.StatusConflict {
		t.Errorf("bob limited by admin's requests: %d", ans.status)
	}
}

func TestRequestSafety(t *testing.T) {
	up := newFakeUpstream(t)
	ts := startSidecar(t, up, "", true)
	id := sessionID("carol@acme.example", kindSignIn)
	path := "/api/v1/sessions/" + id + "/terminate"

	t.Run("cross-origin browser POST", func(t *testing.T) {
		for _, hdr := range []map[string]string{
			{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
			{"Origin": "https://evil.example"}, // older browsers: no Sec-Fetch-Site
		} {
			ans := ts.do(t, admin, http.MethodPost, path, nil, hdr)
			if ans.status != http.StatusForbidden {
				t.Fatalf("%v: got %d %s", hdr, ans.status, ans.body)
			}
			rec, _ := ts.lastAudit(t)
			if rec.Outcome != OutcomeCrossOrigin || rec.Identity != "admin" || rec.Session != id {
				t.Errorf("audit %+v", rec)
			}
		}
		// The page's own fetch is same-origin.
		if ans := ts.do(t, admin, http.MethodPost, path, nil, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": ts.URL}); ans.status != http.StatusOK {
			t.Fatalf("same-origin POST: %d %s", ans.status, ans.body)
		}
		if terms, _ := up.calls(); len(terms) != 1 {
			t.Errorf("terminate calls %v, want only the same-origin one", terms)
		}
	})
	t.Run("only POST", func(t *testing.T) {
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			if ans := ts.do(t, admin, m, path, nil, nil); ans.status != http.StatusMethodNotAllowed {
				t.Errorf("%s: %d", m, ans.status)
			}
		}
	})
	t.Run("body size limit", func(t *testing.T) {
		up.reset()
		ans := ts.do(t, admin, http.MethodPost, path, strings.NewReader(strings.Repeat("x", maxBodyBytes+1)), nil)
		if ans.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("got %d", ans.status)
		}
		if terms, reads := up.calls(); len(terms) != 0 || reads != 0 {
			t.Errorf("upstream touched for an oversized request: %v, %d reads", terms, reads)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		ans := ts.do(t, caller{}, http.MethodPost, path, nil, nil)
		if ans.status != http.StatusUnauthorized || ans.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("got %d, WWW-Authenticate %q", ans.status, ans.header.Get("WWW-Authenticate"))
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+path, nil)
		req.SetBasicAuth("admin", "guess")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("got %d", resp.StatusCode)
		}
	})
}
