// Package simulator serves this project's model of CSI's License Monitor
// API (docs/upstream-api.md) for demos, end-to-end tests and benchmarks.
// Responses are encoded with the wire types of source/csi, so the
// simulator and the client cannot drift apart.
//
// # Clock and determinism
//
// The simulated clock starts at Options.Start and runs Options.Speed times
// faster than the real clock (Options.Now). The simulation advances lazily:
// each request processes the events between the last simulated time and
// now, in time order; no goroutine runs in the background. For one seed and
// start time the account and the event stream are the same, so the same
// requests at the same clock readings give byte-identical answers.
//
// # Accounts
//
// Demo (default): "Acme Engineering" (A-1001) with ETABS (Ultimate, Plus,
// Standard), SAP2000 (Ultimate, Plus, Basic), SAFE, CSiBridge (Advanced,
// Plus), CSiCol and Perform3D licenses of all four types, expiry dates from
// three weeks to a year after the start date and three perpetual standalone
// licenses, and 60 users (first.last@acme.example on hosts WS-nnn; check-outs
// go to laptops LT-nnn). With Churn, arrivals follow the working week in
// Options.Location (morning start, lunch dip, quiet nights and weekends),
// users take the best free pool their level allows and wait or give up when
// every pool is full (load alone never exceeds seats), sessions last from
// ten minutes to a working day, and cloud key seats are checked out for one
// to five days. At weekday peaks ETABS Ultimate (L-ETABS-ULT-1, -2) and other
// small pools run full. The model is warm-started over the week before
// Start, so the first read already looks like that time of day. Without
// Churn the warm-started account stays as it is.
//
// Pinned demo sessions, present from the start and never ended by the load
// model (only by terminate or the control API), for the sidecar's demo users:
//   - bob@acme.example: a cloud_sign_in session on L-ETABS-ULT-1, host WS-BOB,
//     not checked out, started two hours before Start (terminable);
//   - bob@acme.example: a checked-out session on the cloud_key license
//     L-ETABS-ULT-2, host LT-BOB (409 checked_out);
//   - carol@acme.example: a cloud_sign_in session on L-SAP2000-ULT-1, host
//     WS-CAROL (terminable).
//
// Tiers small, large and huge have exactly 12/500/2,000 licenses,
// 60/20,000/200,000 sessions and 60/10,000/100,000 distinct users, spread over
// the same products, editions and types, some cloud key sessions checked out.
// With Churn one random session is replaced every 4h/sessions of simulated
// time by a new one of the same user, license and kind, so the counts stay
// exact.
//
// With no fault on, every license's in_use equals its number of sessions and
// checked_out the number of those checked out; ids are unique and every
// session's license_id is listed.
//
// # API
//
// Under APIPrefix: GET licenses, GET denials (since=, paged like
// sessions; see denials.go), GET sessions (page_size 1..1000, default
// 500; a page token pins the snapshot its read started from, and the last
// eight snapshots stay readable, so one paginated read sees no duplicates or
// gaps from churn) and POST sessions/{id}/terminate (404 unknown, 409
// checked_out, 409 not_terminable unless cloud_sign_in, else 202 and the
// session is gone). Every answer is JSON, errors as {"error":{...}}. Pages
// are built from each session's stored encoding and cached per snapshot.
// With a token (Options.Token) every API request needs
// "Authorization: Bearer <token>", with a key (Options.APIKey) the query
// parameter key=<key>; else 401. Neither is ever logged.
//
// # Control API
//
// For tests and demos on loopback; it needs no token.
//
//	GET    /-/control                state: fault, load, sim_time, requests, sessions
//	POST   /-/control/fault          a Fault, e.g. {"kind":"http_5xx","status":503,"endpoints":["sessions"]}
//	POST   /-/control/load           {"mode":"normal|saturate|idle"}
//	POST   /-/control/token          {"token":"..."} replaces the bearer token ("" = none)
//	POST   /-/control/sessions       a SessionRequest; 201 with the SessionDoc (pinned)
//	DELETE /-/control/sessions/{id}  204: the user logged off
//	POST   /-/control/denials        a DenialRequest; 201 with the DenialDoc (denials.go)
//	POST   /-/control/denials/endpoint  {"enabled":false} makes GET denials answer 404
//	POST   /-/control/clock          {"paused":true}, {"advance":"25m"}, {"paused":false}
//	GET    /-/control/flexlm         the FlexLM account (FlexLMAccount)
//	POST   /-/control/flexlm/fault   a FlexFault, e.g. {"kind":"vendor_down","vendor":"tidalsim"}
//	POST   /-/control/flexlm/sessions  a FlexLMSessionRequest; 201 with the FlexLMSessionInfo (pinned)
//
// Bodies are decoded strictly (unknown fields: 400). Load saturate fills
// every cloud_sign_in and cloud_key pool of the product with the most such
// seats (ETABS in demo) and keeps them full; idle ends every session that
// is neither pinned nor checked out and stops arrivals.
//
// # FlexLM
//
// Beside the CSI account, on the same clock: a FlexLM triad (flexlm.go)
// whose `lmutil lmstat -a` text GET /flexlm/lmstat serves and whose
// checkouts POST /flexlm/lmremove ends (recorded in the control state),
// with faults of its own (POST /-/control/flexlm/fault: slow, down,
// server_down, vendor_down, garbage, huge) and its state as the simulator
// holds it at GET /-/control/flexlm. It draws from a generator of its
// own, so the CSI account for a seed is unchanged. POST /-/control/clock
// pauses and advances the clock of both.
//
// # Faults
//
// One fault at a time, on the listed endpoints (default all):
//   - latency: answers after the given delay;
//   - hang: no answer until the client goes away, the fault is cleared
//     (then the normal answer) or the simulator closes;
//   - http_5xx: the status (default 500) with an error body;
//   - rate_limit: 429 with Retry-After (seconds, default 1);
//   - unauthorized: 401 as if the credential were wrong;
//   - malformed: 200 with an HTML page, not JSON;
//   - truncated: the first half of the normal body;
//   - wrong_shape: the normal keys with values of the wrong JSON types;
//   - huge: a valid body of exactly huge_bytes (default 100 MiB), streamed;
//   - endless_pages: every sessions page carries a fresh token, forever;
//   - repeat_token: every sessions page carries the token that fetched it;
//   - negative, non_integer: the first license's seats are -3 / 2.5;
//   - duplicate_ids: the second license (and session of a page) repeats the
//     first one's id;
//   - extra_fields: fields the model lacks: "extra" on every document,
//     "region" in the account, "note" in every other license and session
//     (the first included);
//   - missing_field: the first license lacks seats, the first session of a
//     page lacks user;
//   - wrong_type: the first license's seats are a string, the first
//     session's started_at a number;
//   - echo_credentials: every document carries "request" with the
//     request's URL (and its key) and Authorization header, and a 401's
//     message repeats the key and the header it got.
//
// Status faults (http_5xx, rate_limit, unauthorized) stop a terminate from
// happening; body faults (malformed, truncated, wrong_shape, huge) spoil the
// answer of a terminate that did happen.
package simulator
