// Package config loads the exporter's configuration strictly: an unknown
// key is an error that names the key and its line.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v2"
)

// Defaults and bounds of a source, as ARCHITECTURE.md pins them.
const (
	DefaultPollInterval     = 60 * time.Second
	MinPollInterval         = 5 * time.Second
	DefaultTimeout          = 15 * time.Second
	DefaultMaxResponseBytes = 64 << 20
	TypeCSI                 = "csi"
)

var sourceNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// Source is one upstream account.
type Source struct {
	Name             string                  `yaml:"name"`
	Type             string                  `yaml:"type"`
	URL              config.Secret           `yaml:"url,omitempty"`
	URLFile          string                  `yaml:"url_file,omitempty"`
	PollInterval     model.Duration          `yaml:"poll_interval,omitempty"`
	Timeout          model.Duration          `yaml:"timeout,omitempty"`
	MaxResponseBytes int64                   `yaml:"max_response_bytes,omitempty"`
	Users            *bool                   `yaml:"users,omitempty"`
	Products         ProductFilter           `yaml:"products,omitempty"`
	HTTPClientConfig config.HTTPClientConfig `yaml:"http_client_config,omitempty"`

	// resolvedURL is URL, or the content of URLFile, read at load time.
	resolvedURL string
}

// ProductFilter selects products by anchored regular expressions.
type ProductFilter struct {
	Include string `yaml:"include,omitempty"`
	Exclude string `yaml:"exclude,omitempty"`

	include, exclude *regexp.Regexp
}

// Match reports whether product passes the filter.
func (f *ProductFilter) Match(product string) bool {
	if f.include != nil && !f.include.MatchString(product) {
		return false
	}
	return f.exclude == nil || !f.exclude.MatchString(product)
}

// UnmarshalYAML fills in the defaults; strictness is kept by yaml.v2.
func (s *Source) UnmarshalYAML(unmarshal func(any) error) error {
	*s = Source{
		Type:             TypeCSI,
		PollInterval:     model.Duration(DefaultPollInterval),
		Timeout:          model.Duration(DefaultTimeout),
		MaxResponseBytes: DefaultMaxResponseBytes,
		HTTPClientConfig: config.DefaultHTTPClientConfig,
	}
	type plain Source
	return unmarshal((*plain)(s))
}

// UsersEnabled says whether per-user series are exported (default true).
func (s *Source) UsersEnabled() bool { return s.Users == nil || *s.Users }

// APIURL is the base URL, read from url or url_file. It is a secret.
func (s *Source) APIURL() string { return s.resolvedURL }

// Validate checks one source and resolves its files relative to dir.
func (s *Source) Validate(dir string) error {
	if !sourceNameRE.MatchString(s.Name) {
		return fmt.Errorf("name %q must match [a-zA-Z0-9_-]+", s.Name)
	}
	if s.Type != TypeCSI {
		return fmt.Errorf("type %q is not supported (only %q)", s.Type, TypeCSI)
	}
	switch {
	case s.URL != "" && s.URLFile != "":
		return errors.New("set url or url_file, not both")
	case s.URL == "" && s.URLFile == "":
		return errors.New("url or url_file is required")
	case s.URLFile != "":
		path := s.URLFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("url_file: %w", err)
		}
		s.resolvedURL = strings.TrimSpace(string(b))
		if s.resolvedURL == "" {
			return fmt.Errorf("url_file %s is empty", s.URLFile)
		}
	default:
		s.resolvedURL = strings.TrimSpace(string(s.URL))
	}
	if err := checkURL(s.resolvedURL); err != nil {
		return err
	}
	poll, timeout := time.Duration(s.PollInterval), time.Duration(s.Timeout)
	if poll < MinPollInterval {
		return fmt.Errorf("poll_interval %s is below the minimum %s", poll, MinPollInterval)
	}
	if timeout <= 0 || timeout >= poll {
		return fmt.Errorf("timeout %s must be above 0 and below poll_interval %s", timeout, poll)
	}
	if s.MaxResponseBytes <= 0 {
		return fmt.Errorf("max_response_bytes must be above 0, not %d", s.MaxResponseBytes)
	}
	var err error
	if s.Products.include, err = anchored(s.Products.Include); err != nil {
		return fmt.Errorf("products.include: %w", err)
	}
	if s.Products.exclude, err = anchored(s.Products.Exclude); err != nil {
		return fmt.Errorf("products.exclude: %w", err)
	}
	s.HTTPClientConfig.SetDirectory(dir)
	if err := s.HTTPClientConfig.Validate(); err != nil {
		return fmt.Errorf("http_client_config: %w", err)
	}
	return nil
}

// checkURL validates the API link without ever printing it.
func checkURL(raw string) error {
	if !strings.HasPrefix(raw, "http://") && !strings.HasPrefix(raw, "https://") {
		return errors.New("url must start with http:// or https:// (the value is a secret and not shown)")
	}
	return nil
}

func anchored(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	return regexp.Compile("^(?:" + expr + ")$")
}

// Exporter is license_exporter's configuration file.
type Exporter struct {
	Sources []Source `yaml:"sources"`
}

// LoadExporterFile reads and validates the exporter's config file.
func LoadExporterFile(path string) (*Exporter, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := LoadExporter(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// LoadExporter parses and validates a config; dir resolves relative files.
func LoadExporter(b []byte, dir string) (*Exporter, error) {
	var cfg Exporter
	if err := UnmarshalStrict(b, &cfg); err != nil {
		return nil, err
	}
	if len(cfg.Sources) == 0 {
		return nil, errors.New("no sources: the config needs at least one entry under sources")
	}
	seen := map[string]bool{}
	for i := range cfg.Sources {
		s := &cfg.Sources[i]
		if err := s.Validate(dir); err != nil {
			return nil, fmt.Errorf("sources[%d] (%q): %w", i, s.Name, err)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("sources[%d]: name %q is used twice; names must be unique", i, s.Name)
		}
		seen[s.Name] = true
	}
	return &cfg, nil
}

var unknownFieldRE = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)

// UnmarshalStrict decodes YAML, rejecting unknown keys with a message that
// names the key and its line.
func UnmarshalStrict(b []byte, v any) error {
	err := yaml.UnmarshalStrict(b, v)
	if err == nil {
		return nil
	}
	msg := unknownFieldRE.ReplaceAllString(err.Error(), `line $1: unknown key "$2"`)
	msg = strings.TrimPrefix(msg, "yaml: ")
	return errors.New(strings.ReplaceAll(msg, "\n ", ""))
}
