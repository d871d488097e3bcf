package config

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

const secretValue = "tok-7f3a9c2e41d8b6"

// TestErrorsHideValues: a secret-looking value under the wrong key, or of
// the wrong type, is never printed; the error names the key instead.
func TestErrorsHideValues(t *testing.T) {
	base := "sources:\n  - name: acme\n    url: http://127.0.0.1:9850/v1\n"
	for line, key := range map[string]string{
		"    max_response_bytes: " + secretValue:                                           "max_response_bytes",
		"    poll_interval: " + secretValue:                                                "poll_interval",
		"    users: " + secretValue:                                                        "users",
		"    http_client_config:\n      authorization: " + secretValue:                     "authorization",
		"    http_client_config:\n      bearer_token_file: [" + secretValue + "]":          "bearer_token_file",
		"    http_client_config:\n      proxy_url: \"http://u:" + secretValue + "@x:bad\"": "proxy_url",
		"    http_client_config:\n      tls_config:\n        min_version: " + secretValue:  "min_version",
		"    products: {include: \"" + secretValue + "(\"}":                                "products",
		"    type: " + secretValue:                                                         "type",
		"    max_label_length: " + secretValue:                                             "max_label_length",
	} {
		_, err := LoadExporter([]byte(base+line+"\n"), t.TempDir())
		if err == nil {
			t.Errorf("%q: accepted", line)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, secretValue[:6]) || !strings.Contains(msg, key) {
			t.Errorf("%q: error %q shows the value or does not name %s", line, msg, key)
		}
	}
	_, err := LoadExporter([]byte("sources:\n  - name: "+secretValue+"!\n    url: http://x\n"), t.TempDir())
	if err == nil || strings.Contains(err.Error(), secretValue) || !strings.Contains(err.Error(), "name") {
		t.Errorf("bad name: %v", err)
	}
}

// FuzzErrorsHideValues: whatever string is written under a key, an error
// never prints it (values of at least minHidden bytes).
func FuzzErrorsHideValues(f *testing.F) {
	for _, s := range []string{secretValue, "60s-not-a-duration", "http://u:p@x:bad", "(unclosed", "ab", "true"} {
		f.Add(s, uint8(0))
	}
	keys := []string{"url", "poll_interval", "timeout", "max_response_bytes", "max_user_series", "users", "type",
		"name", "http_client_config:\n      proxy_url", "http_client_config:\n      authorization",
		"products:\n      include", "http_client_config:\n      tls_config:\n        min_version"}
	f.Fuzz(func(t *testing.T, v string, k uint8) {
		if len(v) < minHidden || !utf8.ValidString(v) || strings.ContainsAny(v, "\x00\r\n\t\ufeff") {
			return
		}
		key := keys[int(k)%len(keys)]
		doc := "sources:\n  - name: acme\n    url: http://x\n    " + key + ": " + strconv.Quote(v) + "\n"
		if key == "url" || key == "name" {
			doc = "sources:\n  - name: acme\n    " + key + ": " + strconv.Quote(v) + "\n"
		}
		_, err := LoadExporter([]byte(doc), t.TempDir())
		if err != nil && strings.Contains(err.Error(), v) {
			t.Errorf("error shows the value %q: %v", v, err)
		}
	})
}
