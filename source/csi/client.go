package csi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/config"

	"github.com/license-monitor/license-monitor/source"
)

const (
	// DefaultMaxResponseBytes bounds one response body.
	DefaultMaxResponseBytes = 64 << 20
	// maxPages stops a pagination that never ends: 1,000 pages of 1,000
	// is a million sessions, far past any real account.
	maxPages = 1000
)

// Options configure a Client.
type Options struct {
	// URL is the API base. It may carry a secret (the "External / API
	// Access" link): it is never printed.
	URL              string
	HTTPClientConfig config.HTTPClientConfig
	MaxResponseBytes int64
	PageSize         int    // sessions per page; 0: MaxPageSize
	UserAgent        string // e.g. "license_exporter/1.2.3"
}

// Client reads the License Monitor API and sends terminate calls. It holds
// no state between calls and is safe for concurrent use.
type Client struct {
	base      *url.URL
	http      *http.Client
	maxBytes  int64
	pageSize  int
	userAgent string
	now       func() time.Time
}

// NewClient builds a Client. Errors never contain the URL.
func NewClient(o Options) (*Client, error) {
	base, err := url.Parse(strings.TrimSpace(o.URL))
	if err != nil {
		return nil, errors.New("the source url does not parse as a URL")
	}
	if base.Scheme != "http" && base.Scheme != "https" {
		return nil, fmt.Errorf("the source url must be http or https, not %q", base.Scheme)
	}
	if base.Host == "" {
		return nil, errors.New("the source url has no host")
	}
	hc, err := config.NewClientFromConfig(o.HTTPClientConfig, "license_monitor", config.WithUserAgent(o.UserAgent))
	if err != nil {
		return nil, fmt.Errorf("http_client_config: %w", err)
	}
	c := &Client{base: base, http: hc, maxBytes: o.MaxResponseBytes, pageSize: o.PageSize, userAgent: o.UserAgent, now: time.Now}
	if c.maxBytes <= 0 {
		c.maxBytes = DefaultMaxResponseBytes
	}
	if c.pageSize <= 0 || c.pageSize > MaxPageSize {
		c.pageSize = MaxPageSize
	}
	return c, nil
}

// Host names the upstream host for logs; it holds no secret.
func (c *Client) Host() string { return c.base.Host }

// RedactURL prints a URL with its user-info and query string hidden, the
// two places a secret link keeps its secret.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable url>"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "redacted"
	}
	u.Fragment = ""
	return u.String()
}

// endpoint joins the base with path segments and keeps the base's query
// (where a secret link keeps its key), adding extra parameters.
func (c *Client) endpoint(extra url.Values, segments ...string) string {
	u := c.base.JoinPath(segments...)
	if len(extra) > 0 {
		q := u.Query()
		for k, vs := range extra {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// do sends one request and returns the open body of a response whose
// status is want. Any other status becomes an *source.Error.
func (c *Client) do(ctx context.Context, op, method, target string, want int) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return nil, &source.Error{Reason: source.ReasonConnection, Op: op, Detail: "cannot build the request"}
	}
	req.Header.Set("Accept", "application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, transportError(op, err)
	}
	if t, ok := ctx.Value(tapKey{}).(*tap); ok { // a probe's read (raw.go)
		if err := t.record(op, resp, want, c.maxBytes); err != nil {
			return nil, err
		}
	}
	if resp.StatusCode == want {
		return resp.Body, nil
	}
	defer resp.Body.Close()
	return nil, c.statusError(op, resp)
}

func (c *Client) statusError(op string, resp *http.Response) *source.Error {
	e := &source.Error{Op: op, Status: resp.StatusCode}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		e.Reason = source.ReasonRateLimited
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	case resp.StatusCode >= 500:
		e.Reason = source.ReasonHTTP5xx
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	case resp.StatusCode >= 400:
		e.Reason = source.ReasonHTTP4xx
	default:
		e.Reason = source.ReasonInvalid
		e.Detail = "unexpected status"
	}
	// The error body is small; read a bounded prefix for its code.
	var doc ErrorDoc
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if json.Unmarshal(body, &doc) == nil {
		e.Code = sanitize(doc.Error.Code, 64)
		if e.Detail == "" {
			e.Detail = sanitize(doc.Error.Message, 200)
		}
	}
	return e
}

// sanitize keeps upstream's text printable and short, for logs.
func sanitize(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// limitedReader fails with errTooLarge once more than n bytes are read, so
// a large body is told apart from a truncated one.
type limitedReader struct {
	r io.Reader
	n int64
}

var errTooLarge = errors.New("body over the size limit")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errTooLarge
	}
	return n, err
}

// decode reads one JSON document from body into v, within the size limit,
// and classifies what goes wrong. The body is read whole, then decoded by
// fastDecode, which answers as encoding/json does.
func (c *Client) decode(op string, body io.ReadCloser, v any) error {
	buf := bodyBufs.Get().(*bytes.Buffer)
	defer putBuf(buf)
	err := c.readBody(body, buf)
	if err == nil {
		err = fastDecode(buf.Bytes(), v)
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, errTooLarge) {
		return &source.Error{Reason: source.ReasonTooLarge, Op: op, Detail: fmt.Sprintf("response body larger than max_response_bytes (%d)", c.maxBytes)}
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return &source.Error{Reason: source.ReasonInvalid, Op: op, Detail: sanitize(fmt.Sprintf("field %q: JSON %s where the API has %s", typeErr.Field, sanitize(typeErr.Value, 40), typeErr.Type), 300)}
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		if syntaxErr.Offset >= int64(buf.Len()) {
			return &source.Error{Reason: source.ReasonDecode, Op: op, Detail: "body ended before the JSON document did (truncated)"}
		}
		return &source.Error{Reason: source.ReasonDecode, Op: op, Detail: sanitize(fmt.Sprintf("not JSON at byte %d: %s", syntaxErr.Offset, syntaxErr.Error()), 200)}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &source.Error{Reason: source.ReasonDecode, Op: op, Detail: "body ended before the JSON document did (truncated)"}
	}
	if r := source.ReasonOf(err); r != "" {
		return err
	}
	// A read error mid-body: the connection or the deadline.
	if isTransport(err) {
		return transportError(op, err)
	}
	return &source.Error{Reason: source.ReasonDecode, Op: op, Detail: sanitize(err.Error(), 200)}
}

// readBody reads body into buf, failing with errTooLarge past the limit.
func (c *Client) readBody(body io.ReadCloser, buf *bytes.Buffer) error {
	defer body.Close()
	_, err := buf.ReadFrom(&limitedReader{r: body, n: c.maxBytes})
	return err
}

// pageDocs reuses the decoded page, a thousand sessions, across polls.
var pageDocs = sync.Pool{New: func() any { return new(SessionsDoc) }}

// bodyBufs reuses body buffers across pages and polls.
var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuf keeps one unusual body from pinning its memory in the pool.
const maxPooledBuf = 4 << 20

func putBuf(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuf {
		return
	}
	b.Reset()
	bodyBufs.Put(b)
}

func isTransport(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// Licenses reads GET {base}/licenses and validates it.
func (c *Client) Licenses(ctx context.Context) (*source.Snapshot, error) {
	const op = "GET licenses"
	body, err := c.do(ctx, op, http.MethodGet, c.endpoint(nil, PathLicenses), http.StatusOK)
	if err != nil {
		return nil, err
	}
	var doc LicensesDoc
	if err := c.decode(op, body, &doc); err != nil {
		return nil, err
	}
	return licensesFromDoc(op, &doc)
}

func licensesFromDoc(op string, doc *LicensesDoc) (*source.Snapshot, error) {
	invalid := func(format string, args ...any) error {
		return &source.Error{Reason: source.ReasonInvalid, Op: op, Detail: sanitize(fmt.Sprintf(format, args...), 300)}
	}
	if doc.Licenses == nil {
		return nil, invalid("no \"licenses\" array")
	}
	s := &source.Snapshot{AccountID: doc.Account.ID, AccountName: doc.Account.Name, Licenses: make([]source.License, 0, len(doc.Licenses))}
	if doc.GeneratedAt != "" {
		t, err := time.Parse(time.RFC3339, doc.GeneratedAt)
		if err != nil {
			return nil, invalid("generated_at %q is not RFC 3339", doc.GeneratedAt)
		}
		s.GeneratedAt = t
	}
	seen := make(map[string]struct{}, len(doc.Licenses))
	for i := range doc.Licenses {
		d := &doc.Licenses[i]
		switch {
		case d.ID == "":
			return nil, invalid("license %d has no id", i)
		case d.Product == "":
			return nil, invalid("license %q has no product", d.ID)
		case d.Type == "":
			return nil, invalid("license %q has no type", d.ID)
		case d.Seats == nil || d.InUse == nil:
			return nil, invalid("license %q lacks seats or in_use", d.ID)
		case *d.Seats < 0 || *d.InUse < 0 || d.CheckedOut < 0:
			return nil, invalid("license %q has a negative count", d.ID)
		}
		if _, dup := seen[d.ID]; dup {
			return nil, invalid("license id %q appears twice", d.ID)
		}
		seen[d.ID] = struct{}{}
		l := source.License{
			ID: d.ID, Product: d.Product, Edition: d.Edition, Version: d.Version,
			Type:  strings.ToLower(d.Type),
			Seats: *d.Seats, InUse: *d.InUse, CheckedOut: d.CheckedOut,
		}
		if d.ExpiresAt != nil && *d.ExpiresAt != "" {
			t, err := time.Parse(time.RFC3339, *d.ExpiresAt)
			if err != nil {
				return nil, invalid("license %q: expires_at %q is not RFC 3339", d.ID, *d.ExpiresAt)
			}
			l.ExpiresAt = t
		}
		s.Licenses = append(s.Licenses, l)
	}
	return s, nil
}

// EachSession reads every page of GET {base}/sessions, validates each
// session and hands it to visit, keeping none: a poll of 200,000 sessions
// then holds one page at a time. s is only valid during the call. When
// EachSession fails, visit may have seen part of the sessions already.
func (c *Client) EachSession(ctx context.Context, visit func(s *source.Session)) error {
	var (
		pages = newPager("sessions")
		// Ids are remembered by a 64-bit hash, seeded anew each call: a
		// duplicate always collides, and two different ids collide with a
		// chance of about 1 in 10^9 per poll of 200,000 sessions, when the
		// poll fails as invalid and the next one, with a new seed, passes.
		// The set takes an eighth of the memory of the ids themselves.
		seed = maphash.MakeSeed()
		ids  = map[uint64]struct{}{}
		doc  = pageDocs.Get().(*SessionsDoc)
		s    source.Session
	)
	defer func() {
		clear(doc.Sessions[:cap(doc.Sessions)])
		*doc = SessionsDoc{Sessions: doc.Sessions[:0]}
		pageDocs.Put(doc)
	}()
	for {
		op, err := pages.next()
		if err != nil {
			return err
		}
		q := url.Values{ParamPageSize: {strconv.Itoa(c.pageSize)}}
		pages.query(q)
		body, err := c.do(ctx, op, http.MethodGet, c.endpoint(q, PathSessions), http.StatusOK)
		if err != nil {
			return err
		}
		// The page's array is reused: decoding into the old elements
		// would leave fields of a longer previous page where this one
		// omits them, so they are cleared first.
		clear(doc.Sessions[:cap(doc.Sessions)])
		*doc = SessionsDoc{Sessions: doc.Sessions[:0]}
		if err := c.decode(op, body, doc); err != nil {
			return err
		}
		if doc.Sessions == nil {
			return &source.Error{Reason: source.ReasonInvalid, Op: op, Detail: "no \"sessions\" array"}
		}
		for i := range doc.Sessions {
			if s, err = sessionFromDoc(op, &doc.Sessions[i]); err != nil {
				return err
			}
			h := maphash.String(seed, s.ID)
			if _, dup := ids[h]; dup {
				return &source.Error{Reason: source.ReasonInvalid, Op: op, Detail: sanitize(fmt.Sprintf("session id %q appears twice", s.ID), 200)}
			}
			ids[h] = struct{}{}
			visit(&s)
		}
		if done, err := pages.advance(op, doc.NextPageToken); done || err != nil {
			return err
		}
	}
}

func sessionFromDoc(op string, d *SessionDoc) (source.Session, error) {
	invalid := func(format string, args ...any) error {
		return &source.Error{Reason: source.ReasonInvalid, Op: op, Detail: sanitize(fmt.Sprintf(format, args...), 300)}
	}
	switch {
	case d.ID == "":
		return source.Session{}, invalid("a session has no id")
	case d.LicenseID == "":
		return source.Session{}, invalid("session %q has no license_id", d.ID)
	case d.User == "":
		return source.Session{}, invalid("session %q has no user", d.ID)
	case d.StartedAt == "":
		return source.Session{}, invalid("session %q has no started_at", d.ID)
	}
	started, err := time.Parse(time.RFC3339, d.StartedAt)
	if err != nil {
		return source.Session{}, invalid("session %q: started_at %q is not RFC 3339", d.ID, d.StartedAt)
	}
	// generated_at is in /licenses, read alongside: the collector checks
	// the start against it (source.StartInBounds); here the fixed bounds.
	if !source.StartInBounds(started, time.Time{}) {
		return source.Session{}, invalid("session %q: started_at %s is before %d or past what a timestamp holds", d.ID, d.StartedAt, source.MinSessionStart.Year())
	}
	s := source.Session{
		ID: d.ID, LicenseID: d.LicenseID, User: d.User, DisplayName: d.DisplayName,
		Host: d.Host, StartedAt: started, CheckedOut: d.CheckedOut,
	}
	if d.CheckoutExpiresAt != nil && *d.CheckoutExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, *d.CheckoutExpiresAt)
		if err != nil {
			return source.Session{}, invalid("session %q: checkout_expires_at is not RFC 3339", d.ID)
		}
		s.CheckoutExpiresAt = t
	}
	return s, nil
}

// EachDenial reads every page of GET {base}/denials?since=, validates
// each denial and hands it to visit. The same denial may come twice (in
// one read or across reads); the caller deduplicates by id. A 404 means
// the account has no such records: source.ErrNotSupported.
func (c *Client) EachDenial(ctx context.Context, since time.Time, visit func(d *source.Denial)) error {
	var (
		pages = newPager("denials")
		doc   DenialsDoc
		d     source.Denial
	)
	for {
		op, err := pages.next()
		if err != nil {
			return err
		}
		q := url.Values{ParamPageSize: {strconv.Itoa(c.pageSize)}}
		if !since.IsZero() {
			// Whole seconds, rounded down, so the window never shrinks.
			q.Set(ParamSince, since.UTC().Format(time.RFC3339))
		}
		pages.query(q)
		body, err := c.do(ctx, op, http.MethodGet, c.endpoint(q, PathDenials), http.StatusOK)
		if err != nil {
			var e *source.Error
			if errors.As(err, &e) && e.Status == http.StatusNotFound && pages.page == 1 {
				return source.ErrNotSupported
			}
			return err
		}
		clear(doc.Denials)
		doc = DenialsDoc{Denials: doc.Denials[:0]}
		if err := c.decode(op, body, &doc); err != nil {
			return err
		}
		if doc.Denials == nil {
			return &source.Error{Reason: source.ReasonInvalid, Op: op, Detail: "no \"denials\" array"}
		}
		for i := range doc.Denials {
			if d, err = denialFromDoc(op, &doc.Denials[i]); err != nil {
				return err
			}
			visit(&d)
		}
		if done, err := pages.advance(op, doc.NextPageToken); done || err != nil {
			return err
		}
	}
}

func denialFromDoc(op string, d *DenialDoc) (source.Denial, error) {
	invalid := func(format string, args ...any) error {
		return &source.Error{Reason: source.ReasonInvalid, Op: op, Detail: sanitize(fmt.Sprintf(format, args...), 300)}
	}
	switch {
	case d.ID == "":
		return source.Denial{}, invalid("a denial has no id")
	case d.At == "":
		return source.Denial{}, invalid("denial %q has no at", d.ID)
	case d.Product == "":
		return source.Denial{}, invalid("denial %q has no product", d.ID)
	}
	at, err := time.Parse(time.RFC3339, d.At)
	if err != nil {
		return source.Denial{}, invalid("denial %q: at %q is not RFC 3339", d.ID, d.At)
	}
	reason := source.DenialOther
	switch d.Reason {
	case DenialNoSeatAvailable:
		reason = source.DenialNoSeat
	case DenialNotInLicenseGroup:
		reason = source.DenialNotInGroup
	}
	return source.Denial{
		ID: d.ID, Time: at, Product: d.Product, Edition: d.Edition,
		LicenseType: strings.ToLower(d.LicenseType), User: d.User, Host: d.Host, Reason: reason,
	}, nil
}

// Terminate asks upstream to end session id. It is not idempotent, so it
// is sent once and never retried here. nil means upstream accepted (202).
// A 404 or 409 comes back as *source.Error with Status and Code set.
func (c *Client) Terminate(ctx context.Context, id string) error {
	const op = "POST terminate"
	if id == "" || id == "." || id == ".." {
		return &source.Error{Reason: source.ReasonInvalid, Op: op, Detail: "not a session id"}
	}
	// Escaped, so an id holding "/" stays one path segment.
	body, err := c.do(ctx, op, http.MethodPost, c.endpoint(nil, PathSessions, url.PathEscape(id), PathTerminateSuffix), http.StatusAccepted)
	if err != nil {
		return refusal(err)
	}
	var doc TerminateDoc
	if err := c.decode(op, body, &doc); err != nil {
		return err
	}
	return nil
}

// refusal passes a 409's code on as source's neutral one, which the
// sidecar tells a checked-out session by.
func refusal(err error) error {
	var e *source.Error
	if errors.As(err, &e) && e.Status == http.StatusConflict {
		switch e.Code {
		case CodeCheckedOut:
			e.Code = source.CodeCheckedOut
		case CodeNotTerminable:
			e.Code = source.CodeNotTerminable
		}
	}
	return err
}

// Terminable reports whether CSI allows a remote terminate of s, a
// session of a license of type licenseType: only Cloud Sign-in sessions
// that are not checked out.
func (c *Client) Terminable(s *source.Session, licenseType string) (bool, string) {
	if s.CheckedOut {
		return false, source.CodeCheckedOut
	}
	if licenseType != TypeCloudSignIn {
		return false, source.CodeNotTerminable
	}
	return true, ""
}

// pager walks a paginated endpoint: it names each page for errors, bounds
// their number, and refuses a token that repeats an earlier one, so that a
// misbehaving upstream cannot keep a poll reading forever.
type pager struct {
	endpoint string
	page     int
	token    string
	seen     map[string]struct{}
}

func newPager(endpoint string) *pager {
	return &pager{endpoint: endpoint, seen: map[string]struct{}{}}
}

// next starts the next page and returns its name for errors, or an error
// once maxPages have been read.
func (p *pager) next() (op string, err error) {
	p.page++
	op = "GET " + p.endpoint + " page " + strconv.Itoa(p.page)
	if p.page > maxPages {
		return op, &source.Error{Reason: source.ReasonInvalid, Op: op, Detail: fmt.Sprintf("pagination did not end after %d pages", maxPages)}
	}
	return op, nil
}

// query adds the current page's token to q.
func (p *pager) query(q url.Values) {
	if p.token != "" {
		q.Set(ParamPageToken, p.token)
	}
}

// advance records the page's next_page_token: done when it is empty.
func (p *pager) advance(op, next string) (done bool, err error) {
	if next == "" {
		return true, nil
	}
	if _, again := p.seen[next]; again {
		return false, &source.Error{Reason: source.ReasonInvalid, Op: op, Detail: "next_page_token repeats an earlier one (pagination loop)"}
	}
	p.seen[next] = struct{}{}
	p.token = next
	return false, nil
}
