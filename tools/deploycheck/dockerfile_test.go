package deploycheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/mod/modfile"

	"github.com/license-monitor/license-monitor/internal/testenv"
	"github.com/license-monitor/license-monitor/tools/deploycheck/internal/repo"
	"github.com/license-monitor/license-monitor/tools/deploycheck/internal/shellcmd"
)

var dockerfilePath = repo.Path("deploy", "docker", "Dockerfile")

// flexlmDockerfilePath is the image variant for FlexLM sources: the same
// build on a glibc runtime, where Flexera's lmutil can run.
var flexlmDockerfilePath = repo.Path("deploy", "docker", "Dockerfile.flexlm")

// dockerfiles are every Dockerfile the project ships; each is checked the
// same way.
var dockerfiles = []string{dockerfilePath, flexlmDockerfilePath}

// The variables the version ldflags take from the build: make's on one
// side, the Dockerfile's ARGs on the other.
var versionVars = []string{"VERSION", "REVISION", "BRANCH", "BUILD_DATE"}

func readDockerfile(t *testing.T, path string) ([]byte, *parser.Result, []instructions.Stage) {
	t.Helper()
	dt, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := parser.Parse(bytes.NewReader(dt))
	if err != nil {
		t.Fatalf("BuildKit's parser refuses the Dockerfile: %v", err)
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		t.Fatalf("BuildKit cannot read the Dockerfile's instructions: %v", err)
	}
	return dt, res, stages
}

// offlineImages answers BuildKit's base-image lookups without a registry:
// a linux/amd64 image with one layer. The lint rules need only that.
// BuildKit resolves the stages' images concurrently.
type offlineImages struct {
	mu   sync.Mutex
	seen []string
}

func (o *offlineImages) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	o.mu.Lock()
	o.seen = append(o.seen, ref)
	o.mu.Unlock()
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + strings.Repeat("0", 64)}},
		"config":       map[string]any{"Env": []string{"PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
	})
	return ref, "", cfg, nil
}

func sourceMap(dt []byte) *llb.SourceMap {
	sm := llb.NewSourceMap(nil, "Dockerfile", "Dockerfile", dt)
	sm.Definition = &llb.Definition{} // the lint results copy it
	return sm
}

// TestDockerfileLintsClean runs what `docker build --check` runs: the parser
// and every BuildKit lint rule, experimental ones included.
func TestDockerfileLintsClean(t *testing.T) {
	for _, path := range dockerfiles {
		t.Run(filepath.Base(path), func(t *testing.T) { lintsClean(t, path) })
	}
}

func lintsClean(t *testing.T, path string) {
	dt, res, stages := readDockerfile(t, path)
	for _, w := range res.Warnings {
		t.Errorf("parser warning: %s (line %d)", w.Short, w.Location.Start.Line)
	}
	if len(stages) < 2 {
		t.Errorf("want a multi-stage build, got %d stage(s)", len(stages))
	}

	images := &offlineImages{}
	results, err := dockerfile2llb.DockerfileLint(context.Background(), dt, dockerfile2llb.ConvertOpt{
		Config:       dockerui.Config{LinterConfig: &linter.Config{ExperimentalAll: true}},
		SourceMap:    sourceMap(dt),
		MetaResolver: images,
	})
	if err != nil {
		t.Fatal(err)
	}
	if results.Error != nil {
		t.Errorf("BuildKit cannot convert the Dockerfile: %s", results.Error.Message)
	}
	for _, w := range results.Warnings {
		line := 0
		if len(w.Location.Ranges) > 0 {
			line = int(w.Location.Ranges[0].Start.Line)
		}
		t.Errorf("lint %s (line %d): %s", w.RuleName, line, w.Detail)
	}
	images.mu.Lock()
	defer images.mu.Unlock()
	if len(images.seen) == 0 {
		t.Error("the linter resolved no base image, so it did not walk the stages")
	}
}

// TestDockerfileLinterCatchesMistakes shows the lint run above can fail:
// the same Dockerfile with a classic mistake gets a warning.
func TestDockerfileLinterCatchesMistakes(t *testing.T) {
	dt, _, _ := readDockerfile(t, dockerfilePath)
	bad := bytes.Replace(dt, []byte(`ENTRYPOINT ["/bin/license_exporter"]`), []byte(`ENTRYPOINT /bin/license_exporter`), 1)
	bad = bytes.Replace(bad, []byte(" AS build"), []byte(" as build"), 1)
	if bytes.Equal(bad, dt) {
		t.Fatal("the mutation did not apply; update this test with the Dockerfile")
	}
	results, err := dockerfile2llb.DockerfileLint(context.Background(), bad, dockerfile2llb.ConvertOpt{
		Config:       dockerui.Config{LinterConfig: &linter.Config{ExperimentalAll: true}},
		SourceMap:    sourceMap(bad),
		MetaResolver: &offlineImages{},
	})
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, w := range results.Warnings {
		rules = append(rules, w.RuleName)
	}
	for _, want := range []string{"JSONArgsRecommended", "FromAsCasing"} {
		if !slices.Contains(rules, want) {
			t.Errorf("linter missed %s; it reported %v", want, rules)
		}
	}
}

// TestDockerfileBuildMatchesMakefile compares the Dockerfile's go build with
// the one make runs, as make itself expands it (make -n), word for word.
func TestDockerfileBuildMatchesMakefile(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is needed to read the Makefile's build command")
	}
	placeholder := func(name string) string { return "@" + name + "@" }

	// make's side: the build recipe with the version variables as placeholders.
	args := []string{"-n", "-s", "-C", repo.Root(), "build", "BIN=/out", "GO=go"}
	for _, v := range versionVars {
		args = append(args, v+"="+placeholder(v))
	}
	out, err := exec.Command("make", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("make -n build: %v\n%s", err, out)
	}
	makeCalls, err := shellcmd.Find(string(out), nil, "go", "build")
	if err != nil {
		t.Fatalf("make's recipe: %v\n%s", err, out)
	}
	if len(makeCalls) != 1 {
		t.Fatalf("want one go build in make's recipe, got %d:\n%s", len(makeCalls), out)
	}

	for _, path := range dockerfiles {
		t.Run(filepath.Base(path), func(t *testing.T) { buildMatchesMakefile(t, path, makeCalls[0], placeholder) })
	}
}

// buildMatchesMakefile compares the one go build of the Dockerfile at path
// with make's.
func buildMatchesMakefile(t *testing.T, path string, makeCall shellcmd.Call, placeholder func(string) string) {
	// The Dockerfile's side: the RUN in the build stage that calls go build,
	// with that stage's ARGs as the same placeholders.
	_, _, stages := readDockerfile(t, path)
	var dockerCalls []shellcmd.Call
	for _, st := range stages {
		env := map[string]string{}
		for _, c := range st.Commands {
			switch c := c.(type) {
			case *instructions.ArgCommand:
				for _, a := range c.Args {
					env[a.Key] = placeholder(a.Key)
				}
			case *instructions.RunCommand:
				calls, err := shellcmd.Find(strings.Join(c.CmdLine, " "), env, "go", "build")
				if err != nil {
					t.Fatalf("Dockerfile RUN (line %d): %v", c.Location()[0].Start.Line, err)
				}
				dockerCalls = append(dockerCalls, calls...)
			}
		}
	}
	if len(dockerCalls) != 1 {
		t.Fatalf("want one go build in the Dockerfile, got %d", len(dockerCalls))
	}
	if err := sameBuild(makeCall, dockerCalls[0]); err != nil {
		t.Error(err)
	}
	for _, v := range versionVars {
		if !strings.Contains(strings.Join(dockerCalls[0].Args, " "), placeholder(v)) {
			t.Errorf("the Dockerfile's build does not pass %s", v)
		}
	}
}

// sameBuild compares two go build calls; -ldflags compare field by field
// (go splits them on white space, so line breaks do not matter).
func sameBuild(mk, df shellcmd.Call) error {
	var diffs []string
	if !slices.Equal(mk.Assigns, df.Assigns) {
		diffs = append(diffs, fmt.Sprintf("environment: Makefile %q, Dockerfile %q", mk.Assigns, df.Assigns))
	}
	norm := func(args []string) []string {
		out := slices.Clone(args)
		for i := range out {
			if i > 0 && out[i-1] == "-ldflags" {
				out[i] = strings.Join(strings.Fields(out[i]), " ")
			}
		}
		return out
	}
	if a, b := norm(mk.Args), norm(df.Args); !slices.Equal(a, b) {
		diffs = append(diffs, fmt.Sprintf("command:\n  Makefile:   %q\n  Dockerfile: %q", a, b))
	}
	if !slices.Equal(mk.Loop, df.Loop) {
		diffs = append(diffs, fmt.Sprintf("programs: Makefile %q, Dockerfile %q", mk.Loop, df.Loop))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("the Dockerfile's build differs from the Makefile's:\n%s", strings.Join(diffs, "\n"))
	}
	return nil
}

func TestSameBuildSeesDifferences(t *testing.T) {
	base := shellcmd.Call{
		Assigns: []string{"CGO_ENABLED=0"},
		Args:    []string{"go", "build", "-trimpath", "-ldflags", "-s  -w\n\t-X a=b", "-o", "/out/x"},
		Loop:    []string{"x"},
	}
	same := base
	same.Args = slices.Clone(base.Args)
	same.Args[4] = "-s -w -X a=b"
	if err := sameBuild(base, same); err != nil {
		t.Errorf("white space in -ldflags should not matter: %v", err)
	}
	noTrim := same
	noTrim.Args = slices.Delete(slices.Clone(same.Args), 2, 3)
	cgo := same
	cgo.Assigns = nil
	loop := same
	loop.Loop = []string{"x", "y"}
	for name, c := range map[string]shellcmd.Call{"no -trimpath": noTrim, "cgo": cgo, "programs": loop} {
		if err := sameBuild(base, c); err == nil {
			t.Errorf("%s: difference not seen", name)
		}
	}
}

// TestDockerfileImage checks what the image is: a Go builder of go.mod's
// version, a runtime that runs as non-root, and the programs' ports.
func TestDockerfileImage(t *testing.T) {
	for _, path := range dockerfiles {
		t.Run(filepath.Base(path), func(t *testing.T) { checkImage(t, path) })
	}
}

func checkImage(t *testing.T, path string) {
	_, _, stages := readDockerfile(t, path)
	flexlm := path == flexlmDockerfilePath
	mod, err := os.ReadFile(repo.Path("go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.ParseLax("go.mod", mod, nil)
	if err != nil || mf.Go == nil {
		t.Fatalf("go.mod: %v", err)
	}
	goMinor := regexp.MustCompile(`^\d+\.\d+`).FindString(mf.Go.Version)
	builder := stages[0].BaseName
	if !regexp.MustCompile(`^golang:` + regexp.QuoteMeta(goMinor) + `([.-]|$)`).MatchString(builder) {
		t.Errorf("builder image %q is not Go %s (go.mod says go %s)", builder, goMinor, mf.Go.Version)
	}

	final := stages[len(stages)-1]
	var user string
	var exposed []string
	var entrypoint []string
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.ExposeCommand:
			exposed = append(exposed, c.Ports...)
		case *instructions.EntrypointCommand:
			entrypoint = c.CmdLine
		case *instructions.RunCommand:
			if !flexlm {
				t.Errorf("the runtime stage runs %q: it should only copy the binaries", c.CmdLine)
			}
		}
	}
	uid := strings.SplitN(user, ":", 2)[0]
	if uid == "" || uid == "0" || uid == "root" {
		t.Errorf("the image runs as %q, want a non-root numeric user (Kubernetes runAsNonRoot needs a number)", user)
	}
	if !regexp.MustCompile(`^\d+$`).MatchString(uid) {
		t.Errorf("USER %q: use a numeric uid so that runAsNonRoot can verify it", user)
	}
	want := []string{fmt.Sprint(defaultPort(t, "license_exporter")), fmt.Sprint(defaultPort(t, "license_sidecar")), "9850"}
	if !slices.Equal(exposed, want) {
		t.Errorf("EXPOSE %v, want the programs' ports %v", exposed, want)
	}
	if len(entrypoint) != 1 || entrypoint[0] != "/bin/license_exporter" {
		t.Errorf("ENTRYPOINT %q, want the exporter by default", entrypoint)
	}
}

// TestMakeDockerPassesVersion checks that `make docker` builds this
// Dockerfile from the repository root with every version variable.
func TestMakeDockerPassesVersion(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is needed to read the Makefile")
	}
	mk, err := os.ReadFile(repo.Path("Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^docker:`).Match(mk) {
		t.Skip("the Makefile has no docker target yet")
	}
	args := []string{"-n", "-s", "-C", repo.Root(), "docker"}
	for _, v := range versionVars {
		args = append(args, v+"=@"+v+"@")
	}
	out, err := exec.Command("make", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("make -n docker: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "docker info") {
		t.Errorf("make docker should check for a Docker engine first (docker info):\n%s", out)
	}
	calls, err := shellcmd.Find(string(out), nil, "docker", "build")
	if err != nil || len(calls) != 1 {
		t.Fatalf("want one docker build in make's recipe (%v):\n%s", err, out)
	}
	got := strings.Join(calls[0].Args, " ")
	for _, want := range []string{"-f deploy/docker/Dockerfile"} {
		if !strings.Contains(got, want) {
			t.Errorf("make docker runs %q, want %q in it", got, want)
		}
	}
	if calls[0].Args[len(calls[0].Args)-1] != "." {
		t.Errorf("make docker should build the repository root as its context: %q", got)
	}
	for _, v := range versionVars {
		if !strings.Contains(got, "--build-arg "+v+"=@"+v+"@") {
			t.Errorf("make docker does not pass --build-arg %s=$(%s): %q", v, v, got)
		}
	}
}

// TestDockerBuildStageRuns does what the build stage does, without a
// container engine: it copies the build context that
// Dockerfile.dockerignore lets through, runs the stage's go build RUN in it,
// and checks the programs carry the version given as build args. A package
// the ignore file leaves out fails here.
func TestDockerBuildStageRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the three programs")
	}
	ignore, err := os.Open(dockerfilePath + ".dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(ignore)
	ignore.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	ctxDir := t.TempDir()
	copied := 0
	err = filepath.WalkDir(repo.Root(), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repo.Root(), p)
		if d.IsDir() {
			if rel == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		excluded, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil || excluded || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		dst := filepath.Join(ctxDir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		copied++
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"go.mod", "go.sum", "cmd/license_exporter/main.go"} {
		if _, err := os.Stat(filepath.Join(ctxDir, must)); err != nil {
			t.Errorf("the build context lacks %s", must)
		}
	}
	if matches, _ := filepath.Glob(filepath.Join(ctxDir, "*", "*_test.go")); len(matches) > 0 {
		t.Errorf("tests are sent to the build: %v", matches)
	}
	t.Logf("build context: %d files", copied)

	_, _, stages := readDockerfile(t, dockerfilePath)
	var script string
	for _, c := range stages[0].Commands {
		if r, ok := c.(*instructions.RunCommand); ok && strings.Contains(strings.Join(r.CmdLine, " "), "go build") {
			script = strings.Join(r.CmdLine, " ")
		}
	}
	if script == "" {
		t.Fatal("no go build RUN in the first stage")
	}
	out := t.TempDir()
	cmd := exec.Command("sh", "-c", strings.ReplaceAll(script, "/out/", out+"/"))
	cmd.Dir = ctxDir
	cmd.Env = append(os.Environ(), "VERSION=9.8.7", "REVISION=abc1234", "BRANCH=release", "BUILD_DATE=20260101T000000Z")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the build stage's RUN fails on the build context: %v\n%s", err, b)
	}
	for _, p := range testenv.Programs {
		b, err := exec.Command(filepath.Join(out, p), "--version").CombinedOutput()
		if err != nil {
			t.Errorf("%s --version: %v\n%s", p, err, b)
			continue
		}
		for _, want := range []string{"version 9.8.7", "branch: release", "revision: abc1234", "build user:       license-monitor", "build date:       20260101T000000Z"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s --version lacks %q:\n%s", p, want, b)
			}
		}
	}
}

// TestFlexLMImage checks what the FlexLM variant adds: a glibc runtime that
// can run lmutil, with the LSB loader lmutil often names, the documented
// lmutil directory on PATH, and the programs where the static image has
// them. Its build stage is the static image's, instruction for instruction,
// and so is its build context, so TestDockerBuildStageRuns covers it.
func TestFlexLMImage(t *testing.T) {
	_, _, static := readDockerfile(t, dockerfilePath)
	_, _, flex := readDockerfile(t, flexlmDockerfilePath)
	stageText := func(st instructions.Stage) []string {
		var out []string
		for _, c := range st.Commands {
			out = append(out, fmt.Sprint(c))
		}
		return out
	}
	if len(static) != 2 || len(flex) != 2 {
		t.Fatalf("want a build and a runtime stage in each, got %d and %d", len(static), len(flex))
	}
	if static[0].BaseName != flex[0].BaseName || !slices.Equal(stageText(static[0]), stageText(flex[0])) {
		t.Errorf("the build stages differ:\n  Dockerfile:        %s %q\n  Dockerfile.flexlm: %s %q",
			static[0].BaseName, stageText(static[0]), flex[0].BaseName, stageText(flex[0]))
	}
	ignore := func(p string) []string {
		b, err := os.ReadFile(p + ".dockerignore")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
		return out
	}
	if a, b := ignore(dockerfilePath), ignore(flexlmDockerfilePath); !slices.Equal(a, b) {
		t.Errorf("the build contexts differ:\n  %q\n  %q", a, b)
	}

	final := flex[1]
	if !regexp.MustCompile(`^debian:bookworm-slim(@|$)`).MatchString(final.BaseName) {
		t.Errorf("runtime image %q: want Debian bookworm-slim, a glibc base", final.BaseName)
	}
	var run, path string
	var copied []string
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.RunCommand:
			run += strings.Join(c.CmdLine, " ") + "\n"
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				if kv.Key == "PATH" {
					path = kv.Value
				}
			}
		case *instructions.CopyCommand:
			copied = append(copied, c.DestPath)
		}
	}
	for _, want := range []string{
		"ln -s /lib64/ld-linux-x86-64.so.2 /lib64/ld-lsb-x86-64.so.3",
		"mkdir -p /opt/flexlm/bin",
		"tzdata",
		"ca-certificates",
		"--no-install-recommends",
		"rm -rf /var/lib/apt/lists/*",
	} {
		if !strings.Contains(run, want) {
			t.Errorf("the runtime stage does not run %q:\n%s", want, run)
		}
	}
	if !slices.Contains(strings.Split(path, ":"), "/opt/flexlm/bin") {
		t.Errorf("PATH %q lacks /opt/flexlm/bin", path)
	}
	// Debian's /bin is /usr/bin: /bin/license_* as in the static image.
	if !slices.Equal(copied, []string{"/usr/bin/"}) {
		t.Errorf("COPY to %q, want the programs in /usr/bin/ (also /bin/ on Debian)", copied)
	}
}
