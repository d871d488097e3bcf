package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/license-monitor/license-monitor/source/csi"
)

// The control API: for tests and demos on loopback, so it needs no token.

const maxControlBody = 1 << 20

type loadBody struct {
	Mode LoadMode `json:"mode"`
}

type tokenBody struct {
	Token *string `json:"token"`
}

// SessionRequest is the body of POST /-/control/sessions.
type SessionRequest struct {
	LicenseID   string `json:"license_id"`
	User        string `json:"user"`
	DisplayName string `json:"display_name"`
	Host        string `json:"host"`
	CheckedOut  bool   `json:"checked_out"`
	StartedAt   string `json:"started_at,omitempty"` // RFC 3339; "" = now (simulated)
}

func decodeLoadBody(r io.Reader) (LoadMode, error) {
	var b loadBody
	if err := decodeStrict(r, &b); err != nil {
		return "", err
	}
	switch b.Mode {
	case LoadNormal, LoadSaturate, LoadIdle:
		return b.Mode, nil
	}
	return "", fmt.Errorf("unknown load mode %q (want normal, saturate or idle)", b.Mode)
}

func decodeTokenBody(r io.Reader) (string, error) {
	var b tokenBody
	if err := decodeStrict(r, &b); err != nil {
		return "", err
	}
	if b.Token == nil {
		return "", errors.New(`token is required ("" turns the check off)`)
	}
	return *b.Token, nil
}

func decodeSessionBody(r io.Reader) (SessionRequest, time.Time, error) {
	var b SessionRequest
	if err := decodeStrict(r, &b); err != nil {
		return b, time.Time{}, err
	}
	if b.LicenseID == "" || b.User == "" {
		return b, time.Time{}, errors.New("license_id and user are required")
	}
	var started time.Time
	if b.StartedAt != "" {
		t, err := time.Parse(time.RFC3339, b.StartedAt)
		if err != nil {
			return b, time.Time{}, errors.New("started_at must be RFC 3339")
		}
		started = t
	}
	return b, started, nil
}

// AddSession creates a session the load model never ends, like
// POST /-/control/sessions. A zero started means the simulated now.
func (s *Simulator) AddSession(req SessionRequest, started time.Time) (csi.SessionDoc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	lic, ok := s.acct.byID[req.LicenseID]
	if !ok {
		return csi.SessionDoc{}, fmt.Errorf("unknown license_id %q", req.LicenseID)
	}
	if started.IsZero() {
		started = s.simNow
	}
	var co *string
	if req.CheckedOut {
		co = csi.String(ts(s.simNow.Add(7 * 24 * time.Hour)))
	}
	x := s.addLocked(lic, -1, req.User, req.DisplayName, req.Host, started, req.CheckedOut, co, true)
	return x.doc(req.LicenseID), nil
}

// RemoveSession ends a session (the user logged off), like
// DELETE /-/control/sessions/{id}. It reports whether the session existed.
func (s *Simulator) RemoveSession(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	x := s.byID[id]
	if x == nil {
		return false
	}
	s.removeLocked(x)
	return true
}

func (s *Simulator) writeState(w http.ResponseWriter) {
	b, err := json.Marshal(s.State())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func badRequest(w http.ResponseWriter, err error) {
	writeError(w, http.StatusBadRequest, "bad_request", err.Error())
}

// controlRoutes registers the control API, one handler a path and method.
// Every change is refused, 403, when a browser sends it from another
// origin (net/http's CrossOriginProtection): a page elsewhere must not be
// able to switch the token check off or inject faults. Programs such as
// curl and the tests send no Sec-Fetch-Site or Origin and pass.
func (s *Simulator) controlRoutes(handle func(method, path string, h http.HandlerFunc)) {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusForbidden, "cross_origin", "cross-origin requests to the control API are refused")
	}))
	protect := func(h http.HandlerFunc) http.HandlerFunc { return cop.Handler(h).ServeHTTP }
	handle(http.MethodGet, "/-/control", func(w http.ResponseWriter, _ *http.Request) { s.writeState(w) })
	handle(http.MethodPost, "/-/control/fault", protect(s.postFault))
	handle(http.MethodPost, "/-/control/load", protect(s.postLoad))
	handle(http.MethodPost, "/-/control/token", protect(s.postToken))
	handle(http.MethodPost, "/-/control/sessions", protect(s.postSession))
	handle(http.MethodDelete, "/-/control/sessions/{id}", protect(s.deleteSession))
	handle(http.MethodPost, "/-/control/denials", protect(s.postDenial))
	handle(http.MethodPost, "/-/control/denials/endpoint", protect(s.postDenialsEndpoint))
	handle(http.MethodPost, "/-/control/clock", protect(s.postClock))
	handle(http.MethodGet, "/-/control/flexlm", s.getFlexAccount)
	handle(http.MethodPost, "/-/control/flexlm/fault", protect(s.postFlexFault))
	handle(http.MethodPost, "/-/control/flexlm/sessions", protect(s.postFlexSession))
}

// controlBody is a control request's body, bounded.
func controlBody(w http.ResponseWriter, r *http.Request) io.Reader {
	return http.MaxBytesReader(w, r.Body, maxControlBody)
}

func (s *Simulator) postFault(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(controlBody(w, r))
	var f Fault
	if err == nil {
		f, err = ParseFault(b)
	}
	if err == nil {
		err = s.SetFault(f)
	}
	if err != nil {
		badRequest(w, err)
		return
	}
	s.writeState(w)
}

func (s *Simulator) postLoad(w http.ResponseWriter, r *http.Request) {
	mode, err := decodeLoadBody(controlBody(w, r))
	if err == nil {
		err = s.SetLoad(mode)
	}
	if err != nil {
		badRequest(w, err)
		return
	}
	s.writeState(w)
}

func (s *Simulator) postToken(w http.ResponseWriter, r *http.Request) {
	tok, err := decodeTokenBody(controlBody(w, r))
	if err != nil {
		badRequest(w, err)
		return
	}
	s.SetToken(tok)
	s.logger.Info("bearer token replaced", "required", tok != "")
	s.writeState(w)
}

func (s *Simulator) postSession(w http.ResponseWriter, r *http.Request) {
	req, started, err := decodeSessionBody(controlBody(w, r))
	if err != nil {
		badRequest(w, err)
		return
	}
	d, err := s.AddSession(req, started)
	if err != nil {
		badRequest(w, err)
		return
	}
	b, _ := json.Marshal(d)
	writeJSON(w, http.StatusCreated, b)
}

func (s *Simulator) deleteSession(w http.ResponseWriter, r *http.Request) {
	if !s.RemoveSession(r.PathValue("id")) {
		writeError(w, http.StatusNotFound, "not_found", "no such session")
		return
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.WriteHeader(http.StatusNoContent)
}
