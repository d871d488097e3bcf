package sidecar

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// expectation for one role × owner × kind, written out by hand from
// README.md's "Who may do what".
type expectation struct {
	status  int
	outcome string
	why     string // the answer's why, "" for none
	called  bool   // the upstream terminate call is made
	read    bool   // upstream is read to decide
}

var (
	terminated  = expectation{http.StatusOK, OutcomeTerminated, "", true, true}
	checkedOut  = expectation{http.StatusConflict, OutcomeNotTerminable, WhyCheckedOut, false, true}
	cloudKey    = expectation{http.StatusConflict, OutcomeNotTerminable, WhyNotCloudSignIn, false, true}
	tooYoung    = expectation{http.StatusConflict, OutcomeNotTerminable, WhyTooYoung, false, true}
	notYours    = expectation{http.StatusForbidden, OutcomeDenied, WhyNotYours, false, true}
	noPerm      = expectation{http.StatusForbidden, OutcomeDenied, WhyNoPermission, false, false}
	unauthentic = expectation{http.StatusUnauthorized, OutcomeUnauthenticated, "", false, false}
)

// The table: role → own/other → kind.
var authzTable = map[string]map[string]map[string]expectation{
	"administrator": {
		"own":   {kindSignIn: terminated, kindCheckedOut: checkedOut, kindCloudKey: cloudKey, kindYoung: tooYoung},
		"other": {kindSignIn: terminated, kindCheckedOut: checkedOut, kindCloudKey: cloudKey, kindYoung: tooYoung},
	},
	"plain": {
		"own":   {kindSignIn: terminated, kindCheckedOut: checkedOut, kindCloudKey: cloudKey, kindYoung: tooYoung},
		"other": {kindSignIn: notYours, kindCheckedOut: checkedOut, kindCloudKey: cloudKey, kindYoung: tooYoung},
	},
	"none": {
		"own":   {kindSignIn: noPerm, kindCheckedOut: noPerm, kindCloudKey: noPerm, kindYoung: noPerm},
		"other": {kindSignIn: noPerm, kindCheckedOut: noPerm, kindCloudKey: noPerm, kindYoung: noPerm},
	},
}

// who is a caller of one role through one identity source.
type who struct {
	caller
	identity string   // the identity the audit line must name
	source   string   // identity_source in the audit line
	roles    []string // roles in the audit line
	upstream string   // the upstream user that owns "own" sessions
}

func callers(source string) map[string]who {
	switch source {
	case SourceBasicAuth:
		return map[string]who{
			"administrator": {caller{basicUser: "admin"}, "admin", SourceBasicAuth, []string{"account_administrator"}, "admin@acme.example"},
			"plain":         {caller{basicUser: "bob"}, "bob", SourceBasicAuth, []string{"license_monitor"}, "bob@acme.example"},
			"none":          {caller{basicUser: "nobody"}, "nobody", SourceBasicAuth, []string{"nothing"}, "nobody@acme.example"},
		}
	default: // proxy; the untrusted case sends the same headers from elsewhere
		from := ""
		if source == "untrusted_proxy" {
			from = "127.0.0.2"
		}
		return map[string]who{
			// Groups: one header value with a comma-separated list.
			"administrator": {caller{proxyUser: "admin@acme.example", groups: []string{"engineering, license-admins"}, fromAddr: from},
				"admin@acme.example", SourceProxy, []string{"account_administrator"}, "admin@acme.example"},
			"plain": {caller{proxyUser: "bob@acme.example", fromAddr: from},
				"bob@acme.example", SourceProxy, []string{"license_monitor"}, "bob@acme.example"},
			// Groups none of which is mapped to a role.
			"none": {caller{proxyUser: "nobody@acme.example", groups: []string{"staff, interns"}, fromAddr: from},
				"nobody@acme.example", SourceProxy, []string{}, "nobody@acme.example"},
		}
	}
}

func TestAuthorizationTable(t *testing.T) {
	up := newFakeUpstream(t)
	servers := map[string]*testSidecar{
		SourceBasicAuth: startSidecar(t, up, "", true),
		// Proxy mode without basic auth users, as behind oauth2-proxy.
		SourceProxy:       startSidecar(t, up, "", false),
		"untrusted_proxy": nil,
	}
	servers["untrusted_proxy"] = servers[SourceProxy]

	for _, source := range []string{SourceBasicAuth, SourceProxy, "untrusted_proxy"} {
		ts := servers[source]
		for role, byOwner := range authzTable {
			w := callers(source)[role]
			for _, owner := range []string{"own", "other"} {
				for _, kind := range kinds {
					want := byOwner[owner][kind]
					if source == "untrusted_proxy" {
						want = unauthentic
					}
					sessOwner := w.upstream
					if owner == "other" {
						sessOwner = "carol@acme.example"
					}
					id := sessionID(sessOwner, kind)
					t.Run(source+"/"+role+"/"+owner+"/"+kind, func(t *testing.T) {
						up.reset()
						// Each row is the first refusal of its kind: forget
						// the collapsed ones of earlier rows.
						ts.refusals.due(testNow, 0)
						_, before := ts.lastAuditOrNone(t)
						ans := ts.terminate(t, w.caller, id)
						if ans.status != want.status {
							t.Fatalf("status %d, want %d: %s", ans.status, want.status, ans.body)
						}
						body := ans.json(t)
						if body["outcome"] != want.outcome {
							t.Errorf("answer outcome %v, want %s", body["outcome"], want.outcome)
						}
						if want.why != "" && body["why"] != want.why {
							t.Errorf("answer why %v, want %s", body["why"], want.why)
						}
						if want.status == http.StatusConflict && !strings.Contains(body["reason"].(string), map[string]string{
							WhyCheckedOut: "checked out", WhyNotCloudSignIn: "cloud_key", WhyTooYoung: "min_session_age"}[want.why]) {
							t.Errorf("409 reason does not explain: %v", body["reason"])
						}

						terms, reads := up.calls()
						if want.called {
							if !slices.Equal(terms, []string{id}) {
								t.Errorf("upstream terminate calls %v, want exactly [%s]", terms, id)
							}
							if up.has(id) {
								t.Errorf("session %s is still upstream", id)
							}
						} else if len(terms) != 0 {
							t.Errorf("upstream terminate was called: %v", terms)
						}
						if !want.read && reads != 0 {
							t.Errorf("upstream was read %d times for a caller refused up front", reads)
						}

						rec, n := ts.lastAudit(t)
						wantLines := 1
						if want.called {
							wantLines = 2 // the attempt, then the outcome
						}
						if n != before+wantLines {
							t.Fatalf("%d audit lines written, want %d", n-before, wantLines)
						}
						if want.called {
							att := ts.auditLines(t)[n-2]
							if att.Phase != PhaseAttempt || att.RequestID == "" || att.RequestID != rec.RequestID || att.Upstream != UpstreamNotCalled {
								t.Errorf("attempt line %+v does not precede outcome %+v", att, rec)
							}
						}
						if rec.Phase != PhaseOutcome || rec.Count != 1 || rec.Schema != AuditSchema || rec.RequestID != ans.header.Get("X-Request-Id") {
							t.Errorf("audit line %+v: want phase outcome, count 1, schema %d, the answer's request id", rec, AuditSchema)
						}
						if rec.Outcome != want.outcome || rec.Session != id {
							t.Errorf("audit outcome %q session %q, want %q %q", rec.Outcome, rec.Session, want.outcome, id)
						}
						wantDecision := DecisionDeny
						if want.called {
							wantDecision = DecisionAllow
						}
						if rec.Decision != wantDecision {
							t.Errorf("audit decision %q, want %q", rec.Decision, wantDecision)
						}
						wantUp := UpstreamNotCalled
						if want.called {
							wantUp = "accepted"
						}
						if rec.Upstream != wantUp {
							t.Errorf("audit upstream %q, want %q", rec.Upstream, wantUp)
						}
						if want.status == http.StatusUnauthorized {
							if rec.Identity != "" || len(rec.Roles) != 0 {
								t.Errorf("an unauthenticated request is audited with identity %q roles %v", rec.Identity, rec.Roles)
							}
							if rec.Remote != "127.0.0.2" {
								t.Errorf("audit remote %q, want the untrusted peer 127.0.0.2", rec.Remote)
							}
							return
						}
						if rec.Identity != w.identity || rec.IdentitySource != w.source || !slices.Equal(rec.Roles, w.roles) {
							t.Errorf("audit identity %q/%s roles %v, want %q/%s %v", rec.Identity, rec.IdentitySource, rec.Roles, w.identity, w.source, w.roles)
						}
						wantOwner := ""
						if want.read {
							wantOwner = sessOwner
						}
						if rec.Owner != wantOwner {
							t.Errorf("audit owner %q, want %q", rec.Owner, wantOwner)
						}
					})
				}
			}
		}
	}
}

func (ts *testSidecar) lastAuditOrNone(t *testing.T) (AuditRecord, int) {
	lines := ts.auditLines(t)
	if len(lines) == 0 {
		return AuditRecord{}, 0
	}
	return lines[len(lines)-1], len(lines)
}
