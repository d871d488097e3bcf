package csi

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/license-monitor/license-monitor/source"
)

func TestRegisteredAsCSI(t *testing.T) {
	if !slices.Contains(source.Types(), Type) {
		t.Fatalf("types %v lack %q", source.Types(), Type)
	}
	cfg, err := source.NewConfig(Type)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.(*Config)
	if c.MaxResponseBytes != DefaultMaxResponseBytes || c.HTTPClientConfig.FollowRedirects != true {
		t.Errorf("defaults not set: %+v", c)
	}
	c.URL = "https://cc.example/api/v1?key=s3cret"
	if err := c.Validate(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	src, err := source.New(Type, c, source.Options{UserAgent: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.(source.Terminator); !ok || src.Host() != "cc.example" {
		t.Errorf("source %T on %q", src, src.Host())
	}
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "link"), []byte(" https://cc.example/v1?key=s3cret \n"), 0o600)
	os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600)
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no url", func(c *Config) {}, "url or url_file is required"},
		{"both", func(c *Config) { c.URL, c.URLFile = "http://x", "link" }, "not both"},
		{"missing file", func(c *Config) { c.URLFile = "nope" }, "url_file"},
		{"empty file", func(c *Config) { c.URLFile = "empty" }, "is empty"},
		{"not http", func(c *Config) { c.URL = "ftp://s3cret@host/x" }, "http:// or https://"},
		{"max bytes", func(c *Config) { c.URL, c.MaxResponseBytes = "http://x", 0 }, "max_response_bytes"},
		{"file relative to the config", func(c *Config) { c.URLFile = "link" }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConfig()
			tc.mod(c)
			err := c.Validate(dir)
			if tc.want == "" {
				if err != nil || c.APIURL() != "https://cc.example/v1?key=s3cret" {
					t.Fatalf("err %v, url %q", err, c.APIURL())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("err = %v, want %q and no secret", err, tc.want)
			}
		})
	}
}

// Only Cloud Sign-in sessions that are not checked out can be ended.
func TestTerminable(t *testing.T) {
	var c Client
	for _, tc := range []struct {
		checkedOut  bool
		licenseType string
		ok          bool
		code        string
	}{
		{false, TypeCloudSignIn, true, ""},
		{true, TypeCloudSignIn, false, source.CodeCheckedOut},
		{false, TypeCloudKey, false, source.CodeNotTerminable},
		{false, "", false, source.CodeNotTerminable},
	} {
		ok, code := c.Terminable(&source.Session{CheckedOut: tc.checkedOut}, tc.licenseType)
		if ok != tc.ok || code != tc.code {
			t.Errorf("checked out %v, type %q: %v %q; want %v %q", tc.checkedOut, tc.licenseType, ok, code, tc.ok, tc.code)
		}
	}
}
