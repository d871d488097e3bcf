package csi

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"

	"github.com/license-monitor/license-monitor/source"
)

// ReadRaw reads one snapshot as source.ReadAll does, through Licenses and
// EachSession themselves, and hands visit every response body as it came.
// The only difference from a poll is in do: with a tap in the context, a
// body is read whole (within max_response_bytes) before it is decoded,
// and the decoder then reads the same bytes, failing as it would have.
func (c *Client) ReadRaw(ctx context.Context, visit func(d *source.RawDoc) error) (*source.Snapshot, error) {
	return source.ReadAll(ctx, tappedClient{c, visit})
}

// tappedClient is the Client with a tap in the context of each read.
type tappedClient struct {
	*Client
	visit func(*source.RawDoc) error
}

func (t tappedClient) Licenses(ctx context.Context) (*source.Snapshot, error) {
	return t.Client.Licenses(context.WithValue(ctx, tapKey{}, &tap{t.visit, PathLicenses, reflect.TypeFor[LicensesDoc]()}))
}

func (t tappedClient) EachSession(ctx context.Context, visit func(s *source.Session)) error {
	return t.Client.EachSession(context.WithValue(ctx, tapKey{}, &tap{t.visit, PathSessions, reflect.TypeFor[SessionsDoc]()}), visit)
}

type tapKey struct{}

// maxErrorBody bounds what the probe keeps of an answer with another
// status than the one wanted.
const maxErrorBody = 64 << 10

// tap is what ReadRaw puts in a read's context.
type tap struct {
	visit    func(*source.RawDoc) error
	endpoint string
	wire     reflect.Type // of a body with the wanted status
}

// errReader replays a body read's error after its bytes.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// record reads resp's body whole, as far as the size limit, hands it to
// the tap's visit, and puts the same bytes back for the decoder, followed
// by the read's error if there was one (errTooLarge, a timeout), so the
// decoder classifies the read as it would have.
func (t *tap) record(op string, resp *http.Response, want int, maxBytes int64) error {
	var buf bytes.Buffer
	var readErr error
	if resp.StatusCode == want {
		_, readErr = buf.ReadFrom(&limitedReader{r: resp.Body, n: maxBytes})
	} else {
		// A poll reads 4 KiB of an error answer (statusError); the probe
		// keeps a little more for the dump, never the whole of a large one.
		_, readErr = buf.ReadFrom(io.LimitReader(resp.Body, min(maxBytes, maxErrorBody)))
	}
	resp.Body.Close()
	body := buf.Bytes()
	var replay io.Reader = bytes.NewReader(body)
	if readErr != nil {
		replay = io.MultiReader(replay, errReader{readErr})
	}
	resp.Body = io.NopCloser(replay)
	d := &source.RawDoc{
		Name: op, Endpoint: t.endpoint, Status: resp.StatusCode,
		ContentType: resp.Header.Get("Content-Type"), Body: body,
	}
	if resp.StatusCode == want {
		d.Wire = t.wire
	}
	return t.visit(d)
}

// Secrets lists the values in this config that must not leave the
// process: the API link's user-info and query (whole, each pair and each
// value, raw and escaped) and the credentials of http_client_config, read
// from their files where the config names files.
func (c *Config) Secrets() []string {
	var out []string
	add := func(ss ...string) {
		for _, s := range ss {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s, url.QueryEscape(s), url.PathEscape(s))
			}
		}
	}
	file := func(path string) {
		if path == "" {
			return
		}
		if b, err := os.ReadFile(path); err == nil {
			add(string(b))
		}
	}
	if u, err := url.Parse(c.resolvedURL); err == nil {
		if u.User != nil {
			p, _ := u.User.Password()
			add(u.User.String(), p)
		}
		if u.RawQuery != "" {
			add(c.resolvedURL, u.RawQuery)
			for _, pair := range strings.Split(u.RawQuery, "&") {
				add(pair)
				_, v, _ := strings.Cut(pair, "=")
				add(v)
				if uv, err := url.QueryUnescape(v); err == nil {
					add(uv)
				}
			}
		}
	}
	h := c.HTTPClientConfig
	add(string(h.BearerToken))
	file(h.BearerTokenFile)
	if a := h.Authorization; a != nil {
		add(string(a.Credentials))
		file(a.CredentialsFile)
	}
	if b := h.BasicAuth; b != nil {
		add(string(b.Password))
		file(b.PasswordFile)
	}
	if o := h.OAuth2; o != nil {
		add(string(o.ClientSecret))
		file(o.ClientSecretFile)
	}
	return out
}
