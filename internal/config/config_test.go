package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/source"
	"github.com/license-monitor/license-monitor/source/csi"
)

// csiOf is the CSI keys of a source block.
func csiOf(s Source) *csi.Config { return s.Spec.(*csi.Config) }

func TestLoadExporterDefaults(t *testing.T) {
	cfg, err := LoadExporter([]byte(`
sources:
  - name: acme
    url: http://127.0.0.1:9850/api/license-monitor/v1
`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Sources[0]
	if s.Type != csi.Type || time.Duration(s.PollInterval) != DefaultPollInterval || time.Duration(s.Timeout) != DefaultTimeout ||
		csiOf(s).MaxResponseBytes != csi.DefaultMaxResponseBytes || !s.UsersEnabled() || !s.Products.Match("ETABS") ||
		time.Duration(s.DenialsOverlap) != DefaultDenialsOverlap {
		t.Fatalf("defaults not applied: %+v", s)
	}
}

func TestLoadExporterFull(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "link"), []byte("https://cc.example/api/v1?key=s3cret\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "token"), []byte("tok"), 0o600)
	cfg, err := LoadExporter([]byte(`
sources:
  - name: acme_1
    type: csi
    url_file: link
    poll_interval: 30s
    timeout: 10s
    max_response_bytes: 1024
    users: false
    denials_overlap: 2h
    products:
      include: "ETABS|SAP2000"
      exclude: "SAP.*"
    http_client_config:
      authorization:
        type: Bearer
        credentials_file: token
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Sources[0]
	if csiOf(s).APIURL() != "https://cc.example/api/v1?key=s3cret" {
		t.Errorf("url_file not read relative to the config: %q", csiOf(s).APIURL())
	}
	if s.UsersEnabled() {
		t.Error("users: false ignored")
	}
	if time.Duration(s.DenialsOverlap) != 2*time.Hour {
		t.Errorf("denials_overlap %v, want 2h", s.DenialsOverlap)
	}
	for product, want := range map[string]bool{"ETABS": true, "SAP2000": false, "SAFE": false, "ETABS2": false} {
		if s.Products.Match(product) != want {
			t.Errorf("filter(%q) = %v, want %v (anchored)", product, !want, want)
		}
	}
	if got := csiOf(s).HTTPClientConfig.Authorization.CredentialsFile; got != filepath.Join(dir, "token") {
		t.Errorf("credentials_file not resolved relative to the config: %q", got)
	}
}

func TestLoadExporterErrors(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"unknown key names key and line": {"sources:\n  - name: a\n    url: http://x\n    pol_interval: 5s\n", `line 4: unknown key "pol_interval"`},
		"unknown top key":                {"sourcez: []\n", `line 1: unknown key "sourcez"`},
		"no sources":                     {"sources: []\n", "no sources"},
		"bad name":                       {"sources:\n  - name: a b\n    url: http://x\n", "must match"},
		"duplicate name":                 {"sources:\n  - name: a\n    url: http://x\n  - name: a\n    url: http://y\n", "used twice"},
		"bad type":                       {"sources:\n  - name: a\n    type: nosuchmanager\n    url: http://x\n", "not supported"},
		"no url":                         {"sources:\n  - name: a\n", "url or url_file is required"},
		"both urls":                      {"sources:\n  - name: a\n    url: http://x\n    url_file: f\n", "not both"},
		"missing url file":               {"sources:\n  - name: a\n    url_file: /nonexistent/link\n", "url_file"},
		"url not http":                   {"sources:\n  - name: a\n    url: ftp://secret-host/x\n", "http:// or https://"},
		"short poll":                     {"sources:\n  - name: a\n    url: http://x\n    poll_interval: 2s\n    timeout: 1s\n", "below the minimum"},
		"timeout not below poll":         {"sources:\n  - name: a\n    url: http://x\n    poll_interval: 10s\n    timeout: 10s\n", "below poll_interval"},
		"bad regex":                      {"sources:\n  - name: a\n    url: http://x\n    products: {include: \"(\"}\n", "products.include"},
		"zero max bytes":                 {"sources:\n  - name: a\n    url: http://x\n    max_response_bytes: -1\n", "max_response_bytes"},
		"negative overlap":               {"sources:\n  - name: a\n    url: http://x\n    denials_overlap: -1m\n", "not a valid duration"},
		"huge overlap":                   {"sources:\n  - name: a\n    url: http://x\n    denials_overlap: 8d\n", "denials_overlap"},
		"not yaml":                       {"sources: [\n", "line"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := LoadExporter([]byte(tc.yaml), t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// The URL is a secret: no error may print it.
func TestErrorsNeverPrintTheURL(t *testing.T) {
	_, err := LoadExporter([]byte("sources:\n  - name: a\n    url: ftp://s3cret@host/x?key=s3cret\n"), t.TempDir())
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzLoadExporter(f *testing.F) {
	f.Add([]byte("sources:\n  - name: a\n    url: http://x\n"))
	f.Add([]byte("sources:\n  - name: a\n    url: http://x\n    products: {include: 'E.*'}\n    http_client_config: {authorization: {type: Bearer, credentials: x}}\n"))
	f.Add([]byte("sources:\n  - {name: a, url: http://x, poll_interval: 1h, timeout: 59m}\n"))
	f.Add([]byte("sources: {}\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := LoadExporter(b, dir)
		if err != nil {
			return
		}
		for _, s := range cfg.Sources {
			if time.Duration(s.PollInterval) < MinPollInterval || s.Timeout >= s.PollInterval || csiOf(s).APIURL() == "" || !sourceNameRE.MatchString(s.Name) {
				t.Fatalf("accepted an invalid source: %+v", s)
			}
		}
	})
}

// fakeKeys is a second source type's keys, to show they are checked per
// type: each type accepts its own keys and refuses the other's.
type fakeKeys struct {
	Server string `yaml:"server"`
}

func (f *fakeKeys) Validate(string) error {
	if f.Server == "" {
		return errors.New("server is required")
	}
	return nil
}

func init() {
	source.Register("configtest", source.Factory{
		NewConfig: func() source.Config { return new(fakeKeys) },
		New:       func(source.Config, source.Options) (source.Source, error) { return nil, errors.New("not for opening") },
	})
}

func TestTypeKeysAreCheckedPerType(t *testing.T) {
	cfg, err := LoadExporter([]byte("sources:\n  - name: a\n    type: configtest\n    server: lic1\n    poll_interval: 30s\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Sources[0]; s.Spec.(*fakeKeys).Server != "lic1" || time.Duration(s.PollInterval) != 30*time.Second {
		t.Fatalf("keys not decoded: %+v %+v", s, s.Spec)
	}
	for name, tc := range map[string]struct{ yaml, want string }{
		"csi refuses the other type's key": {"sources:\n  - name: a\n    url: http://x\n    server: lic1\n", `line 4: unknown key "server"`},
		"the other type refuses csi's key": {"sources:\n  - name: a\n    type: configtest\n    server: lic1\n    url: http://x\n", `line 5: unknown key "url"`},
		"common keys are checked too":      {"sources:\n  - name: a\n    type: configtest\n    server: lic1\n    pol_interval: 5s\n", `line 5: unknown key "pol_interval"`},
		"the type validates its keys":      {"sources:\n  - name: a\n    type: configtest\n", `sources[0] ("a"): server is required`},
		"unknown type lists the known":     {"sources:\n  - name: a\n    type: nosuchmanager\n    server: lic1\n", `sources[0] ("a"): type "nosuchmanager" is not supported (known: configtest, csi)`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := LoadExporter([]byte(tc.yaml), t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "struct") {
				t.Errorf("err = %v: the Go type shows", err)
			}
		})
	}
}
