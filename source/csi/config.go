package csi

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/common/config"

	"github.com/license-monitor/license-monitor/source"
)

// Type is the value of `type:` that selects this source.
const Type = "csi"

func init() {
	source.Register(Type, source.Factory{
		NewConfig: func() source.Config { return NewConfig() },
		New: func(cfg source.Config, o source.Options) (source.Source, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("csi: config of type %T", cfg)
			}
			return NewClient(Options{
				URL:              c.APIURL(),
				HTTPClientConfig: c.HTTPClientConfig,
				MaxResponseBytes: c.MaxResponseBytes,
				UserAgent:        o.UserAgent,
			})
		},
	})
}

// Config is CSI's keys in a source block.
type Config struct {
	URL              config.Secret           `yaml:"url,omitempty"`
	URLFile          string                  `yaml:"url_file,omitempty"`
	MaxResponseBytes int64                   `yaml:"max_response_bytes,omitempty"`
	HTTPClientConfig config.HTTPClientConfig `yaml:"http_client_config,omitempty"`

	// resolvedURL is URL, or the content of URLFile, read by Validate.
	resolvedURL string
}

// NewConfig returns CSI's keys with their defaults.
func NewConfig() *Config {
	return &Config{MaxResponseBytes: DefaultMaxResponseBytes, HTTPClientConfig: config.DefaultHTTPClientConfig}
}

// APIURL is the base URL, read from url or url_file. It is a secret.
func (c *Config) APIURL() string { return c.resolvedURL }

// Validate checks the keys and reads url_file relative to dir.
func (c *Config) Validate(dir string) error {
	switch {
	case c.URL != "" && c.URLFile != "":
		return errors.New("set url or url_file, not both")
	case c.URL == "" && c.URLFile == "":
		return errors.New("url or url_file is required")
	case c.URLFile != "":
		path := c.URLFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("url_file: %w", err)
		}
		c.resolvedURL = strings.TrimSpace(string(b))
		if c.resolvedURL == "" {
			return fmt.Errorf("url_file %s is empty", c.URLFile)
		}
	default:
		c.resolvedURL = strings.TrimSpace(string(c.URL))
	}
	// The link is a secret: checked without ever printing it.
	if !strings.HasPrefix(c.resolvedURL, "http://") && !strings.HasPrefix(c.resolvedURL, "https://") {
		return errors.New("url must start with http:// or https:// (the value is a secret and not shown)")
	}
	if c.MaxResponseBytes <= 0 {
		return fmt.Errorf("max_response_bytes must be above 0, not %d", c.MaxResponseBytes)
	}
	c.HTTPClientConfig.SetDirectory(dir)
	if err := c.HTTPClientConfig.Validate(); err != nil {
		return fmt.Errorf("http_client_config: %w", err)
	}
	return nil
}
