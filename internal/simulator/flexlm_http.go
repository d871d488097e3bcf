package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// The FlexLM endpoints: what the fake lmutil (cmd/license_simulator, mode
// lmutil) reads and posts. They need no token: lmgrd has none.
const (
	PathLmstat   = "/flexlm/lmstat"
	PathLmremove = "/flexlm/lmremove"
	// HeaderLmutilExit carries the exit status lmutil would have.
	HeaderLmutilExit = "X-Lmutil-Exit"
)

// maxLmremoveCalls is how many recorded lmremove calls are kept.
const maxLmremoveCalls = 1000

// LmremoveRequest is the body of POST /flexlm/lmremove: lmremove's -h
// arguments.
type LmremoveRequest struct {
	Feature    string `json:"feature"`
	ServerHost string `json:"server_host"`
	Port       string `json:"port"`
	Handle     string `json:"handle"`
}

// LmremoveCall is one recorded lmremove call.
type LmremoveCall struct {
	At string `json:"at"` // simulated time, RFC 3339
	LmremoveRequest
	// Result: removed, not_found, borrowed, uncounted or servers_down.
	Result string `json:"result"`
	// User and Host of the checkout removed or refused; "" when none.
	User string `json:"user,omitempty"`
	Host string `json:"host,omitempty"`
}

// The lmremove results.
const (
	LmremoveRemoved     = "removed"
	LmremoveNotFound    = "not_found"
	LmremoveBorrowed    = "borrowed"
	LmremoveUncounted   = "uncounted"
	LmremoveServersDown = "servers_down"
)

// FlexLMState is the FlexLM part of GET /-/control.
type FlexLMState struct {
	Fault          FlexFault      `json:"fault"`
	Sessions       int            `json:"sessions"` // checkouts
	Queued         int            `json:"queued"`
	LmstatRequests int64          `json:"lmstat_requests"`
	Lmremove       []LmremoveCall `json:"lmremove"` // the last 1000, oldest first
}

func (s *Simulator) flexStateLocked() FlexLMState {
	st := FlexLMState{Fault: s.flex.fault, LmstatRequests: s.flex.lmstat, Lmremove: append([]LmremoveCall{}, s.flex.removes...)}
	for _, x := range s.flex.live {
		if x.queued {
			st.Queued++
		} else {
			st.Sessions++
		}
	}
	return st
}

func writeText(w http.ResponseWriter, exit int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set(HeaderLmutilExit, strconv.Itoa(exit))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// flexWait applies the slow fault; false when the client went away or
// the simulator closed.
func (s *Simulator) flexWait(ctx context.Context, f FlexFault) bool {
	if f.Kind != FlexFaultSlow {
		return true
	}
	t := time.NewTimer(f.Latency)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.done:
	}
	return false
}

func (s *Simulator) serveLmstat(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.flex.lmstat++
	f := s.flex.fault
	s.mu.Unlock()
	if !s.flexWait(r.Context(), f) {
		return
	}
	extendWriteDeadline(w)
	s.mu.Lock()
	s.advanceLocked()
	f = s.flex.fault // the fault in force when the answer is made
	body, exit := s.renderLmstatLocked(f)
	s.mu.Unlock()
	if f.Kind != FlexFaultHuge {
		writeText(w, exit, body)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set(HeaderLmutilExit, strconv.Itoa(exit))
	w.WriteHeader(http.StatusOK)
	pad := make([]byte, 64<<10)
	for i := range pad {
		pad[i] = '\n'
	}
	if _, err := w.Write(body); err != nil {
		return
	}
	for left := f.HugeBytes - int64(len(body)); left > 0; left -= int64(len(pad)) {
		extendWriteDeadline(w)
		if _, err := w.Write(pad[:min(left, int64(len(pad)))]); err != nil {
			return
		}
	}
}

func (s *Simulator) serveLmremove(w http.ResponseWriter, r *http.Request) {
	var req LmremoveRequest
	if err := decodeStrict(controlBody(w, r), &req); err != nil {
		badRequest(w, err)
		return
	}
	s.mu.Lock()
	f := s.flex.fault
	s.mu.Unlock()
	if !s.flexWait(r.Context(), f) {
		return
	}
	s.mu.Lock()
	s.advanceLocked()
	call := s.lmremoveLocked(req)
	s.mu.Unlock()
	body := LmutilBanner + "\n"
	exit := 1
	switch call.Result {
	case LmremoveRemoved:
		exit = 0
		s.logger.Info("FlexLM checkout removed", "feature", req.Feature, "handle", req.Handle)
	case LmremoveServersDown:
		body += "lmremove failed: " + lmCannotConnect + "\n"
	case LmremoveBorrowed:
		body += fmt.Sprintf("lmremove failed: handle %s of %s is borrowed (linger) and cannot be removed.\n", req.Handle, req.Feature)
	case LmremoveUncounted:
		body += fmt.Sprintf("lmremove failed: %s is uncounted; handle %s holds no seat to remove.\n", req.Feature, req.Handle)
	default:
		body += fmt.Sprintf("lmremove failed: no checkout of %s with handle %s on %s/%s.\n", req.Feature, req.Handle, req.ServerHost, req.Port)
	}
	writeText(w, exit, []byte(body))
}

// lmremoveLocked ends the matching checkout, if any, and records the call.
func (s *Simulator) lmremoveLocked(req LmremoveRequest) LmremoveCall {
	call := LmremoveCall{At: ts(s.simNow), LmremoveRequest: req, Result: LmremoveNotFound}
	var found *flexSession
	for _, x := range s.flex.live {
		if !x.queued && flexFeatures[x.feat].name == req.Feature && strconv.FormatInt(x.handle, 10) == req.Handle &&
			req.ServerHost == FlexLMServers[0] && req.Port == FlexLMPort {
			found = x
			break
		}
	}
	switch {
	case s.flex.fault.Kind == FlexFaultDown:
		call.Result = LmremoveServersDown
	case found == nil:
	case found.linger > 0:
		call.Result = LmremoveBorrowed
	case flexFeatures[found.feat].uncounted():
		call.Result = LmremoveUncounted
	default:
		call.Result = LmremoveRemoved
		s.flexRemove(found)
	}
	if found != nil {
		call.User, call.Host = found.user.login, found.user.host
	}
	s.flex.removes = append(s.flex.removes, call)
	if len(s.flex.removes) > maxLmremoveCalls {
		s.flex.removes = append(s.flex.removes[:0:0], s.flex.removes[len(s.flex.removes)-maxLmremoveCalls:]...)
	}
	return call
}

func (s *Simulator) postFlexFault(w http.ResponseWriter, r *http.Request) {
	b, err := readControlBody(w, r)
	var f FlexFault
	if err == nil {
		f, err = ParseFlexFault(b)
	}
	if err == nil {
		err = s.SetFlexFault(f)
	}
	if err != nil {
		badRequest(w, err)
		return
	}
	s.writeState(w)
}

func (s *Simulator) getFlexAccount(w http.ResponseWriter, _ *http.Request) {
	b, err := json.Marshal(s.FlexLM())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func readControlBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return io.ReadAll(controlBody(w, r))
}

// maxClockAdvance bounds one POST /-/control/clock advance: the load
// model processes every event on the way.
const maxClockAdvance = 24 * time.Hour

// ClockRequest is the body of POST /-/control/clock: pause or resume the
// simulated clock, and move it forward.
type ClockRequest struct {
	Paused  *bool  `json:"paused,omitempty"`
	Advance string `json:"advance,omitempty"` // a Go duration, > 0
}

// ParseClock decodes (strictly) and checks a clock body.
func ParseClock(b []byte) (paused *bool, advance time.Duration, err error) {
	var c ClockRequest
	if err := decodeStrict(bytes.NewReader(b), &c); err != nil {
		return nil, 0, err
	}
	if c.Advance != "" {
		if advance, err = time.ParseDuration(c.Advance); err != nil {
			return nil, 0, fmt.Errorf("advance: %w", err)
		}
		if advance <= 0 || advance > maxClockAdvance {
			return nil, 0, fmt.Errorf("advance must be above 0 and at most %s", maxClockAdvance)
		}
	}
	if c.Paused == nil && advance == 0 {
		return nil, 0, errors.New("paused or advance is required")
	}
	return c.Paused, advance, nil
}

func (s *Simulator) postClock(w http.ResponseWriter, r *http.Request) {
	b, err := readControlBody(w, r)
	var paused *bool
	var advance time.Duration
	if err == nil {
		paused, advance, err = ParseClock(b)
	}
	if err != nil {
		badRequest(w, err)
		return
	}
	s.SetClock(paused, advance)
	s.writeState(w)
}

// crossOriginProtect refuses a browser's cross-origin request (403), as
// the control API does: a web page must not end checkouts.
func crossOriginProtect(h http.HandlerFunc) http.HandlerFunc {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusForbidden, "cross_origin", "cross-origin requests are refused")
	}))
	return cop.Handler(h).ServeHTTP
}

// FlexLMSessionRequest is the body of POST /-/control/flexlm/sessions: a
// checkout (or queued request) the load model never ends.
type FlexLMSessionRequest struct {
	Feature   string `json:"feature"`
	Version   string `json:"version,omitempty"` // the block; default the feature's first
	User      string `json:"user"`
	Host      string `json:"host"`
	Display   string `json:"display,omitempty"`  // default the host
	Licenses  int64  `json:"licenses,omitempty"` // default 1
	Borrowed  bool   `json:"borrowed,omitempty"` // a three-day linger
	Queued    bool   `json:"queued,omitempty"`
	StartedAt string `json:"started_at,omitempty"` // RFC 3339; default now (simulated)
}

// lmstatToken: user and host are single lmstat fields.
func lmstatToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '(' || r == ')' || r == ',' {
			return false
		}
	}
	return true
}

// AddFlexLMSession adds a pinned FlexLM checkout or queued request, like
// POST /-/control/flexlm/sessions.
func (s *Simulator) AddFlexLMSession(req FlexLMSessionRequest) (FlexLMSessionInfo, error) {
	fi := slices.IndexFunc(flexFeatures, func(f flexFeature) bool { return f.name == req.Feature })
	if fi < 0 {
		return FlexLMSessionInfo{}, fmt.Errorf("unknown feature %q", req.Feature)
	}
	bi := 0
	if req.Version != "" {
		if bi = slices.IndexFunc(flexFeatures[fi].blocks, func(b flexBlock) bool { return b.version == req.Version }); bi < 0 {
			return FlexLMSessionInfo{}, fmt.Errorf("%s has no version %q", req.Feature, req.Version)
		}
	}
	if req.Display == "" {
		req.Display = req.Host
	}
	if !lmstatToken(req.User) || !lmstatToken(req.Host) || !lmstatToken(req.Display) {
		return FlexLMSessionInfo{}, errors.New("user, host and display must be 1-64 printable characters without spaces, commas or parentheses")
	}
	if req.Licenses == 0 {
		req.Licenses = 1
	}
	if req.Licenses < 1 || req.Licenses > 1000 || req.Queued && (req.Borrowed || req.StartedAt != "") {
		return FlexLMSessionInfo{}, errors.New("licenses must be 1..1000, and a queued request is neither borrowed nor started")
	}
	var started time.Time
	if req.StartedAt != "" {
		t, err := time.Parse(time.RFC3339, req.StartedAt)
		if err != nil {
			return FlexLMSessionInfo{}, errors.New("started_at must be RFC 3339")
		}
		started = t
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	if started.IsZero() {
		started = s.simNow
	}
	if started.After(s.simNow) || s.simNow.Sub(started) > 300*24*time.Hour {
		return FlexLMSessionInfo{}, errors.New("started_at must be within 300 days before the simulated now")
	}
	var linger time.Duration
	if req.Borrowed {
		linger = 3 * 24 * time.Hour
	}
	x := s.flexAdd(fi, bi, flexUser{req.User, req.Host, req.Display}, started, req.Licenses, linger, req.Queued, true)
	a := s.flexAccountLocked()
	for _, si := range a.Sessions {
		if si.Feature == req.Feature && si.Handle == strconv.FormatInt(x.handle, 10) {
			return si, nil
		}
	}
	panic("simulator: the added FlexLM session is not listed")
}

func (s *Simulator) postFlexSession(w http.ResponseWriter, r *http.Request) {
	var req FlexLMSessionRequest
	err := decodeStrict(controlBody(w, r), &req)
	var si FlexLMSessionInfo
	if err == nil {
		si, err = s.AddFlexLMSession(req)
	}
	if err != nil {
		badRequest(w, err)
		return
	}
	b, _ := json.Marshal(si)
	writeJSON(w, http.StatusCreated, b)
}
