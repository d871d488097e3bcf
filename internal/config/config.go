// Package config loads the exporter's configuration strictly: an unknown
// key is an error that names the key and its line.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v2"

	"github.com/license-monitor/license-monitor/source"
)

// Defaults and bounds of a source, as docs/architecture.md pins them.
const (
	DefaultPollInterval = 60 * time.Second
	MinPollInterval     = 5 * time.Second
	DefaultTimeout      = 15 * time.Second
	// DefaultDenialsOverlap and MaxDenialsOverlap bound denials_overlap.
	DefaultDenialsOverlap = time.Hour
	MaxDenialsOverlap     = 7 * 24 * time.Hour
	// DefaultType is the type of a source block without `type:`; CSI's
	// was the only one when the key was added.
	DefaultType = "csi"
	// DefaultMaxLabelLength bounds a user or host label, in bytes: far
	// above any real e-mail address or host name.
	DefaultMaxLabelLength = 256
	// DefaultMaxUserSeries bounds a source's per-user series: above the
	// largest account measured (the huge tier, about 190,000; see
	// docs/performance.md).
	DefaultMaxUserSeries = 250_000
)

var sourceNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// Source is one source block: the keys every type shares, and Spec, the
// keys of its type, which sit flat beside them in the YAML.
type Source struct {
	Name         string         `yaml:"name"`
	Type         string         `yaml:"type"`
	PollInterval model.Duration `yaml:"poll_interval,omitempty"`
	Timeout      model.Duration `yaml:"timeout,omitempty"`
	Users        *bool          `yaml:"users,omitempty"`
	Products     ProductFilter  `yaml:"products,omitempty"`
	// MaxLabelLength and MaxUserSeries bound what one poll may make of
	// upstream's data (docs/architecture.md, "Config file").
	MaxLabelLength int `yaml:"max_label_length,omitempty"`
	MaxUserSeries  int `yaml:"max_user_series,omitempty"`
	// DenialsOverlap is how far before the newest denial seen (or the
	// source's generated_at) each denials read starts, to catch late ones.
	DenialsOverlap model.Duration `yaml:"denials_overlap,omitempty"`

	// Spec is the type's own keys (source.NewConfig); nil when the type
	// is unknown, which Validate reports.
	Spec source.Config `yaml:"-"`
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

// UnmarshalYAML fills in the defaults and decodes the common keys and the
// type's keys in one strict pass, so a key that neither knows is an error
// naming it and its line, as yaml.v2 reports any unknown key.
func (s *Source) UnmarshalYAML(unmarshal func(any) error) error {
	common := plainSource{
		Type:           DefaultType,
		PollInterval:   model.Duration(DefaultPollInterval),
		Timeout:        model.Duration(DefaultTimeout),
		DenialsOverlap: model.Duration(DefaultDenialsOverlap),
		// Set here rather than left 0, so that an explicit 0 is refused.
		MaxLabelLength: DefaultMaxLabelLength,
		MaxUserSeries:  DefaultMaxUserSeries,
	}
	// The type decides which keys are allowed, so it is read first.
	probe := struct {
		Type string         `yaml:"type"`
		Rest map[string]any `yaml:",inline"`
	}{Type: common.Type}
	if err := unmarshal(&probe); err != nil {
		return err
	}
	common.Type = probe.Type
	spec, err := source.NewConfig(common.Type)
	if err != nil {
		// Validate names the unknown type; its keys cannot be checked.
		lenient := struct {
			Common plainSource    `yaml:",inline"`
			Rest   map[string]any `yaml:",inline"`
		}{Common: common}
		if err := unmarshal(&lenient); err != nil {
			return err
		}
		*s = Source(lenient.Common)
		return nil
	}
	if key := sharedKey(reflect.TypeOf(spec).Elem()); key != "" {
		return fmt.Errorf("source type %q has its own key %q, which every source has", common.Type, key)
	}
	// One struct of both sets of keys, inlined, for yaml.v2's strictness.
	both := reflect.New(reflect.StructOf([]reflect.StructField{
		{Name: "Common", Type: reflect.TypeFor[plainSource](), Tag: `yaml:",inline"`},
		{Name: "Spec", Type: reflect.TypeOf(spec).Elem(), Tag: `yaml:",inline"`},
	})).Elem()
	both.Field(0).Set(reflect.ValueOf(common))
	both.Field(1).Set(reflect.ValueOf(spec).Elem())
	if err := unmarshal(both.Addr().Interface()); err != nil {
		return err
	}
	*s = Source(both.Field(0).Interface().(plainSource))
	reflect.ValueOf(spec).Elem().Set(both.Field(1))
	s.Spec = spec
	return nil
}

// plainSource is Source without its UnmarshalYAML.
type plainSource Source

// sharedKey returns a key of a type's struct that the common keys have
// too, which yaml.v2 would panic on; "" when there is none.
func sharedKey(t reflect.Type) string {
	common := map[string]bool{}
	for _, k := range yamlKeys(reflect.TypeFor[plainSource]()) {
		common[k] = true
	}
	for _, k := range yamlKeys(t) {
		if common[k] {
			return k
		}
	}
	return ""
}

// yamlKeys lists a struct's keys as yaml.v2 names them.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case name == "-":
		case strings.Contains(f.Tag.Get("yaml"), ",inline"):
			keys = append(keys, yamlKeys(f.Type)...)
		case name == "":
			keys = append(keys, strings.ToLower(f.Name))
		default:
			keys = append(keys, name)
		}
	}
	return keys
}

// UsersEnabled says whether per-user series are exported (default true).
func (s *Source) UsersEnabled() bool { return s.Users == nil || *s.Users }

// LabelLimit is max_label_length, or its default for a Source built in
// code rather than decoded.
func (s *Source) LabelLimit() int {
	if s.MaxLabelLength <= 0 {
		return DefaultMaxLabelLength
	}
	return s.MaxLabelLength
}

// UserSeriesLimit is max_user_series, or its default, as LabelLimit.
func (s *Source) UserSeriesLimit() int {
	if s.MaxUserSeries <= 0 {
		return DefaultMaxUserSeries
	}
	return s.MaxUserSeries
}

// Validate checks one source and resolves its files relative to dir.
func (s *Source) Validate(dir string) error {
	if !sourceNameRE.MatchString(s.Name) {
		return errors.New("name must match [a-zA-Z0-9_-]+ (the value is not shown)")
	}
	if s.Spec == nil {
		_, err := source.NewConfig(s.Type)
		if err == nil {
			err = errors.New("the type's keys were not decoded")
		}
		return err
	}
	if err := s.Spec.Validate(dir); err != nil {
		return err
	}
	poll, timeout := time.Duration(s.PollInterval), time.Duration(s.Timeout)
	if poll < MinPollInterval {
		return fmt.Errorf("poll_interval %s is below the minimum %s", poll, MinPollInterval)
	}
	if timeout <= 0 || timeout >= poll {
		return fmt.Errorf("timeout %s must be above 0 and below poll_interval %s", timeout, poll)
	}
	if s.MaxLabelLength <= 0 {
		return errors.New("max_label_length must be above 0")
	}
	if s.MaxUserSeries <= 0 {
		return errors.New("max_user_series must be above 0")
	}
	if o := time.Duration(s.DenialsOverlap); o < 0 || o > MaxDenialsOverlap {
		return fmt.Errorf("denials_overlap %s must be from 0 to %s", o, model.Duration(MaxDenialsOverlap))
	}
	var err error
	if s.Products.include, err = anchored(s.Products.Include); err != nil {
		return fmt.Errorf("products.include: %w", err)
	}
	if s.Products.exclude, err = anchored(s.Products.Exclude); err != nil {
		return fmt.Errorf("products.exclude: %w", err)
	}
	return nil
}

// Open builds the source this block configures: the one constructor from
// config to a source, for the exporter and the sidecar alike.
func (s *Source) Open(userAgent string) (source.Source, error) {
	return source.New(s.Type, s.Spec, source.Options{UserAgent: userAgent})
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
	cfg, err := loadExporter(b, dir)
	return cfg, hideValues(b, err)
}

func loadExporter(b []byte, dir string) (*Exporter, error) {
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
			if !sourceNameRE.MatchString(s.Name) {
				return nil, fmt.Errorf("sources[%d]: %w", i, err)
			}
			return nil, fmt.Errorf("sources[%d] (%q): %w", i, s.Name, err)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("sources[%d]: name %q is used twice; names must be unique", i, s.Name)
		}
		seen[s.Name] = true
	}
	return &cfg, nil
}

// The type may be a struct literal (a source block's keys), spaces and all.
var unknownFieldRE = regexp.MustCompile(`line (\d+): field (\S+) not found in type [^\n]*`)

// UnmarshalStrict decodes YAML, rejecting unknown keys with a message that
// names the key and its line.
func UnmarshalStrict(b []byte, v any) error {
	err := yaml.UnmarshalStrict(b, v)
	if err == nil {
		return nil
	}
	msg := unknownFieldRE.ReplaceAllString(err.Error(), `line $1: unknown key "$2"`)
	msg = nameTypeErrors(b, msg)
	msg = strings.TrimPrefix(msg, "yaml: ")
	return errors.New(strings.ReplaceAll(msg, "\n ", ""))
}

// CheckHosts runs each source's host check (source.HostChecker), which
// loading leaves alone, for --config.check: one error per source that
// fails it, naming the source.
func CheckHosts(sources []Source) []error {
	var errs []error
	for _, s := range sources {
		if c, ok := s.Spec.(source.HostChecker); ok {
			if err := c.CheckHost(); err != nil {
				errs = append(errs, fmt.Errorf("source %q: %w", s.Name, err))
			}
		}
	}
	return errs
}
