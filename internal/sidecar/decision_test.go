package sidecar

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/source"
	"github.com/license-monitor/license-monitor/source/csi"
)

// decisionSnapshot has one session of each kind for bob and one for carol.
func decisionSnapshot() *source.Snapshot {
	old := testNow.Add(-2 * time.Hour)
	return &source.Snapshot{
		Licenses: []source.License{
			{ID: "L-SIGNIN", Type: csi.TypeCloudSignIn},
			{ID: "L-KEY", Type: csi.TypeCloudKey},
		},
		Sessions: []source.Session{
			{ID: "bob-signin", LicenseID: "L-SIGNIN", User: "bob@acme.example", StartedAt: old},
			{ID: "bob-checkedout", LicenseID: "L-SIGNIN", User: "bob@acme.example", StartedAt: old, CheckedOut: true},
			{ID: "bob-cloudkey", LicenseID: "L-KEY", User: "bob@acme.example", StartedAt: old},
			{ID: "bob-unlisted", LicenseID: "L-GONE", User: "bob@acme.example", StartedAt: old},
			{ID: "bob-young", LicenseID: "L-SIGNIN", User: "bob@acme.example", StartedAt: testNow.Add(-time.Minute)},
			{ID: "carol-signin", LicenseID: "L-SIGNIN", User: "carol@acme.example", StartedAt: old},
		},
	}
}

func TestDecide(t *testing.T) {
	cfg, err := config.LoadSidecar([]byte(`source: {name: a, type: csi, url: "http://127.0.0.1:1/x"}
roles:
  account_administrator: [view_monitor, terminate_sessions]
  license_monitor: [view_monitor]
users: {admin: [account_administrator], bob: [license_monitor]}
user_aliases: {admin: admin@acme.example, bob: bob@acme.example}
terminate: {min_session_age: 5m}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	p := testPolicy(t, cfg)
	grants := map[string]Grant{
		"admin":  p.GrantOf(Identity{Name: "admin", Source: SourceBasicAuth}),
		"bob":    p.GrantOf(Identity{Name: "bob", Source: SourceProxy}),
		"nobody": p.GrantOf(Identity{Name: "nobody", Source: SourceBasicAuth}),
	}
	snap := decisionSnapshot()
	for _, c := range []struct {
		who, session string
		snap         *source.Snapshot
		dryRun       bool
		want         verdict
	}{
		// Before upstream is read.
		{"nobody", "bob-signin", nil, false, verdict{status: 403, outcome: OutcomeDenied, why: WhyNoPermission}},
		{"nobody", "bob-signin", snap, false, verdict{status: 403, outcome: OutcomeDenied, why: WhyNoPermission}},
		{"bob", "", nil, false, verdict{status: 404, outcome: OutcomeNotFound}},
		{"bob", "bob-signin", nil, false, verdict{next: stepRead}},
		// With the snapshot.
		{"bob", "S-none", snap, false, verdict{status: 404, outcome: OutcomeNotFound}},
		{"bob", "bob-signin", snap, false, verdict{next: stepTerminate, allow: true, owner: "bob@acme.example", session: "bob-signin"}},
		{"bob", "bob-signin", snap, true, verdict{status: 200, allow: true, outcome: OutcomeDryRun, owner: "bob@acme.example"}},
		{"bob", "bob-checkedout", snap, false, verdict{status: 409, outcome: OutcomeNotTerminable, why: WhyCheckedOut, owner: "bob@acme.example"}},
		{"bob", "bob-cloudkey", snap, false, verdict{status: 409, outcome: OutcomeNotTerminable, why: WhyNotCloudSignIn, owner: "bob@acme.example"}},
		{"bob", "bob-unlisted", snap, false, verdict{status: 409, outcome: OutcomeNotTerminable, why: WhyNotCloudSignIn, owner: "bob@acme.example"}},
		{"bob", "bob-young", snap, false, verdict{status: 409, outcome: OutcomeNotTerminable, why: WhyTooYoung, owner: "bob@acme.example"}},
		{"bob", "carol-signin", snap, false, verdict{status: 403, outcome: OutcomeDenied, why: WhyNotYours, owner: "carol@acme.example"}},
		{"bob", "carol-signin", snap, true, verdict{status: 403, outcome: OutcomeDenied, why: WhyNotYours, owner: "carol@acme.example"}},
		{"admin", "carol-signin", snap, false, verdict{next: stepTerminate, allow: true, owner: "carol@acme.example", session: "carol-signin"}},
		{"admin", "bob-young", snap, false, verdict{status: 409, outcome: OutcomeNotTerminable, why: WhyTooYoung, owner: "bob@acme.example"}},
	} {
		t.Run(fmt.Sprintf("%s/%s/snapshot=%v/dry_run=%v", c.who, c.session, c.snap != nil, c.dryRun), func(t *testing.T) {
			g := grants[c.who]
			got := decide(terminateInput{policy: p, grant: &g, source: "a", session: c.session, snap: c.snap, dryRun: c.dryRun, now: testNow})
			if got.next != stepRead && got.reason == "" {
				t.Error("no reason for the audit line")
			}
			got.reason, got.answer = "", ""
			if got != c.want {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestAfterTerminate(t *testing.T) {
	allowed := verdict{next: stepTerminate, allow: true, reason: "own session", owner: "bob@acme.example", session: "S-1"}
	timeout := &source.Error{Reason: source.ReasonTimeout, Op: "POST terminate"}
	for _, c := range []struct {
		name       string
		err        error
		want       verdict
		wantReason string
		wantAnswer string
	}{
		{"accepted", nil,
			verdict{status: 200, outcome: OutcomeTerminated, upstream: "accepted"},
			"own session", "terminated: the software closes on the user's machine"},
		{"gone", &source.Error{Reason: source.ReasonHTTP4xx, Status: 404, Code: "not_found"},
			verdict{status: 404, outcome: OutcomeNotFound, upstream: "http_4xx (HTTP 404) code=not_found"},
			"upstream no longer knows the session (it has ended)", ""},
		{"checked out", &source.Error{Reason: source.ReasonHTTP4xx, Status: 409, Code: source.CodeCheckedOut},
			verdict{status: 409, outcome: OutcomeNotTerminable, why: WhyCheckedOut, upstream: "http_4xx (HTTP 409) code=" + source.CodeCheckedOut},
			"upstream refused: the session is not terminable (" + source.CodeCheckedOut + ")", ""},
		{"not terminable", &source.Error{Reason: source.ReasonHTTP4xx, Status: 409, Code: source.CodeNotTerminable},
			verdict{status: 409, outcome: OutcomeNotTerminable, why: WhyNotCloudSignIn, upstream: "http_4xx (HTTP 409) code=" + source.CodeNotTerminable},
			"upstream refused: the session is not terminable (" + source.CodeNotTerminable + ")", ""},
		{"5xx", &source.Error{Reason: source.ReasonHTTP5xx, Status: 503, RetryAfter: 30 * time.Second},
			verdict{status: 502, outcome: OutcomeUpstreamError, upstream: "http_5xx (HTTP 503)", retryAfter: "30"},
			"the upstream terminate call failed: http_5xx (HTTP 503)", ""},
		{"timeout", timeout,
			verdict{status: 502, outcome: OutcomeUpstreamError, upstream: "timeout"},
			"the upstream terminate call failed: timeout; the session may or may not have ended, check the monitor before trying again", ""},
		{"not an upstream error", context.Canceled,
			verdict{status: 502, outcome: OutcomeUpstreamError, upstream: "error"},
			"the upstream terminate call failed: error", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := afterTerminate(allowed, c.err, "csi")
			if got.reason != c.wantReason || got.answer != c.wantAnswer {
				t.Errorf("reason %q answer %q, want %q %q", got.reason, got.answer, c.wantReason, c.wantAnswer)
			}
			// An allowed request stays allowed in the audit, whatever upstream says.
			c.want.allow, c.want.owner, c.want.session = true, "bob@acme.example", "S-1"
			got.reason, got.answer = "", ""
			if got != c.want {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestRefusalsBeforeDeciding(t *testing.T) {
	if v := readFailed(&source.Error{Reason: source.ReasonConnection}); v.status != http.StatusBadGateway || v.allow ||
		v.upstream != "read failed: connection" || v.reason != "cannot read the session from upstream: connection" {
		t.Errorf("readFailed: %+v", v)
	}
	if v := bodyTooLarge(); v.status != http.StatusRequestEntityTooLarge || v.outcome != OutcomeBadRequest {
		t.Errorf("bodyTooLarge: %+v", v)
	}
	for _, c := range []struct {
		requests int
		interval time.Duration
		want     string
	}{{10, time.Minute, "6"}, {2, time.Hour, "1800"}, {100, time.Second, "1"}} {
		v := rateLimited(config.RateLimit{Requests: c.requests, Interval: model.Duration(c.interval)})
		if v.status != http.StatusTooManyRequests || v.outcome != OutcomeRateLimited || v.retryAfter != c.want {
			t.Errorf("rateLimited(%d per %s): %+v, want Retry-After %s", c.requests, c.interval, v, c.want)
		}
	}
}

// An allowed terminate whose attempt line fails: 503, still allow in the
// audit, and nothing left to call.
func TestAuditUnavailable(t *testing.T) {
	allowed := verdict{next: stepTerminate, allow: true, reason: "own session", owner: "bob@acme.example", session: "S-1"}
	v := auditUnavailable(allowed)
	if v.next != stepAnswer || v.session != "" || v.status != http.StatusServiceUnavailable || !v.allow ||
		v.outcome != OutcomeAuditFailed || v.upstream != UpstreamNotCalled || v.owner != "bob@acme.example" {
		t.Errorf("auditUnavailable: %+v", v)
	}
}
