package csi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/config"

	"github.com/license-monitor/license-monitor/source"
)

// ReadRaw hands over every body as served and returns what ReadAll does.
func TestReadRawHandsOverWhatItRead(t *testing.T) {
	srv := httptest.NewServer(recorded(t))
	defer srv.Close()
	c := newTestClient(t, srv.URL+"/api/license-monitor/v1")
	var docs []source.RawDoc
	snap, err := c.ReadRaw(context.Background(), func(d *source.RawDoc) error {
		cp := *d
		cp.Body = slices.Clone(d.Body)
		docs = append(docs, cp)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want, err := source.ReadAll(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(snap, want) {
		t.Errorf("ReadRaw read %+v, ReadAll %+v", snap, want)
	}
	files := []string{"licenses.json", "sessions-page1.json", "sessions-page2.json"}
	names := []string{"GET licenses", "GET sessions page 1", "GET sessions page 2"}
	wires := []reflect.Type{reflect.TypeFor[LicensesDoc](), reflect.TypeFor[SessionsDoc](), reflect.TypeFor[SessionsDoc]()}
	if len(docs) != len(files) {
		t.Fatalf("%d documents, want %d", len(docs), len(files))
	}
	for i, d := range docs {
		if d.Name != names[i] || d.Status != 200 || d.ContentType != "application/json" || d.Wire != wires[i] ||
			!bytes.Equal(d.Body, readTestdata(t, files[i])) {
			t.Errorf("document %d: %s %d %q %v, %d bytes; want %s, the bytes of %s", i, d.Name, d.Status, d.ContentType, d.Wire, len(d.Body), names[i], files[i])
		}
	}
}

// Whatever goes wrong, ReadRaw fails as the poll does, and still hands
// over the body it read.
func TestReadRawFailsAsAPoll(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"too large": func(w http.ResponseWriter, _ *http.Request) { w.Write(bytes.Repeat([]byte(" "), 5000)) },
		"html": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html>bad gateway</html>"))
		},
		"truncated": func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{"licenses":[{"id":`)) },
		"401": func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(401)
			w.Write([]byte(`{"error":{"code":"unauthorized","message":"bad key"}}`))
		},
		"wrong type": func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{"licenses":{}}`)) },
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			c := newTestClient(t, srv.URL, func(o *Options) { o.MaxResponseBytes = 4096 })
			_, pollErr := source.ReadAll(context.Background(), c)
			var got []source.RawDoc
			_, err := c.ReadRaw(context.Background(), func(d *source.RawDoc) error {
				cp := *d
				cp.Body = slices.Clone(d.Body)
				got = append(got, cp)
				return nil
			})
			if pollErr == nil || err == nil || err.Error() != pollErr.Error() || source.ReasonOf(err) != source.ReasonOf(pollErr) {
				t.Fatalf("ReadRaw: %v; the poll: %v", err, pollErr)
			}
			if len(got) != 1 || len(got[0].Body) == 0 || len(got[0].Body) > 4097 {
				t.Fatalf("documents %+v", got)
			}
			if (got[0].Status == 200) != (got[0].Wire != nil) {
				t.Errorf("status %d with wire type %v", got[0].Status, got[0].Wire)
			}
		})
	}
	// An error from visit ends the read, as it is.
	srv := httptest.NewServer(recorded(t))
	defer srv.Close()
	stop := errors.New("stop")
	if _, err := newTestClient(t, srv.URL+"/v1").ReadRaw(context.Background(), func(*source.RawDoc) error { return stop }); err != stop {
		t.Fatalf("visit's error came back as %v", err)
	}
}

// decodeLicenses runs the client's decoding and checks of a licenses body.
func decodeLicenses(b []byte) error {
	var doc LicensesDoc
	if err := fastDecode(b, &doc); err != nil {
		return err
	}
	_, err := licensesFromDoc("GET licenses", &doc)
	return err
}

func decodeSessions(b []byte) error {
	var doc SessionsDoc
	if err := fastDecode(b, &doc); err != nil {
		return err
	}
	if doc.Sessions == nil {
		return errors.New("no sessions")
	}
	for i := range doc.Sessions {
		if _, err := sessionFromDoc("GET sessions", &doc.Sessions[i]); err != nil {
			return err
		}
	}
	return nil
}

// requiredTags lists the fields of t tagged required, by JSON name.
func requiredTags(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		out[name] = slices.Contains(strings.Split(f.Tag.Get(source.WireTag), ","), "required")
	}
	return out
}

// The required tags, which the probe reads, say what the client's checks
// do: without a field tagged required a document is refused; without any
// other field it is read.
func TestWireTagsMatchValidation(t *testing.T) {
	for _, c := range []struct {
		file   string
		top    reflect.Type
		item   reflect.Type
		array  string
		decode func([]byte) error
	}{
		{"licenses.json", reflect.TypeFor[LicensesDoc](), reflect.TypeFor[LicenseDoc](), "licenses", decodeLicenses},
		{"sessions-page1.json", reflect.TypeFor[SessionsDoc](), reflect.TypeFor[SessionDoc](), "sessions", decodeSessions},
	} {
		var doc map[string]any
		if err := json.Unmarshal(readTestdata(t, c.file), &doc); err != nil {
			t.Fatal(err)
		}
		if err := c.decode(readTestdata(t, c.file)); err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		without := func(drop func(m map[string]any)) []byte {
			var m map[string]any
			json.Unmarshal(readTestdata(t, c.file), &m)
			drop(m)
			b, _ := json.Marshal(m)
			return b
		}
		for name, required := range requiredTags(c.top) {
			err := c.decode(without(func(m map[string]any) { delete(m, name) }))
			if (err != nil) != required {
				t.Errorf("%s without %s: %v; tagged required: %v", c.file, name, err, required)
			}
		}
		for name, required := range requiredTags(c.item) {
			err := c.decode(without(func(m map[string]any) {
				delete(m[c.array].([]any)[0].(map[string]any), name)
			}))
			if (err != nil) != required {
				t.Errorf("%s without %s[0].%s: %v; tagged required: %v", c.file, c.array, name, err, required)
			}
		}
	}
}

// The required tags are what docs/upstream-api.md says is required.
func TestWireTagsMatchModelDoc(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "docs", "upstream-api.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	licenseRow := regexp.MustCompile("^[|] `(\\w+)` [|] (yes|no)")
	sessionsLine := regexp.MustCompile(`[*][*]Required fields[*][*]: (.*)[.]`)
	docLicense, docSession := map[string]bool{}, map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := licenseRow.FindStringSubmatch(sc.Text()); m != nil {
			docLicense[m[1]] = m[2] == "yes"
		}
		if m := sessionsLine.FindStringSubmatch(sc.Text()); m != nil {
			for _, q := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(m[1], -1) {
				docSession[q[1]] = true
			}
		}
	}
	if len(docLicense) == 0 || len(docSession) == 0 {
		t.Fatal("docs/upstream-api.md's license table or session rule was not found")
	}
	if tags := requiredTags(reflect.TypeFor[LicenseDoc]()); !reflect.DeepEqual(tags, docLicense) {
		t.Errorf("license fields: tags %v, docs/upstream-api.md %v", tags, docLicense)
	}
	for name, required := range requiredTags(reflect.TypeFor[SessionDoc]()) {
		if required != docSession[name] {
			t.Errorf("session field %s: tagged required %v, docs/upstream-api.md %v", name, required, docSession[name])
		}
	}
}

func TestConfigSecrets(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cred"), []byte("bearer-from-file\n"), 0o600)
	c := NewConfig()
	c.URL = "https://user:pa55word@host.example/v1?key=the%2Bkey&x=1"
	c.HTTPClientConfig = config.HTTPClientConfig{Authorization: &config.Authorization{Type: "Bearer", CredentialsFile: "cred"}}
	if err := c.Validate(dir); err != nil {
		t.Fatal(err)
	}
	got := c.Secrets()
	for _, w := range []string{"pa55word", "the%2Bkey", "the+key", "key=the%2Bkey", "x=1", "bearer-from-file", c.APIURL()} {
		if !slices.Contains(got, w) {
			t.Errorf("Secrets() lacks %q: %q", w, got)
		}
	}
	for _, s := range got {
		if s == "" || s == "host.example" || s == "key" {
			t.Errorf("Secrets() holds %q, which is not a secret", s)
		}
	}
}
