package deploycheck

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	"github.com/license-monitor/license-monitor/internal/testenv"
	"github.com/license-monitor/license-monitor/tools/deploycheck/internal/repo"
)

var composeDir = repo.Path("deploy", "compose")

func loadCompose(t *testing.T, files ...string) *types.Project {
	t.Helper()
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(composeDir, f))
	}
	opts, err := cli.NewProjectOptions(paths,
		cli.WithWorkingDirectory(composeDir),
		cli.WithEnv(nil), // the host's environment must not change what is checked
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose-go refuses %v: %v", files, err)
	}
	return p
}

// programOf is the License Monitor program a service runs, or "".
func programOf(s types.ServiceConfig) string {
	if len(s.Entrypoint) == 1 && strings.HasPrefix(s.Entrypoint[0], "/bin/license_") {
		return path.Base(s.Entrypoint[0])
	}
	return ""
}

func TestComposeLoads(t *testing.T) {
	p := loadCompose(t, "compose.yml")
	want := []string{"alertmanager", "exporter", "grafana", "prometheus", "sidecar", "simulator"}
	if got := slices.Sorted(maps.Keys(p.Services)); !slices.Equal(got, want) {
		t.Errorf("services %v, want %v", got, want)
	}
	for name, s := range p.Services {
		prog := programOf(s)
		if !s.ReadOnly {
			t.Errorf("%s: the root filesystem should be read-only", name)
		}
		if prog == "" {
			continue
		}
		if s.Build == nil || s.Build.Dockerfile != "deploy/docker/Dockerfile" {
			t.Errorf("%s: want the image built from deploy/docker/Dockerfile, got %+v", name, s.Build)
		}
		if s.User == "" || strings.HasPrefix(s.User, "0") || s.User == "root" {
			t.Errorf("%s runs as %q", name, s.User)
		}
		if !slices.Contains(s.CapDrop, "ALL") || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: want cap_drop ALL and no-new-privileges, got %v %v", name, s.CapDrop, s.SecurityOpt)
		}
	}
}

// TestComposeRejectsMistakes shows the loader is strict: an unknown key in
// a service is refused.
func TestComposeRejectsMistakes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(composeDir, "compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(b), "    read_only: true\n", "    read_only: true\n    readonly_rootfs: true\n", 1)
	if bad == string(b) {
		t.Fatal("mutation did not apply")
	}
	f := filepath.Join(t.TempDir(), "compose.yml")
	if err := os.WriteFile(f, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{f}, cli.WithWorkingDirectory(composeDir), cli.WithEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := opts.LoadProject(context.Background()); err == nil || !strings.Contains(err.Error(), "readonly_rootfs") {
		t.Errorf("want an error naming readonly_rootfs, got %v", err)
	}
}

// TestComposeRealAccount loads the override that swaps the simulator for a
// real account: the simulator is gone, and each program has its own secret.
func TestComposeRealAccount(t *testing.T) {
	p := loadCompose(t, "compose.yml", "compose.real-account.yml")
	if _, ok := p.Services["simulator"]; ok {
		t.Error("the simulator still runs with a real account")
	}
	secrets := func(svc string) []string {
		var out []string
		for _, s := range p.Services[svc].Secrets {
			out = append(out, s.Source)
		}
		return out
	}
	if got := secrets("exporter"); !slices.Equal(got, []string{"csi_read_url"}) {
		t.Errorf("exporter secrets %v, want only the read link", got)
	}
	if got := secrets("sidecar"); slices.Contains(got, "csi_read_url") || !slices.Contains(got, "csi_terminate_url") {
		t.Errorf("sidecar secrets %v", got)
	}
	for name, s := range p.Services {
		if _, ok := s.DependsOn["simulator"]; ok {
			t.Errorf("%s still depends on the simulator", name)
		}
	}
	// The programs read their secrets at the paths compose mounts them.
	for svc, cfgName := range map[string]string{"exporter": "license_exporter.real-account.yml", "sidecar": "license_sidecar.real-account.yml"} {
		b, err := os.ReadFile(filepath.Join(composeDir, cfgName))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`(?m)^\s*(?:url_file|credentials_file):\s*(\S+)`).FindAllStringSubmatch(string(b), -1) {
			name, ok := strings.CutPrefix(m[1], "/run/secrets/")
			if !ok || !slices.Contains(secrets(svc), name) {
				t.Errorf("%s reads %s, which compose does not give the %s", cfgName, m[1], svc)
			}
		}
	}
}

// TestComposeMountsExist checks that every file compose mounts is in the
// repository.
func TestComposeMountsExist(t *testing.T) {
	p := loadCompose(t, "compose.yml")
	n := 0
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			n++
			rel, err := filepath.Rel(repo.Root(), v.Source)
			if err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s mounts %s, outside the repository", name, v.Source)
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s mounts %s, which does not exist", name, rel)
			}
			if !v.ReadOnly {
				t.Errorf("%s mounts %s read-write", name, rel)
			}
		}
	}
	if n < 8 {
		t.Errorf("only %d bind mounts: the loader lost some", n)
	}
}

// composePorts is the port each service listens on inside its container:
// for the project's programs, from their flags or the binaries' defaults.
func composePorts(t *testing.T, p *types.Project) map[string]int {
	t.Helper()
	ports := map[string]int{}
	for name, s := range p.Services {
		switch prog := programOf(s); {
		case prog != "":
			ports[name] = listenPort(t, prog, s.Command)
		case s.Environment["GF_SERVER_HTTP_PORT"] != nil:
			n, err := strconv.Atoi(*s.Environment["GF_SERVER_HTTP_PORT"])
			if err != nil {
				t.Fatal(err)
			}
			ports[name] = n
		default:
			v, ok := flagValue(s.Command, "web.listen-address")
			if !ok {
				t.Fatalf("%s: set --web.listen-address so that its port is checked", name)
			}
			ports[name] = portOf(t, v)
		}
	}
	return ports
}

// TestComposePortsMatchPrograms checks published ports against what each
// program listens on, and every service URL in the mounted configs against
// the port and path of the service it names.
func TestComposePortsMatchPrograms(t *testing.T) {
	p := loadCompose(t, "compose.yml")
	ports := composePorts(t, p)
	for name, s := range p.Services {
		if len(s.Ports) != 1 || int(s.Ports[0].Target) != ports[name] {
			t.Errorf("%s publishes %+v, want its listen port %d", name, s.Ports, ports[name])
			continue
		}
		if s.Ports[0].HostIP != "127.0.0.1" {
			t.Errorf("%s is published on %q: the demo stays on 127.0.0.1", name, s.Ports[0].HostIP)
		}
	}

	// Every host:port of a service named in a mounted file.
	refs := serviceRefs(t, p)
	if len(refs) < 6 {
		t.Fatalf("found only %d references to services: %v", len(refs), refs)
	}
	for _, r := range refs {
		if want, ok := ports[r.service]; !ok {
			t.Errorf("%s names %s, which is no service", r.file, r.service)
		} else if r.port != want {
			t.Errorf("%s reaches %s on port %d, but it listens on %d", r.file, r.service, r.port, want)
		}
	}

	// The paths: the API base the simulator serves, and the exporter's
	// telemetry path that Prometheus scrapes.
	for _, r := range refs {
		if r.service == "simulator" && r.path != "/api/license-monitor/v1" {
			t.Errorf("%s reads the simulator at %q", r.file, r.path)
		}
	}
	prom := readYAML(t, repo.Path("deploy", "prometheus", "prometheus.yml"))
	wantPath := flagDefaults(t, "license_exporter")["web.telemetry-path"]
	if v, ok := flagValue(p.Services["exporter"].Command, "web.telemetry-path"); ok {
		wantPath = v
	}
	for _, sc := range prom["scrape_configs"].([]any) {
		sc := sc.(map[string]any)
		if sc["job_name"] == "license_exporter" {
			got, _ := sc["metrics_path"].(string)
			if got == "" {
				got = "/metrics" // Prometheus's default
			}
			if got != wantPath {
				t.Errorf("Prometheus scrapes %s, the exporter serves %s", got, wantPath)
			}
		}
	}
}

type serviceRef struct {
	file, service, path string
	port                int
}

var hostPortRE = regexp.MustCompile(`(?:https?://)?\b([a-z][a-z0-9-]*):(\d+)(/[\w/.-]*)?`)

// serviceRefs finds every service:port (and the path after it) in the
// files that compose mounts and in compose.yml itself.
func serviceRefs(t *testing.T, p *types.Project) []serviceRef {
	t.Helper()
	files := []string{filepath.Join(composeDir, "compose.yml")}
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				if fi, err := os.Stat(v.Source); err == nil && !fi.IsDir() {
					files = append(files, v.Source)
				}
			}
		}
	}
	var refs []serviceRef
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(repo.Root(), f)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			for _, m := range hostPortRE.FindAllStringSubmatch(line, -1) {
				if _, ok := p.Services[m[1]]; !ok && m[1] != "localhost" {
					continue
				}
				port, _ := strconv.Atoi(m[2])
				svc := m[1]
				if svc == "localhost" {
					// Only Prometheus scrapes itself through localhost.
					if !strings.HasSuffix(rel, "prometheus.yml") {
						continue
					}
					svc = "prometheus"
				}
				refs = append(refs, serviceRef{file: rel, service: svc, port: port, path: m[3]})
			}
		}
	}
	return refs
}

func readYAML(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return m
}

// containerRoot lays out a service's bind mounts under a temporary root, as
// the container would see them, and returns the root.
func containerRoot(t *testing.T, s types.ServiceConfig, rewrite func(string) string) string {
	t.Helper()
	root := t.TempDir()
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		dst := filepath.Join(root, v.Target)
		err := filepath.WalkDir(v.Source, func(src string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(v.Source, src)
			b, err := os.ReadFile(src)
			if err != nil {
				return err
			}
			out := filepath.Join(dst, rel)
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			return os.WriteFile(out, []byte(rewrite(string(b))), 0o600)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// rootedArgs points the container paths in args into root.
func rootedArgs(root string, args []string) []string {
	out := slices.Clone(args)
	for i, a := range out {
		for _, f := range []string{"config.file", "web.config.file"} {
			if v, ok := strings.CutPrefix(a, "--"+f+"="); ok && strings.HasPrefix(v, "/") {
				out[i] = "--" + f + "=" + filepath.Join(root, v)
			}
		}
	}
	return out
}

// TestComposeConfigsPassTheirTools runs each service's own checker on its
// mounted config, laid out as in the container: promtool (which also
// loads alerts/ through rule_files), amtool, and the programs' --config.check.
func TestComposeConfigsPassTheirTools(t *testing.T) {
	p := loadCompose(t, "compose.yml")
	same := func(s string) string { return s }

	promRoot := containerRoot(t, p.Services["prometheus"], same)
	promtool := testenv.RequireTool(t, "promtool")
	out, err := exec.Command(promtool, "check", "config", filepath.Join(promRoot, "etc/prometheus/prometheus.yml")).CombinedOutput()
	if err != nil {
		t.Errorf("promtool check config: %v\n%s", err, out)
	}
	alerts, _ := filepath.Glob(repo.Path("alerts", "*.yml"))
	if want := fmt.Sprintf("%d rule files found", len(alerts)); len(alerts) == 0 || !strings.Contains(string(out), want) {
		t.Errorf("promtool did not load alerts/ (want %q):\n%s", want, out)
	}

	amRoot := containerRoot(t, p.Services["alertmanager"], same)
	amtool := testenv.RequireTool(t, "amtool")
	if out, err := exec.Command(amtool, "check-config", filepath.Join(amRoot, "etc/alertmanager/alertmanager.yml")).CombinedOutput(); err != nil {
		t.Errorf("amtool check-config: %v\n%s", err, out)
	}

	for _, svc := range []string{"exporter", "sidecar"} {
		s := p.Services[svc]
		root := containerRoot(t, s, same)
		args := append(rootedArgs(root, s.Command), "--config.check")
		if out, err := exec.Command(testenv.Binary(t, programOf(s)), args...).CombinedOutput(); err != nil {
			t.Errorf("%s --config.check with compose's config: %v\n%s", svc, err, out)
		}
	}
}

// TestComposeStackRuns starts the project's programs and Debian's
// Prometheus with compose's commands and mounted configs, each service on a
// loopback port in place of its container, and checks that every scrape
// target is up: the URLs, ports, paths and the sidecar's scrape credentials
// in the configs all work together.
func TestComposeStackRuns(t *testing.T) {
	p := loadCompose(t, "compose.yml")
	ports := composePorts(t, p)
	addrs := map[string]string{}
	for _, svc := range []string{"simulator", "exporter", "sidecar", "prometheus"} {
		addrs[svc] = testenv.FreeAddr(t)
	}
	// Debian's Alertmanager with compose's config; it picks its own port.
	amRoot := containerRoot(t, p.Services["alertmanager"], func(s string) string { return s })
	amConfig, err := os.ReadFile(filepath.Join(amRoot, "etc/alertmanager/alertmanager.yml"))
	if err != nil {
		t.Fatal(err)
	}
	am := testenv.StartAlertmanager(t, string(amConfig))
	addrs["alertmanager"] = am.Addr
	// service:port -> 127.0.0.1:free; a reference with a wrong port stays
	// unresolved and its target is down.
	rewrite := func(s string) string {
		for svc, a := range addrs {
			s = strings.ReplaceAll(s, fmt.Sprintf("%s:%d", svc, ports[svc]), a)
		}
		s = strings.ReplaceAll(s, fmt.Sprintf("localhost:%d", ports["prometheus"]), addrs["prometheus"])
		return s
	}
	// A service name left in a config would be looked up in DNS: traffic
	// off this machine. TestComposePortsMatchPrograms names the mistake.
	// (Directories such as alerts/ hold test fixtures, not addresses.)
	rooted := func(svc string) string {
		s := p.Services[svc]
		root := containerRoot(t, s, rewrite)
		for _, v := range s.Volumes {
			if fi, err := os.Stat(v.Source); v.Type != types.VolumeTypeBind || err != nil || fi.IsDir() {
				continue
			}
			b, err := os.ReadFile(filepath.Join(root, v.Target))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range hostPortRE.FindAllStringSubmatch(string(b), -1) {
				if _, ok := p.Services[m[1]]; ok {
					t.Fatalf("%s: %s:%s matches no service's port", v.Target, m[1], m[2])
				}
			}
		}
		return root
	}
	start := func(svc string) *testenv.Process {
		s := p.Services[svc]
		root := rooted(svc)
		args := rootedArgs(root, s.Command)
		args = slices.DeleteFunc(args, func(a string) bool { return strings.HasPrefix(a, "--web.listen-address=") })
		args = append(args, "--web.listen-address="+addrs[svc])
		// The simulator's loopback control address would be a fixed port
		// on this machine: a free one instead, still on loopback.
		for i, a := range args {
			if v, ok := strings.CutPrefix(a, "--web.control-listen-address="); ok {
				if !strings.HasPrefix(v, "127.0.0.1:") {
					t.Errorf("%s: the control API listens on %s, not loopback", svc, v)
				}
				args[i] = "--web.control-listen-address=" + testenv.FreeAddr(t)
			}
		}
		return testenv.Start(t, addrs[svc], testenv.Binary(t, programOf(s)), args...)
	}
	sim := start("simulator")
	testenv.WaitHTTP(t, sim, sim.URL("/-/healthy"), 30*time.Second)
	exp := start("exporter")
	testenv.WaitHTTP(t, exp, exp.URL("/-/ready"), 30*time.Second)
	side := start("sidecar")
	waitTCP(t, side, addrs["sidecar"])

	promRoot := rooted("prometheus")
	cfg, err := os.ReadFile(filepath.Join(promRoot, "etc/prometheus/prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	// The rule files resolve relative to the config that StartPrometheus
	// writes elsewhere, so point them at the laid-out copy.
	cfgText := strings.Replace(string(cfg), "- alerts/*.yml", "- "+filepath.Join(promRoot, "etc/prometheus/alerts/*.yml"), 1)
	cfgText = strings.Replace(cfgText, "scrape_interval: 15s", "scrape_interval: 1s", 1)
	// StartPrometheus picks its own port, so the self-scrape job is not
	// checked here; TestComposePortsMatchPrograms checks its port.
	prom := testenv.StartPrometheus(t, cfgText)

	testenv.Eventually(t, 60*time.Second, 500*time.Millisecond, func() error {
		status, body := testenv.Get(t, prom.URL("/api/v1/query?query=up"))
		if status != 200 {
			return fmt.Errorf("query: HTTP %d", status)
		}
		for _, job := range []string{"license_exporter", "license_sidecar"} {
			if !regexp.MustCompile(`"job":"` + job + `"[^}]*\},"value":\[[0-9.]+,"1"\]`).MatchString(body) {
				return fmt.Errorf("job %s not up: %s", job, body)
			}
		}
		return nil
	})
	status, body := testenv.Get(t, prom.URL("/api/v1/alertmanagers"))
	if status != 200 || !strings.Contains(body, am.Addr) {
		t.Errorf("Prometheus does not send alerts to the Alertmanager: HTTP %d %s", status, body)
	}
	status, body = testenv.Get(t, prom.URL("/api/v1/query?query=license_up"))
	if status != 200 || !strings.Contains(body, `"source":"demo"`) || !strings.Contains(body, `"1"]`) {
		t.Errorf("license_up through Prometheus: HTTP %d %s", status, body)
	}
	status, body = testenv.Get(t, prom.URL("/api/v1/rules"))
	if status != 200 || !strings.Contains(body, "LicenseExporterDown") || !strings.Contains(body, "source_product_edition:license_seats_in_use:sum") {
		t.Errorf("alerts/ not loaded: HTTP %d", status)
	}
}

func waitTCP(t *testing.T, p *testenv.Process, addr string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		if p.Exited() {
			t.Fatalf("%s exited:\n%s", p.Name, p.Logs())
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// TestComposeFlexLM loads the FlexLM override: the exporter runs the glibc
// image variant with the host's lmutil directory mounted read-only where
// the config names lmutil, keeps every restriction of the base file, and
// its config passes --config.check and polls both sources, with a fake
// lmutil in place of Flexera's.
func TestComposeFlexLM(t *testing.T) {
	p := loadCompose(t, "compose.yml", "compose.flexlm.yml")
	s := p.Services["exporter"]
	if s.Build == nil || s.Build.Dockerfile != "deploy/docker/Dockerfile.flexlm" {
		t.Errorf("exporter: want the image built from deploy/docker/Dockerfile.flexlm, got %+v", s.Build)
	}
	if s.Image == p.Services["sidecar"].Image {
		t.Errorf("exporter and sidecar share the image name %q: one build would overwrite the other", s.Image)
	}
	if programOf(s) != "license_exporter" {
		t.Errorf("exporter entrypoint %q", s.Entrypoint)
	}
	if !s.ReadOnly || s.User != "65532:65532" || !slices.Contains(s.CapDrop, "ALL") || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("exporter lost a restriction: read_only %v, user %q, cap_drop %v, security_opt %v", s.ReadOnly, s.User, s.CapDrop, s.SecurityOpt)
	}
	var lmutil *types.ServiceVolumeConfig
	var inRepo []types.ServiceVolumeConfig
	for i, v := range s.Volumes {
		if !v.ReadOnly {
			t.Errorf("exporter mounts %s read-write", v.Source)
		}
		if v.Target == lmutilDir {
			lmutil = &s.Volumes[i]
			continue
		}
		if _, err := os.Stat(v.Source); err != nil {
			t.Errorf("exporter mounts %s, which does not exist", v.Source)
		}
		inRepo = append(inRepo, v)
	}
	if lmutil == nil {
		t.Fatalf("no volume at %s: %+v", lmutilDir, s.Volumes)
	}
	// LMUTIL_DIR is unset here (the loader sees no environment).
	if lmutil.Source != lmutilDir {
		t.Errorf("the lmutil directory defaults to %s, want %s", lmutil.Source, lmutilDir)
	}

	dir := fakeLmutil(t)
	s.Volumes = inRepo
	root := containerRoot(t, s, func(c string) string { return withFakeLmutil(c, dir) })
	cfgPath := filepath.Join(root, "etc/license_exporter/license_exporter.yml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	names := flexlmSources(t, "compose/license_exporter.flexlm.yml", []byte(strings.ReplaceAll(string(cfg), dir+"/", lmutilDir+"/")))
	args := append(rootedArgs(root, s.Command), "--config.check")
	if out, err := exec.Command(testenv.Binary(t, "license_exporter"), args...).CombinedOutput(); err != nil {
		t.Errorf("license_exporter --config.check with compose.flexlm.yml's config: %v\n%s", err, out)
	}

	// Both sources polled: the simulator in place of the demo service.
	sim := testenv.StartSimulator(t)
	text := strings.ReplaceAll(string(cfg), fmt.Sprintf("http://simulator:%d/api/license-monitor/v1", composePorts(t, p)["simulator"]), sim.BaseURL)
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreeAddr(t)
	args = slices.DeleteFunc(rootedArgs(root, s.Command), func(a string) bool { return strings.HasPrefix(a, "--web.listen-address=") })
	exp := testenv.Start(t, addr, testenv.Binary(t, "license_exporter"), append(args, "--web.listen-address="+addr)...)
	waitTCP(t, exp, addr)
	waitExporterUp(t, exp, append(names, "demo")...)
}

// TestComposeFlexLMWithRealAccount: the FlexLM override after the
// real-account one keeps the exporter's read secret, as compose.flexlm.yml
// says, and still runs the FlexLM image.
func TestComposeFlexLMWithRealAccount(t *testing.T) {
	p := loadCompose(t, "compose.yml", "compose.real-account.yml", "compose.flexlm.yml")
	s := p.Services["exporter"]
	var secrets []string
	for _, sec := range s.Secrets {
		secrets = append(secrets, sec.Source)
	}
	if !slices.Equal(secrets, []string{"csi_read_url"}) {
		t.Errorf("exporter secrets %v, want the read link", secrets)
	}
	if s.Build == nil || s.Build.Dockerfile != "deploy/docker/Dockerfile.flexlm" {
		t.Errorf("exporter build %+v, want Dockerfile.flexlm", s.Build)
	}
	if _, ok := p.Services["simulator"]; ok {
		t.Error("the simulator runs with a real account")
	}
}

// waitExporterUp waits until the exporter's last poll of every named source
// succeeded.
func waitExporterUp(t *testing.T, p *testenv.Process, sources ...string) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, 200*time.Millisecond, func() error {
		if p.Exited() {
			t.Fatalf("the exporter exited:\n%s", p.Logs())
		}
		status, body := testenv.Get(t, p.URL("/metrics"))
		if status != 200 {
			return fmt.Errorf("/metrics: HTTP %d", status)
		}
		for _, s := range sources {
			if !strings.Contains(body, fmt.Sprintf("license_up{source=%q} 1", s)) {
				return fmt.Errorf("source %s not polled yet:\n%s", s, p.Logs())
			}
		}
		return nil
	})
}
