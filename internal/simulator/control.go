package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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

func (s *Simulator) serveControl(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/-/control")
	post := func() bool {
		if r.Method != http.MethodPost {
			methodNotAllowed(w, http.MethodPost)
			return false
		}
		return true
	}
	body := http.MaxBytesReader(w, r.Body, maxControlBody)
	switch {
	case p == "" || p == "/":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, http.MethodGet)
			return
		}
		s.writeState(w)
	case p == "/fault":
		if !post() {
			return
		}
		b, err := io.ReadAll(body)
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
	case p == "/load":
		if !post() {
			return
		}
		mode, err := decodeLoadBody(body)
		if err == nil {
			err = s.SetLoad(mode)
		}
		if err != nil {
			badRequest(w, err)
			return
		}
		s.writeState(w)
	case p == "/token":
		if !post() {
			return
		}
		tok, err := decodeTokenBody(body)
		if err != nil {
			badRequest(w, err)
			return
		}
		s.SetToken(tok)
		s.logger.Info("bearer token replaced", "required", tok != "")
		s.writeState(w)
	case p == "/sessions":
		if !post() {
			return
		}
		req, started, err := decodeSessionBody(body)
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
	case strings.HasPrefix(p, "/sessions/") && len(p) > len("/sessions/"):
		if r.Method != http.MethodDelete {
			methodNotAllowed(w, http.MethodDelete)
			return
		}
		if !s.RemoveSession(strings.TrimPrefix(p, "/sessions/")) {
			writeError(w, http.StatusNotFound, "not_found", "no such session")
			return
		}
		w.Header().Set("Content-Type", contentTypeJSON)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, http.StatusNotFound, "not_found", "no such control path")
	}
}
