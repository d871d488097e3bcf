package simulator

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/license-monitor/license-monitor/internal/serve"
	"github.com/license-monitor/license-monitor/source/csi"
)

const contentTypeJSON = "application/json"

// WriteTimeout is how long an answer may take to write, counted from when
// it starts: after a latency or hang fault has waited, and again for each
// chunk of a huge fault's stream. The server's WriteTimeout should be the
// same, for everything else. A client that stops reading is cut off after
// it; one that reads is never cut off by a long fault or a huge body.
const WriteTimeout = time.Minute

// extendWriteDeadline restarts w's write deadline; ignored where the
// writer cannot set one (a recorder in tests).
func extendWriteDeadline(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(WriteTimeout))
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

// routes registers the upstream API and the control API on mux. Each path
// also has a method-less pattern, less specific than its method's, so a
// wrong method gets upstream's JSON 405 rather than ServeMux's text one.
func (s *Simulator) routes(mux *http.ServeMux, apiRoutes, control bool) {
	apiPath := func(p string) string { return APIPrefix + "/" + p }
	handle := func(method, path string, h http.HandlerFunc) {
		mux.HandleFunc(method+" "+path, h)
		mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) { methodNotAllowed(w, method) })
	}
	handle(http.MethodGet, "/-/healthy", serve.Healthy.ServeHTTP)
	if apiRoutes {
		handle(http.MethodGet, apiPath(csi.PathLicenses), s.api(EndpointLicenses, func(w http.ResponseWriter, _ *http.Request, f Fault) {
			s.serveLicenses(w, f)
		}))
		handle(http.MethodGet, apiPath(csi.PathSessions), s.api(EndpointSessions, s.serveSessions))
		handle(http.MethodPost, apiPath(csi.PathSessions+"/{id}/"+csi.PathTerminateSuffix), s.api(EndpointTerminate,
			func(w http.ResponseWriter, r *http.Request, f Fault) { s.serveTerminate(w, r.PathValue("id"), f) }))
		handle(http.MethodGet, apiPath(csi.PathDenials), s.api(EndpointDenials, s.serveDenials))
		// The FlexLM servers' side: no token (lmgrd has none); lmremove
		// changes state, so a browser's cross-origin post is refused.
		handle(http.MethodGet, PathLmstat, s.serveLmstat)
		handle(http.MethodPost, PathLmremove, crossOriginProtect(s.serveLmremove))
	}
	if control {
		s.controlRoutes(handle)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such path")
	})
}

// Handler serves the simulated API under APIPrefix, the control API under
// /-/control and /-/healthy.
func (s *Simulator) Handler() http.Handler { return s.handler(true, true) }

// APIHandler is Handler without the control API (which answers 404), for
// a listener that others reach while the control API listens elsewhere,
// e.g. on loopback only (ControlHandler).
func (s *Simulator) APIHandler() http.Handler { return s.handler(true, false) }

// ControlHandler serves only the control API and /-/healthy.
func (s *Simulator) ControlHandler() http.Handler { return s.handler(false, true) }

func (s *Simulator) handler(api, control bool) http.Handler {
	mux := http.NewServeMux()
	s.routes(mux, api, control)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// ServeMux would redirect a path like sessions//terminate to its
		// clean form; upstream answers 404, and so does the simulator.
		if p, clean := r.URL.Path, path.Clean(r.URL.Path); p != clean && p != clean+"/" {
			writeError(w, http.StatusNotFound, "not_found", "no such path")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// api wraps an upstream endpoint's handler with what every endpoint does
// first: count the request, check the credentials, and apply the fault in
// force (waiting faults wait; status faults answer instead).
func (s *Simulator) api(ep string, serve func(http.ResponseWriter, *http.Request, Fault)) http.HandlerFunc {
	idx := slices.Index(allEndpoints, ep)
	return func(w http.ResponseWriter, r *http.Request) {
		s.requests[idx].Add(1)
		if !s.authorized(r) {
			msg := "missing or invalid credentials"
			if f := s.currentFault(); f.Kind == FaultEchoCredentials && f.applies(ep) {
				msg = echoMessage(r)
			}
			writeError(w, http.StatusUnauthorized, "unauthorized", msg)
			return
		}
		f, ok := s.waitFaults(r.Context(), ep)
		if !ok {
			if r.Context().Err() == nil {
				writeError(w, http.StatusServiceUnavailable, "unavailable", "the server is shutting down")
			}
			return
		}
		// The wait may have used up the server's WriteTimeout.
		extendWriteDeadline(w)
		switch f.Kind {
		case FaultHTTP5xx:
			writeError(w, f.Status, "internal", "simulated server error")
		case FaultRateLimit:
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
			writeError(w, http.StatusTooManyRequests, "rate_limited", "too many requests")
		case FaultUnauthorized:
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing or invalid credentials")
		case FaultEchoCredentials:
			f.echo = echoOf(r)
			serve(w, r, f)
		default:
			serve(w, r, f)
		}
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

// currentFault is the fault in force.
func (s *Simulator) currentFault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault
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
	case FaultExtraFields, FaultMissingField, FaultWrongType, FaultEchoCredentials:
		writeJSON(w, status, reshape(body, f))
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
		extendWriteDeadline(w)
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

// pageSize reads page_size: DefaultPageSize when absent.
func pageSize(q url.Values) (int, error) {
	v := q.Get(csi.ParamPageSize)
	if v == "" && !q.Has(csi.ParamPageSize) {
		return csi.DefaultPageSize, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > csi.MaxPageSize {
		return 0, fmt.Errorf("page_size must be an integer from 1 to %d", csi.MaxPageSize)
	}
	return n, nil
}

var errExpiredToken = errors.New("unknown or expired page_token")

// pageStart finds the snapshot and offset a page token points at; no
// token is the current snapshot's first page.
func (s *Simulator) pageStart(tok string, endless bool) (*snapshot, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	if tok == "" {
		return s.currentLocked(), 0, nil
	}
	v, off, err := decodeToken(s.seed, tok)
	if err != nil {
		return nil, 0, errExpiredToken
	}
	snap := s.findVersionLocked(v)
	if snap == nil || !endless && off > 0 && off >= uint64(len(snap.sessions)) {
		return nil, 0, errExpiredToken
	}
	return snap, off, nil
}

func (s *Simulator) serveSessions(w http.ResponseWriter, r *http.Request, f Fault) {
	q := r.URL.Query()
	size, err := pageSize(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	snap, off, err := s.pageStart(q.Get(csi.ParamPageToken), f.Kind == FaultEndlessPages)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_page_token", err.Error())
		return
	}
	if f.Kind == FaultHuge {
		n := min(len(snap.sessions), 1000)
		items := make([][]byte, 0, n)
		for _, x := range snap.sessions[:n] {
			items = append(items, x.enc)
		}
		pre, post := sessionsEnvelope("")
		streamHuge(w, http.StatusOK, f.HugeBytes, pre, post, items)
		return
	}
	writeBody(w, http.StatusOK, s.sessionsPage(snap, off, size, f), f)
}

// sessionsPage encodes the page of size sessions at off, as the paging
// faults distort it.
func (s *Simulator) sessionsPage(snap *snapshot, off uint64, size int, f Fault) []byte {
	n := uint64(len(snap.sessions))
	switch f.Kind {
	case FaultEndlessPages:
		// A fresh token every time; the content wraps around.
		next := encodeToken(s.seed, snap.version, off+uint64(size))
		start := 0
		if n > 0 {
			start = int(off % n)
		}
		return snap.page(start, size, next, false)
	case FaultRepeatToken:
		// The token handed out is the one that fetched this page.
		return snap.page(int(off), size, encodeToken(s.seed, snap.version, off), false)
	case FaultDuplicateIDs, FaultLongNames, FaultFutureStart:
		end := min(off+uint64(size), n)
		page := csi.SessionsDoc{Sessions: make([]csi.SessionDoc, 0, end-off)}
		for _, x := range snap.sessions[off:end] {
			page.Sessions = append(page.Sessions, x.doc(s.acct.licenses[x.lic].id))
		}
		switch f.Kind {
		case FaultDuplicateIDs:
			if len(page.Sessions) > 1 {
				page.Sessions[1].ID = page.Sessions[0].ID
			}
		case FaultLongNames:
			// Each user stays distinct: its name, padded.
			pad := strings.Repeat("x", f.NameBytes)
			for i := range page.Sessions {
				if u := page.Sessions[i].User; len(u) < f.NameBytes {
					page.Sessions[i].User = u + pad[:f.NameBytes-len(u)]
				}
			}
		case FaultFutureStart:
			if len(page.Sessions) > 0 {
				page.Sessions[0].StartedAt = FutureStart
			}
		}
		if end < n {
			page.NextPageToken = encodeToken(s.seed, snap.version, end)
		}
		body, _ := json.Marshal(page)
		return body
	default:
		next := ""
		if end := off + uint64(size); end < n {
			next = encodeToken(s.seed, snap.version, end)
		}
		return snap.page(int(off), size, next, true)
	}
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
