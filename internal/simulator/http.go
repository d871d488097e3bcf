package simulator

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/license-monitor/license-monitor/source/csi"
)

const contentTypeJSON = "application/json"

func (s *Simulator) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/-/healthy":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("Healthy.\n"))
	case p == "/-/control" || strings.HasPrefix(p, "/-/control/"):
		s.serveControl(w, r)
	case strings.HasPrefix(p, APIPrefix+"/"):
		s.serveAPI(w, r, strings.TrimPrefix(p, APIPrefix+"/"))
	default:
		writeError(w, http.StatusNotFound, "not_found", "no such path")
	}
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(csi.ErrorDoc{Error: csi.ErrorDetail{Code: code, Message: msg}})
	writeJSON(w, status, b)
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use "+allow)
}

// serveAPI routes the upstream API: licenses, sessions and
// sessions/{id}/terminate.
func (s *Simulator) serveAPI(w http.ResponseWriter, r *http.Request, rest string) {
	var ep, id string
	switch {
	case rest == csi.PathLicenses:
		ep = EndpointLicenses
	case rest == csi.PathSessions:
		ep = EndpointSessions
	case strings.HasPrefix(rest, csi.PathSessions+"/") && strings.HasSuffix(rest, "/"+csi.PathTerminateSuffix):
		id = strings.TrimSuffix(strings.TrimPrefix(rest, csi.PathSessions+"/"), "/"+csi.PathTerminateSuffix)
		if id == "" || strings.Contains(id, "/") {
			writeError(w, http.StatusNotFound, "not_found", "no such path")
			return
		}
		ep = EndpointTerminate
	default:
		writeError(w, http.StatusNotFound, "not_found", "no such path")
		return
	}
	want := http.MethodGet
	if ep == EndpointTerminate {
		want = http.MethodPost
	}
	if r.Method != want {
		methodNotAllowed(w, want)
		return
	}
	for i, e := range allEndpoints {
		if e == ep {
			s.requests[i].Add(1)
		}
	}
	if !s.authorized(r) {
		writeError(w, http.StatusUnauthorized, "unauthorized", "missing or invalid credentials")
		return
	}
	f, ok := s.waitFaults(r.Context(), ep)
	if !ok {
		if r.Context().Err() == nil {
			writeError(w, http.StatusServiceUnavailable, "unavailable", "the server is shutting down")
		}
		return
	}
	switch f.Kind {
	case FaultHTTP5xx:
		writeError(w, f.Status, "internal", "simulated server error")
		return
	case FaultRateLimit:
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		writeError(w, http.StatusTooManyRequests, "rate_limited", "too many requests")
		return
	case FaultUnauthorized:
		writeError(w, http.StatusUnauthorized, "unauthorized", "missing or invalid credentials")
		return
	}
	switch ep {
	case EndpointLicenses:
		s.serveLicenses(w, f)
	case EndpointSessions:
		s.serveSessions(w, r, f)
	case EndpointTerminate:
		s.serveTerminate(w, id, f)
	}
}

// authorized checks the bearer token and the link's key, in constant time.
func (s *Simulator) authorized(r *http.Request) bool {
	s.mu.Lock()
	token, key := s.token, s.apiKey
	s.mu.Unlock()
	if token != "" {
		h := r.Header.Get("Authorization")
		const scheme = "Bearer "
		if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) ||
			subtle.ConstantTimeCompare([]byte(h[len(scheme):]), []byte(token)) != 1 {
			return false
		}
	}
	if key != "" {
		if subtle.ConstantTimeCompare([]byte(r.URL.Query().Get("key")), []byte(key)) != 1 {
			return false
		}
	}
	return true
}

// waitFaults applies the waiting faults (latency, hang) and returns the
// fault in force for ep afterwards. ok is false when the client went away
// or the simulator closed.
func (s *Simulator) waitFaults(ctx context.Context, ep string) (f Fault, ok bool) {
	for {
		s.mu.Lock()
		f, changed := s.fault, s.faultChanged
		s.mu.Unlock()
		if !f.applies(ep) {
			return Fault{Kind: FaultNone}, true
		}
		switch f.Kind {
		case FaultLatency:
			t := time.NewTimer(f.Latency)
			defer t.Stop()
			select {
			case <-t.C:
				return f, true
			case <-ctx.Done():
				return f, false
			case <-s.done:
				return f, false
			}
		case FaultHang:
			s.hanging.Add(1)
			select {
			case <-changed:
				s.hanging.Add(-1)
				continue // cleared or replaced: look again
			case <-ctx.Done():
				s.hanging.Add(-1)
				return f, false
			case <-s.done:
				s.hanging.Add(-1)
				return f, false
			}
		default:
			return f, true
		}
	}
}

func (s *Simulator) serveLicenses(w http.ResponseWriter, f Fault) {
	s.mu.Lock()
	s.advanceLocked()
	snap := s.currentLocked()
	genAt := ts(s.simNow)
	s.mu.Unlock()

	switch f.Kind {
	case FaultNegative, FaultNonInteger, FaultDuplicateIDs:
		docs := s.licenseDocs(snap)
		var body []byte
		switch f.Kind {
		case FaultNegative:
			docs[0].Seats = csi.Int64(-3)
			body = s.licensesBody(snap, genAt, docs)
		case FaultNonInteger:
			// Mark the seat count with a number no real field holds, then
			// swap its text for 2.5: the wire type cannot carry a fraction.
			const marker = -7357135531
			docs[0].Seats = csi.Int64(marker)
			body = bytes.Replace(s.licensesBody(snap, genAt, docs), []byte(strconv.Itoa(marker)), []byte("2.5"), 1)
		case FaultDuplicateIDs:
			if len(docs) > 1 {
				docs[1].ID = docs[0].ID
			}
			body = s.licensesBody(snap, genAt, docs)
		}
		writeJSON(w, http.StatusOK, body)
		return
	case FaultHuge:
		docs := s.licenseDocs(snap)
		items := make([][]byte, len(docs))
		for i := range docs {
			items[i], _ = json.Marshal(docs[i])
		}
		pre, post := licensesEnvelope(s.acct, genAt)
		streamHuge(w, http.StatusOK, f.HugeBytes, pre, post, items)
		return
	}
	writeBody(w, http.StatusOK, s.cachedLicenses(snap, genAt), f)
}

// writeBody writes a normal answer, or the body faults' version of it.
func writeBody(w http.ResponseWriter, status int, body []byte, f Fault) {
	switch f.Kind {
	case FaultMalformed:
		writeJSON(w, status, malformedBody)
	case FaultTruncated:
		writeJSON(w, status, body[:len(body)/2])
	case FaultWrongShape:
		writeJSON(w, status, wrongShape(body))
	case FaultHuge:
		pre, post := splitPad(body)
		streamHuge(w, status, f.HugeBytes, pre, post, nil)
	default:
		writeJSON(w, status, body)
	}
}

// malformedBody is what a misconfigured proxy sends: not JSON at all.
var malformedBody = []byte("<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><h1>Bad Gateway</h1></body></html>\n")

// wrongShape keeps a JSON object's keys but gives every value the wrong
// type: arrays become objects, objects strings, strings numbers.
func wrongShape(body []byte) []byte {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return []byte(`{"unexpected":true}`)
	}
	for k, v := range m {
		switch v.(type) {
		case []any:
			m[k] = map[string]any{}
		case map[string]any:
			m[k] = "unexpected"
		case string:
			m[k] = 12345
		case float64:
			m[k] = "12345"
		case bool:
			m[k] = []any{v}
		default:
			m[k] = []any{}
		}
	}
	b, _ := json.Marshal(m)
	return b
}

// splitPad splits an object's encoding before its closing brace, where
// whitespace may go.
func splitPad(body []byte) (pre, post []byte) {
	i := bytes.LastIndexByte(body, '}')
	if i < 0 {
		return body, nil
	}
	return body[:i], body[i:]
}

var spaces = bytes.Repeat([]byte{' '}, 4096)

// streamHuge writes a valid JSON body of exactly size bytes (when size
// allows): pre, then items cycled and comma separated, then whitespace,
// then post. It streams in chunks and stops when the client goes away.
func streamHuge(w http.ResponseWriter, status int, size int64, pre, post []byte, items [][]byte) {
	w.Header().Set("Content-Type", contentTypeJSON)
	w.WriteHeader(status)
	const chunk = 64 << 10
	buf := make([]byte, 0, chunk+4096)
	remaining := size - int64(len(pre)) - int64(len(post))
	buf = append(buf, pre...)
	flush := func() bool {
		if _, err := w.Write(buf); err != nil {
			return false
		}
		buf = buf[:0]
		return true
	}
	for i := 0; len(items) > 0; i++ {
		it := items[i%len(items)]
		n := int64(len(it))
		if i > 0 {
			n++
		}
		if n > remaining {
			break
		}
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, it...)
		remaining -= n
		if len(buf) >= chunk && !flush() {
			return
		}
	}
	for remaining > 0 {
		n := min(remaining, int64(chunk-len(buf)))
		if n <= 0 {
			if !flush() {
				return
			}
			continue
		}
		for k := int64(0); k < n; {
			m := min(n-k, int64(len(spaces)))
			buf = append(buf, spaces[:m]...)
			k += m
		}
		remaining -= n
	}
	buf = append(buf, post...)
	flush()
}

func (s *Simulator) serveSessions(w http.ResponseWriter, r *http.Request, f Fault) {
	q := r.URL.Query()
	size := csi.DefaultPageSize
	if v := q.Get(csi.ParamPageSize); v != "" || q.Has(csi.ParamPageSize) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > csi.MaxPageSize {
			writeError(w, http.StatusBadRequest, "bad_request", "page_size must be an integer from 1 to "+strconv.Itoa(csi.MaxPageSize))
			return
		}
		size = n
	}
	tok := q.Get(csi.ParamPageToken)
	endless := f.Kind == FaultEndlessPages

	s.mu.Lock()
	s.advanceLocked()
	var snap *snapshot
	var off uint64
	if tok == "" {
		snap = s.currentLocked()
	} else {
		v, o, err := decodeToken(s.seed, tok)
		if err == nil {
			snap = s.findVersionLocked(v)
		}
		if snap == nil {
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, "invalid_page_token", "unknown or expired page_token")
			return
		}
		off = o
	}
	s.mu.Unlock()

	n := uint64(len(snap.sessions))
	if !endless && off > 0 && off >= n {
		writeError(w, http.StatusBadRequest, "invalid_page_token", "unknown or expired page_token")
		return
	}
	var body []byte
	switch f.Kind {
	case FaultEndlessPages:
		// A fresh token every time; the content wraps around.
		next := encodeToken(s.seed, snap.version, off+uint64(size))
		start := 0
		if n > 0 {
			start = int(off % n)
		}
		body = snap.page(start, size, next, false)
	case FaultRepeatToken:
		// The token handed out is the one that fetched this page.
		body = snap.page(int(off), size, encodeToken(s.seed, snap.version, off), false)
	case FaultDuplicateIDs:
		end := min(off+uint64(size), n)
		page := csi.SessionsDoc{Sessions: make([]csi.SessionDoc, 0, end-off)}
		for _, x := range snap.sessions[off:end] {
			page.Sessions = append(page.Sessions, x.doc(s.acct.licenses[x.lic].id))
		}
		if len(page.Sessions) > 1 {
			page.Sessions[1].ID = page.Sessions[0].ID
		}
		if end < n {
			page.NextPageToken = encodeToken(s.seed, snap.version, end)
		}
		body, _ = json.Marshal(page)
	case FaultHuge:
		items := make([][]byte, 0, min(n, 1000))
		for _, x := range snap.sessions[:min(n, 1000)] {
			items = append(items, x.enc)
		}
		pre, post := sessionsEnvelope("")
		streamHuge(w, http.StatusOK, f.HugeBytes, pre, post, items)
		return
	default:
		next := ""
		if end := off + uint64(size); end < n {
			next = encodeToken(s.seed, snap.version, end)
		}
		body = snap.page(int(off), size, next, true)
	}
	writeBody(w, http.StatusOK, body, f)
}

func (s *Simulator) serveTerminate(w http.ResponseWriter, id string, f Fault) {
	s.mu.Lock()
	s.advanceLocked()
	x := s.byID[id]
	fail := func(status int, code, msg string) {
		s.mu.Unlock()
		b, _ := json.Marshal(csi.ErrorDoc{Error: csi.ErrorDetail{Code: code, Message: msg}})
		writeBody(w, status, b, f)
	}
	if x == nil {
		fail(http.StatusNotFound, "not_found", "no such session")
		return
	}
	if x.checkedOut {
		fail(http.StatusConflict, csi.CodeCheckedOut, "the session is checked out and cannot be terminated remotely")
		return
	}
	if s.acct.licenses[x.lic].typ != csi.TypeCloudSignIn {
		fail(http.StatusConflict, csi.CodeNotTerminable, "only cloud sign-in sessions can be terminated")
		return
	}
	s.removeLocked(x)
	s.mu.Unlock()
	s.logger.Info("session terminated", "session", id)
	body, _ := json.Marshal(csi.TerminateDoc{SessionID: id, Status: csi.TerminateStatusTerminating})
	writeBody(w, http.StatusAccepted, body, f)
}
