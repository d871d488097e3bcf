package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/sidecar"
	"github.com/license-monitor/license-monitor/internal/sidecar/sidecartest"
	"github.com/license-monitor/license-monitor/internal/testenv"
)

// Issue 14, the sidecar half: the attacks that were seen, replayed against
// the built sidecar and simulator on loopback.

// raceEnabled (hardening_test.go) shrinks or skips the load tests under
// the race detector: the client side would measure the detector.

// With audit_log on a full disk, an allowed terminate is refused with 503
// and upstream never sees it.
func TestSidecarAuditFullDisk(t *testing.T) {
	r := startSidecarRig(t, sidecartest.Options{AuditLog: "/dev/full"})
	carol := r.pinned(t, "carol@acme.example", "WS-CAROL")
	status, body := r.sc.Terminate(t, "admin", carol)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, sidecar.OutcomeAuditFailed) {
		t.Fatalf("terminate with the audit log on /dev/full: %d %s, want 503 %s", status, body, sidecar.OutcomeAuditFailed)
	}
	if n := r.terminateCalls(t); n != 0 {
		t.Errorf("upstream saw %d terminate calls", n)
	}
	if !r.upstreamHas(t, carol) {
		t.Error("the session ended although nothing could be audited")
	}
	_, metrics := r.sc.Do(t, "admin", http.MethodGet, "/metrics", nil)
	if !strings.Contains(metrics, `license_sidecar_terminations_total{outcome="audit_failed"} 1`) {
		t.Error(`/metrics lacks license_sidecar_terminations_total{outcome="audit_failed"} 1`)
	}
}

// 2,000 refused requests of one identity write at most 100 audit lines,
// and the lines' counts add up to every request.
func TestSidecarAuditRefusalFlood(t *testing.T) {
	requests := 2000
	if raceEnabled {
		requests = 400
	}
	r := startSidecarRig(t, sidecartest.Options{Extra: "audit_summary_interval: 1s\n"})
	carol := r.pinned(t, "carol@acme.example", "WS-CAROL")
	url := r.sc.URL("/api/v1/sessions/" + carol + "/terminate")
	// Signed in once, as a browser would be: the flood is of refusals,
	// not of password checks.
	if status, body := r.sc.Do(t, "nobody", http.MethodGet, "/-/ready", nil); status != http.StatusOK {
		t.Fatalf("nobody signs in: %d %s", status, body)
	}

	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		mu     sync.Mutex
		status = map[int]int{}
	)
	for range 8 {
		client := &http.Client{Timeout: 30 * time.Second}
		defer client.CloseIdleConnections()
		wg.Go(func() {
			for next.Add(1) <= int64(requests) {
				req, _ := http.NewRequest(http.MethodPost, url, nil)
				req.SetBasicAuth("nobody", sidecartest.Passwords["nobody"])
				resp, err := client.Do(req)
				code := 0
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				mu.Lock()
				status[code]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// 403 while nobody has tokens (1,000 an hour in sidecartest), 429 after.
	if status[http.StatusForbidden]+status[http.StatusTooManyRequests] != requests {
		t.Fatalf("answers %v, want %d refusals", status, requests)
	}
	if n := r.terminateCalls(t); n != 0 {
		t.Errorf("%d upstream terminate calls", n)
	}
	// The summaries come once their interval is over.
	var lines []sidecar.AuditRecord
	testenv.Eventually(t, 45*time.Second, 50*time.Millisecond, func() error {
		lines = r.sc.Audit(t)
		total := 0
		for _, l := range lines {
			if l.Identity != "nobody" {
				return fmt.Errorf("a line of %q", l.Identity)
			}
			total += l.Count
		}
		if total != requests {
			return fmt.Errorf("the audit lines count %d refusals, want %d", total, requests)
		}
		return nil
	})
	t.Logf("%d refused requests: %d audit lines, answers %v", requests, len(lines), status)
	if len(lines) > 100 {
		t.Errorf("%d audit lines for %d refusals, want at most 100", len(lines), requests)
	}
}

// A legitimate login answers within 1 s while 500 connections from
// another address send wrong passwords.
func TestSidecarLoginUnderPasswordFlood(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("load test: run without -race and -short")
	}
	const (
		conns     = 500
		maxWait   = time.Second
		maxAttack = 30 * time.Second // bounds the attack whatever happens
	)
	sim := testenv.StartSimulator(t, "--no-churn")
	sc := sidecartest.Start(t, sidecartest.Options{UpstreamURL: sim.BaseURL})

	ctx, stop := context.WithTimeout(context.Background(), maxAttack)
	defer stop()
	var (
		wg      sync.WaitGroup
		sent    atomic.Int64
		refused atomic.Int64 // 401 or 429
	)
	attacker := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	for range conns {
		// One connection each, kept alive: 500 connections.
		tr := &http.Transport{DialContext: attacker.DialContext, MaxConnsPerHost: 1}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		wg.Go(func() {
			var pw [8]byte
			for ctx.Err() == nil {
				_, _ = rand.Read(pw[:])
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sc.URL("/api/v1/monitor"), nil)
				req.SetBasicAuth("admin", hex.EncodeToString(pw[:]))
				sent.Add(1)
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusTooManyRequests {
					refused.Add(1)
				}
			}
		})
	}
	defer wg.Wait()
	defer stop()

	// The flood is on, past its first seconds (each address's burst of
	// password checks): wrong passwords are being refused.
	testenv.Eventually(t, 45*time.Second, 50*time.Millisecond, func() error {
		if n := refused.Load(); n < 3*conns {
			return fmt.Errorf("%d attack requests refused so far", n)
		}
		return nil
	})

	// bob and nobody sign in for the first time: their passwords are
	// checked with bcrypt, not found in a cache.
	real := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}, Timeout: 5 * time.Second}
	for _, user := range []string{"bob", "nobody", "bob"} {
		tr := &http.Transport{DialContext: real.DialContext}
		client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
		req, _ := http.NewRequest(http.MethodGet, sc.URL("/-/ready"), nil)
		req.SetBasicAuth(user, sidecartest.Passwords[user])
		start := time.Now()
		resp, err := client.Do(req)
		took := time.Since(start)
		tr.CloseIdleConnections()
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		resp.Body.Close()
		t.Logf("%s signed in in %s during the flood (%d attack requests so far)", user, took.Round(time.Millisecond), sent.Load())
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d, want 200", user, resp.StatusCode)
		}
		if took > maxWait {
			t.Errorf("%s waited %s for a login, want at most %s", user, took, maxWait)
		}
	}
	if ctx.Err() != nil {
		t.Fatal("the attack ended before the logins were measured")
	}
	// Its wrong passwords were checked and counted, and the rest refused
	// without a check.
	_, metrics := sc.Do(t, "admin", http.MethodGet, "/metrics", nil)
	if f := metricValue(metrics, "license_sidecar_auth_failures_total"); f < 1 {
		t.Errorf("license_sidecar_auth_failures_total is %g during the flood", f)
	}
	if n := metricValue(metrics, "license_sidecar_auth_throttled_total"); n < conns {
		t.Errorf("license_sidecar_auth_throttled_total is %g, want at least %d", n, conns)
	}
	stop()
	wg.Wait()
	if strings.Count(sc.Logs(), "basic auth login refused") > 10 {
		t.Error("failed logins flood the log")
	}
}

// metricValue is the value of an unlabelled series in a text exposition.
func metricValue(body, name string) float64 {
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			_, _ = fmt.Sscan(v, &f)
			return f
		}
	}
	return -1
}
