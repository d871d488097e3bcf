package flexlm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/license-monitor/license-monitor/source"
)

// Type is the value of `type:` that selects this source.
const Type = "flexlm"

// DefaultMaxResponseBytes bounds lmutil's output, as CSI's bounds a body.
const DefaultMaxResponseBytes = 64 << 20

// maxServerEntries bounds license_server: a triad is three.
const maxServerEntries = 8

func init() {
	source.Register(Type, source.Factory{
		NewConfig: func() source.Config { return NewConfig() },
		New: func(cfg source.Config, _ source.Options) (source.Source, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("flexlm: config of type %T", cfg)
			}
			return New(c)
		},
	})
}

// Config is FlexLM's keys in a source block. poll_interval, timeout,
// users and products are the common keys (internal/config); the poll's
// timeout reaches the runner as the context's deadline.
type Config struct {
	LicenseServer    string `yaml:"license_server"`
	Lmutil           string `yaml:"lmutil,omitempty"`
	Timezone         string `yaml:"timezone,omitempty"`
	MaxResponseBytes int64  `yaml:"max_response_bytes,omitempty"`
	DenialsLog       string `yaml:"denials_log,omitempty"`

	loc        *time.Location
	denialsLog string // DenialsLog resolved against the config's directory
}

// NewConfig returns FlexLM's keys with their defaults.
func NewConfig() *Config {
	return &Config{Lmutil: "lmutil", MaxResponseBytes: DefaultMaxResponseBytes}
}

// Validate checks the keys. It does not run or inspect lmutil: a config
// check does that with CheckLmutil, and a reload must not fail because
// the program is being upgraded.
func (c *Config) Validate(dir string) error {
	if err := validateServers(c.LicenseServer); err != nil {
		return fmt.Errorf("license_server: %w", err)
	}
	if c.Lmutil == "" {
		c.Lmutil = "lmutil"
	}
	if strings.ContainsAny(c.Lmutil, "\x00\n") {
		return errors.New("lmutil: not a path")
	}
	if strings.ContainsRune(c.Lmutil, '/') && !filepath.IsAbs(c.Lmutil) {
		c.Lmutil = filepath.Join(dir, c.Lmutil)
	}
	c.loc = time.Local
	if c.Timezone != "" {
		loc, err := time.LoadLocation(c.Timezone)
		if err != nil {
			return fmt.Errorf("timezone %q is not a known zone", c.Timezone)
		}
		c.loc = loc
	}
	if c.MaxResponseBytes <= 0 {
		return fmt.Errorf("max_response_bytes must be above 0, not %d", c.MaxResponseBytes)
	}
	if c.DenialsLog != "" {
		path := c.DenialsLog
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		// It may not exist yet (the vendor daemon creates it); a
		// directory is a mistake.
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			return fmt.Errorf("denials_log %s is a directory", path)
		}
		c.denialsLog = path
	}
	return nil
}

// Location is the server's zone for start times (timezone, or the
// exporter's local zone).
func (c *Config) Location() *time.Location {
	if c.loc == nil {
		return time.Local
	}
	return c.loc
}

// DenialsLogPath is denials_log resolved against the config's directory;
// "" when unset. The source tails it for DENIED lines.
func (c *Config) DenialsLogPath() string { return c.denialsLog }

// CheckHost reports plainly why the configured lmutil cannot run, for
// --config.check; nil when it looks runnable.
func (c *Config) CheckHost() error { return CheckLmutil(c.Lmutil) }

// validateServers accepts what lmutil's -c takes for servers:
// port@host entries, comma-separated (a triad) — never a file path, so
// the exporter does not make lmutil read local license files.
func validateServers(s string) error {
	if s == "" {
		return errors.New("required (e.g. 27000@lic-a, or 27000@lic-a,27000@lic-b,27000@lic-c for a triad)")
	}
	entries := strings.Split(s, ",")
	if len(entries) > maxServerEntries {
		return fmt.Errorf("%d servers; at most %d", len(entries), maxServerEntries)
	}
	for i, e := range entries {
		port, host, ok := strings.Cut(e, "@")
		if !ok {
			return fmt.Errorf("entry %d is not port@host", i+1)
		}
		if port != "" {
			n, err := strconv.Atoi(port)
			if err != nil || n < 1 || n > 65535 || port[0] == '0' {
				return fmt.Errorf("entry %d: port %q is not 1-65535", i+1, port)
			}
		}
		if !validHost(host) {
			return fmt.Errorf("entry %d: host %q is not a host name or address", i+1, host)
		}
	}
	return nil
}

// validHost accepts host names and IPv4 addresses: letters, digits, dots,
// hyphens and underscores, not starting with a hyphen (lmutil would take
// it for an option).
func validHost(h string) bool {
	if h == "" || len(h) > 253 || h[0] == '-' || h[0] == '.' {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
