package sidecar

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/source"
	"github.com/license-monitor/license-monitor/source/csi"
	"github.com/license-monitor/license-monitor/source/flexlm"
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

// TestDecideFlexLM: the permission matrix for a FlexLM source, with the
// source's own Terminable: floating and not borrowed only, each refusal
// worded for FlexLM. Aliases give bob another upstream name there.
func TestDecideFlexLM(t *testing.T) {
	cfg, err := config.LoadSidecar([]byte(`sources:
  - {name: csi-a, type: csi, url: "http://127.0.0.1:1/x"}
  - {name: flex, type: flexlm, license_server: "27000@lic-a", lmutil: /nonexistent/lmutil}
roles:
  account_administrator: [view_monitor, terminate_sessions]
  license_monitor: [view_monitor]
users: {admin: [account_administrator], bob: [license_monitor], carol: [license_monitor]}
user_aliases:
  bob: {csi-a: bob@acme.example, flex: bob}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	p := testPolicy(t, cfg)
	old := testNow.Add(-2 * time.Hour)
	snap := &source.Snapshot{
		Licenses: []source.License{
			{ID: "csi:ETABS", Type: flexlm.TypeFloating},
			{ID: "csi:SAP2000:23.1", Type: flexlm.TypeNodelocked},
			{ID: "csi:SAFE", Type: flexlm.TypeUncounted},
		},
		Sessions: []source.Session{
			{ID: "bob-floating", LicenseID: "csi:ETABS", User: "bob", StartedAt: old},
			{ID: "bob-borrowed", LicenseID: "csi:ETABS", User: "bob", StartedAt: old, CheckedOut: true},
			{ID: "bob-nodelocked", LicenseID: "csi:SAP2000:23.1", User: "bob", StartedAt: old},
			{ID: "bob-uncounted", LicenseID: "csi:SAFE", User: "bob", StartedAt: old},
			{ID: "bob-unlisted", LicenseID: "csi:GONE", User: "bob", StartedAt: old},
			// The CSI name of bob is not his FlexLM name.
			{ID: "bobmail-floating", LicenseID: "csi:ETABS", User: "bob@acme.example", StartedAt: old},
		},
	}
	notFloating := func(owner string) verdict {
		return verdict{status: 409, outcome: OutcomeNotTerminable, why: WhyNotFloating, owner: owner}
	}
	borrowed := verdict{status: 409, outcome: OutcomeNotTerminable, why: WhyCheckedOut, owner: "bob"}
	type row struct {
		who, session string
		want         verdict
	}
	var rows []row
	for _, who := range []string{"bob", "admin", "carol", "anonymous"} {
		// Terminability is the same for everyone with a permission.
		for id, v := range map[string]verdict{
			"bob-borrowed": borrowed, "bob-nodelocked": notFloating("bob"), "bob-uncounted": notFloating("bob"), "bob-unlisted": notFloating("bob"),
		} {
			if who == "anonymous" {
				v = verdict{status: 403, outcome: OutcomeDenied, why: WhyNoPermission}
			}
			rows = append(rows, row{who, id, v})
		}
	}
	allowed := func(owner, id string) verdict {
		return verdict{next: stepTerminate, allow: true, owner: owner, session: id}
	}
	rows = append(rows,
		row{"bob", "bob-floating", allowed("bob", "bob-floating")},
		row{"admin", "bob-floating", allowed("bob", "bob-floating")},
		row{"carol", "bob-floating", verdict{status: 403, outcome: OutcomeDenied, why: WhyNotYours, owner: "bob"}},
		row{"anonymous", "bob-floating", verdict{status: 403, outcome: OutcomeDenied, why: WhyNoPermission}},
		row{"bob", "bobmail-floating", verdict{status: 403, outcome: OutcomeDenied, why: WhyNotYours, owner: "bob@acme.example"}},
		row{"bob", "gone", verdict{status: 404, outcome: OutcomeNotFound}},
	)
	for _, r := range rows {
		for _, dry := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/%s/dry_run=%v", r.who, r.session, dry), func(t *testing.T) {
				g := p.GrantOf(Identity{Name: r.who, Source: SourceBasicAuth})
				want := r.want
				if dry && want.next == stepTerminate {
					want = verdict{status: 200, allow: true, outcome: OutcomeDryRun, owner: want.owner}
				}
				got := decide(terminateInput{policy: p, grant: &g, source: "flex", session: r.session, snap: snap, dryRun: dry, now: testNow})
				if got.reason == "" {
					t.Error("no reason for the audit line")
				}
				if want.why == WhyCheckedOut && !strings.Contains(got.reason, "borrowed") ||
					want.why == WhyNotFloating && !strings.Contains(got.reason, "not floating") {
					t.Errorf("reason %q is not worded for FlexLM", got.reason)
				}
				got.reason, got.answer = "", ""
				if got != want {
					t.Errorf("got %+v\nwant %+v", got, want)
				}
			})
		}
	}

	// The same ids on the CSI source are judged by CSI's rule and bob's
	// CSI name.
	g := p.GrantOf(Identity{Name: "bob", Source: SourceBasicAuth})
	csiSnap := decisionSnapshot()
	if got := decide(terminateInput{policy: p, grant: &g, source: "csi-a", session: "bob-cloudkey", snap: csiSnap, now: testNow}); got.why != WhyNotCloudSignIn {
		t.Errorf("CSI cloud_key: %+v", got)
	}
	if got := decide(terminateInput{policy: p, grant: &g, source: "csi-a", session: "bob-signin", snap: csiSnap, now: testNow}); got.next != stepTerminate {
		t.Errorf("CSI sign-in of bob@acme.example, bob's CSI alias: %+v", got)
	}
}

// Where the path cannot pick a source, nothing is read, and nobody without
// a permission learns even that.
func TestDecideRoutes(t *testing.T) {
	g := Grant{View: true}
	for _, c := range []struct {
		route route
		grant Grant
		want  verdict
	}{
		{routeAmbiguous, g, verdict{status: 400, outcome: OutcomeBadRequest}},
		{routeUnknownSource, g, verdict{status: 404, outcome: OutcomeNotFound}},
		{routeAmbiguous, Grant{}, verdict{status: 403, outcome: OutcomeDenied, why: WhyNoPermission}},
	} {
		got := decide(terminateInput{grant: &c.grant, route: c.route, session: "S-1", now: testNow})
		got.reason = ""
		if got != c.want {
			t.Errorf("route %d: %+v, want %+v", c.route, got, c.want)
		}
	}
}

// A 409 from lmremove's source maps to FlexLM's words.
func TestAfterTerminateFlexLM(t *testing.T) {
	allowed := verdict{next: stepTerminate, allow: true, owner: "bob", session: "S-1"}
	for code, why := range map[string]string{source.CodeCheckedOut: WhyCheckedOut, source.CodeNotTerminable: WhyNotFloating} {
		v := afterTerminate(allowed, &source.Error{Reason: source.ReasonHTTP4xx, Status: 409, Code: code}, "flexlm")
		if v.status != 409 || v.why != why {
			t.Errorf("%s: %+v", code, v)
		}
	}
	if whyText(WhyCheckedOut, "flexlm") != "Borrowed" || whyText(WhyCheckedOut, "csi") != "Checked out" || whyText(WhyNotFloating, "flexlm") != "Not a floating seat" {
		t.Error("the page's words are not per type")
	}
}
