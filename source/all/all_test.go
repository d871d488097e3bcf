package all

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/license-monitor/license-monitor/source"
)

func TestEverySourceIsLinked(t *testing.T) {
	if !slices.Contains(source.Types(), "csi") {
		t.Errorf("types %v lack csi", source.Types())
	}
}

// The poller, the views and the sidecar know sources only through the
// source interface; only the mains (through this package), the simulator
// and test helpers import an implementation.
func TestOnlyTheRegistryImportsImplementations(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	const module = "github.com/license-monitor/license-monitor/"
	out, err := exec.Command(goCmd, "list", "-deps", module+"collector", module+"internal/sidecar", module+"internal/config", module+"internal/probe").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, module+"source/") {
			t.Errorf("%s is linked into the collector, the sidecar, the config or the probe", pkg)
		}
	}
}
