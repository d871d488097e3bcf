package deploycheck

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// lmutilDir is where the FlexLM image variant and every FlexLM example
// expect Flexera's lmutil (deploy/docker/Dockerfile.flexlm).
const lmutilDir = "/opt/flexlm/bin"

// fakeLmstat is what the fake lmutil prints: lmstat -a of one license
// server with one vendor daemon and one unused feature, written for these
// tests.
const fakeLmstat = `lmutil - Copyright (c) 1989-2024 Flexera. All Rights Reserved.
Flexible License Manager status on Tue 6/2/2026 10:00

[Detecting lmgrd processes...]
License server status: 27000@lic-a
    License file(s) on lic-a: /opt/flexlm/licenses/site.lic:

     lic-a: license server UP (MASTER) v11.19.0

Vendor daemon status (on lic-a):

  adskflex: UP v11.19.0

Feature usage info:

Users of ACAD:  (Total of 5 licenses issued;  Total of 0 licenses in use)

`

// fakeLmutil writes a stand-in for lmutil into a temporary directory, laid
// out as lmutilDir, and returns that directory. It is a shell script:
// lmutil's loader is not what these tests check (flexlm.CheckLmutil's tests
// do), the deployment's paths and configs are.
func fakeLmutil(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "opt", "flexlm", "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\ncat <<'LMSTAT'\n" + fakeLmstat + "LMSTAT\n"
	if err := os.WriteFile(filepath.Join(dir, "lmutil"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// flexlmSources returns the names of the `type: flexlm` sources of an
// exporter config, and checks each names its lmutil in lmutilDir and a
// license server.
func flexlmSources(t *testing.T, where string, cfg []byte) []string {
	t.Helper()
	var c struct {
		Sources []map[string]any `yaml:"sources"`
	}
	if err := yaml.Unmarshal(cfg, &c); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	var names []string
	for _, s := range c.Sources {
		if s["type"] != "flexlm" {
			continue
		}
		name := fmt.Sprint(s["name"])
		names = append(names, name)
		if s["lmutil"] != lmutilDir+"/lmutil" {
			t.Errorf("%s: source %s runs lmutil %v, want %s/lmutil, where the image variant expects it", where, name, s["lmutil"], lmutilDir)
		}
		if ls, _ := s["license_server"].(string); !strings.Contains(ls, "@") {
			t.Errorf("%s: source %s has license_server %q, want port@host entries", where, name, ls)
		}
	}
	if len(names) == 0 {
		t.Errorf("%s has no type: flexlm source", where)
	}
	return names
}

// withFakeLmutil points a config's lmutil at dir, the fake one.
func withFakeLmutil(cfg, dir string) string {
	return strings.ReplaceAll(cfg, lmutilDir+"/", dir+"/")
}
