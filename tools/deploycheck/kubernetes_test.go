package deploycheck

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	k8sjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/license-monitor/license-monitor/internal/testenv"
	"github.com/license-monitor/license-monitor/tools/deploycheck/internal/gen"
	"github.com/license-monitor/license-monitor/tools/deploycheck/internal/repo"
)

var (
	k8sBase    = repo.Path("deploy", "kubernetes", "base")
	k8sOverlay = repo.Path("deploy", "kubernetes", "overlays", "example")
	// k8sFlexLM is the example plus a FlexLM source.
	k8sFlexLM = repo.Path("deploy", "kubernetes", "overlays", "flexlm")
)

// objects is a kustomize build, every object decoded into its Go type.
type objects struct {
	all            []runtime.Object
	deployment     *appsv1.Deployment
	services       []*corev1.Service
	configMaps     map[string]*corev1.ConfigMap
	secrets        map[string]*corev1.Secret
	serviceMonitor []*monitoringv1.ServiceMonitor
	rules          []*monitoringv1.PrometheusRule
	netpols        []*networkingv1.NetworkPolicy
	namespaces     []*corev1.Namespace
}

func strictDecoder(t *testing.T) runtime.Decoder {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, networkingv1.AddToScheme, monitoringv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	return k8sjson.NewSerializerWithOptions(k8sjson.DefaultMetaFactory, scheme, scheme,
		k8sjson.SerializerOptions{Yaml: true, Strict: true})
}

// build runs kustomize on dir with the Go API and decodes every object
// strictly: an unknown or duplicated field is an error.
func build(t *testing.T, dir string) *objects {
	t.Helper()
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	dec := strictDecoder(t)
	o := &objects{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj, gvk, err := dec.Decode(y, nil, nil)
		if err != nil {
			t.Errorf("%s %s does not decode strictly: %v", r.GetKind(), r.GetName(), err)
			continue
		}
		o.all = append(o.all, obj)
		switch v := obj.(type) {
		case *appsv1.Deployment:
			if o.deployment != nil {
				t.Errorf("more than one Deployment")
			}
			o.deployment = v
		case *corev1.Service:
			o.services = append(o.services, v)
		case *corev1.ConfigMap:
			o.configMaps[v.Name] = v
		case *corev1.Secret:
			o.secrets[v.Name] = v
		case *corev1.ServiceAccount:
		case *corev1.Namespace:
			o.namespaces = append(o.namespaces, v)
		case *monitoringv1.ServiceMonitor:
			o.serviceMonitor = append(o.serviceMonitor, v)
		case *monitoringv1.PrometheusRule:
			o.rules = append(o.rules, v)
		case *networkingv1.NetworkPolicy:
			o.netpols = append(o.netpols, v)
		default:
			t.Errorf("unexpected object %s %s", gvk, r.GetName())
		}
	}
	if o.deployment == nil {
		t.Fatal("no Deployment in the build")
	}
	return o
}

func (o *objects) container(t *testing.T, name string) corev1.Container {
	t.Helper()
	for _, c := range o.deployment.Spec.Template.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q", name)
	return corev1.Container{}
}

func TestKubernetesStrictDecodingRefusesUnknownFields(t *testing.T) {
	y := []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicas: 1\n  replica: 2\n")
	if _, _, err := strictDecoder(t).Decode(y, nil, nil); err == nil || !strings.Contains(err.Error(), "replica") {
		t.Errorf("want an error naming the unknown field, got %v", err)
	}
	y = []byte("apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec:\n  endpoints: [{port: m, intervall: 30s}]\n")
	if _, _, err := strictDecoder(t).Decode(y, nil, nil); err == nil || !strings.Contains(err.Error(), "intervall") {
		t.Errorf("want an error naming the unknown field, got %v", err)
	}
}

func TestKubernetesBaseAndOverlayBuild(t *testing.T) {
	for _, dir := range []string{k8sBase, k8sOverlay, k8sFlexLM} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			o := build(t, dir)
			if len(o.services) != 2 || len(o.serviceMonitor) != 2 || len(o.rules) != 1 || len(o.netpols) != 1 {
				t.Errorf("want 2 Services, 2 ServiceMonitors, 1 PrometheusRule, 1 NetworkPolicy; got %d, %d, %d, %d",
					len(o.services), len(o.serviceMonitor), len(o.rules), len(o.netpols))
			}
			checkPodSecurity(t, o)
			checkProbesAndPorts(t, o)
			checkSecretIsolation(t, o)
			checkMonitoring(t, o)
			checkResources(t, o)
			checkDashboards(t, o)
		})
	}
}

func TestKubernetesOverlayIsComplete(t *testing.T) {
	for _, dir := range []string{k8sOverlay, k8sFlexLM} {
		t.Run(filepath.Base(dir), func(t *testing.T) { overlayIsComplete(t, dir) })
	}
}

func overlayIsComplete(t *testing.T, dir string) {
	o := build(t, dir)
	if len(o.namespaces) != 1 {
		t.Fatalf("the overlay should create its namespace")
	}
	ns := o.namespaces[0]
	if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace %s does not enforce the restricted pod security profile", ns.Name)
	}
	for _, obj := range o.all {
		m, ok := obj.(interface{ GetNamespace() string })
		if _, isNS := obj.(*corev1.Namespace); ok && !isNS && m.GetNamespace() != ns.Name {
			t.Errorf("%T is in namespace %q, want %q", obj, m.GetNamespace(), ns.Name)
		}
	}
	// Every ConfigMap and Secret the pod or the ServiceMonitors name exists.
	spec := o.deployment.Spec.Template.Spec
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil && o.configMaps[v.ConfigMap.Name] == nil {
			t.Errorf("volume %s: ConfigMap %s is not in the build", v.Name, v.ConfigMap.Name)
		}
		if v.Secret != nil && o.secrets[v.Secret.SecretName] == nil {
			t.Errorf("volume %s: Secret %s is not in the build", v.Name, v.Secret.SecretName)
		}
	}
	for _, sm := range o.serviceMonitor {
		if sm.Labels["release"] == "" {
			t.Errorf("ServiceMonitor %s has no release label for the operator to select it", sm.Name)
		}
	}
}

func checkPodSecurity(t *testing.T, o *objects) {
	t.Helper()
	spec := o.deployment.Spec.Template.Spec
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod: runAsNonRoot is not set")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod: seccomp profile is not RuntimeDefault")
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Error("pod shares a host namespace")
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("pod mounts a service account token it does not need")
	}
	for _, v := range spec.Volumes {
		if v.ConfigMap == nil && v.Secret == nil && v.EmptyDir == nil {
			t.Errorf("volume %s is of a kind the restricted profile does not need", v.Name)
		}
	}
	if len(spec.Containers) != 2 || len(spec.InitContainers) != 0 {
		t.Errorf("want the exporter and the sidecar, got %d containers", len(spec.Containers))
	}
	for _, c := range spec.Containers {
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("%s: no securityContext", c.Name)
			continue
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation is not false", c.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: the root filesystem is writable", c.Name)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: capabilities are not all dropped", c.Name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s is privileged", c.Name)
		}
		if sc.RunAsUser == nil || *sc.RunAsUser == 0 {
			t.Errorf("%s: set a non-zero runAsUser", c.Name)
		}
		if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: seccomp profile is not RuntimeDefault", c.Name)
		}
	}
}

// programOfContainer is the program a container runs: the image's
// entrypoint (the exporter) unless command names another.
func programOfContainer(c corev1.Container) string {
	if len(c.Command) > 0 {
		return filepath.Base(c.Command[0])
	}
	return "license_exporter"
}

func checkProbesAndPorts(t *testing.T, o *objects) {
	t.Helper()
	for _, c := range o.deployment.Spec.Template.Spec.Containers {
		prog := programOfContainer(c)
		port := listenPort(t, prog, c.Args)
		if len(c.Ports) != 1 || int(c.Ports[0].ContainerPort) != port {
			t.Errorf("%s: ports %+v, but %s listens on %d", c.Name, c.Ports, prog, port)
			continue
		}
		for kind, p := range map[string]*corev1.Probe{"/-/healthy": c.LivenessProbe, "/-/ready": c.ReadinessProbe} {
			if p == nil || p.HTTPGet == nil {
				t.Errorf("%s: no HTTP probe on %s", c.Name, kind)
				continue
			}
			if p.HTTPGet.Path != kind {
				t.Errorf("%s: probe on %s, want %s", c.Name, p.HTTPGet.Path, kind)
			}
			if pp := p.HTTPGet.Port; pp.StrVal != c.Ports[0].Name && int(pp.IntVal) != port {
				t.Errorf("%s: probe port %s is not the container's", c.Name, pp.String())
			}
		}
	}
}

// secretsOf lists the Secrets a container can read: through its volume
// mounts, its environment, or a projected volume.
func secretsOf(spec corev1.PodSpec, c corev1.Container) []string {
	var out []string
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	for _, m := range c.VolumeMounts {
		v := vols[m.Name]
		if v.Secret != nil {
			out = append(out, v.Secret.SecretName)
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.Secret != nil {
					out = append(out, s.Secret.Name)
				}
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			out = append(out, e.ValueFrom.SecretKeyRef.Name)
		}
	}
	for _, e := range c.EnvFrom {
		if e.SecretRef != nil {
			out = append(out, e.SecretRef.Name)
		}
	}
	sort.Strings(out)
	return out
}

func checkSecretIsolation(t *testing.T, o *objects) {
	t.Helper()
	spec := o.deployment.Spec.Template.Spec
	exp, side := o.container(t, "exporter"), o.container(t, "sidecar")
	expSecrets, sideSecrets := secretsOf(spec, exp), secretsOf(spec, side)
	if len(expSecrets) != 1 || !strings.HasPrefix(expSecrets[0], "license-exporter") {
		t.Errorf("exporter reads Secrets %v, want only license-exporter", expSecrets)
	}
	if len(sideSecrets) != 1 || !strings.HasPrefix(sideSecrets[0], "license-sidecar") {
		t.Errorf("sidecar reads Secrets %v, want only license-sidecar", sideSecrets)
	}
	for _, s := range expSecrets {
		if slices.Contains(sideSecrets, s) {
			t.Errorf("both containers read Secret %s", s)
		}
	}
	if spec.ShareProcessNamespace != nil && *spec.ShareProcessNamespace {
		t.Error("a shared process namespace lets the exporter see the sidecar's files through /proc")
	}
	uid := func(c corev1.Container) int64 {
		if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil {
			return *c.SecurityContext.RunAsUser
		}
		return -1
	}
	if uid(exp) == uid(side) {
		t.Errorf("exporter and sidecar run as the same uid %d", uid(exp))
	}
}

// jobFromAlerts is the job name alerts/alerts.yml expects of the exporter.
func jobFromAlerts(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(repo.Path("alerts", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`up\{job="([^"]+)"\}`).FindSubmatch(b)
	if m == nil {
		t.Fatal("alerts/alerts.yml names no job")
	}
	return string(m[1])
}

func checkMonitoring(t *testing.T, o *objects) {
	t.Helper()
	podLabels := labels.Set(o.deployment.Spec.Template.Labels)
	if !labels.SelectorFromSet(o.deployment.Spec.Selector.MatchLabels).Matches(podLabels) {
		t.Error("the Deployment's selector does not match its pods")
	}
	containerPorts := map[string]int32{}
	for _, c := range o.deployment.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			containerPorts[p.Name] = p.ContainerPort
		}
	}
	for _, s := range o.services {
		if !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
			t.Errorf("Service %s selects no pod", s.Name)
		}
		for _, p := range s.Spec.Ports {
			if _, ok := containerPorts[p.TargetPort.String()]; !ok {
				t.Errorf("Service %s targets port %s, which no container has", s.Name, p.TargetPort.String())
			}
		}
	}
	jobs := map[string]bool{}
	for _, sm := range o.serviceMonitor {
		sel, err := labels.ValidatedSelectorFromSet(sm.Spec.Selector.MatchLabels)
		if err != nil {
			t.Fatal(err)
		}
		var matched []*corev1.Service
		for _, s := range o.services {
			if sel.Matches(labels.Set(s.Labels)) {
				matched = append(matched, s)
			}
		}
		if len(matched) != 1 {
			t.Errorf("ServiceMonitor %s selects %d Services, want 1", sm.Name, len(matched))
			continue
		}
		svc := matched[0]
		job := svc.Labels[sm.Spec.JobLabel]
		if job == "" {
			job = svc.Name // the operator's default
		}
		jobs[job] = true
		for _, ep := range sm.Spec.Endpoints {
			if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
				t.Errorf("ServiceMonitor %s scrapes port %q, which Service %s lacks", sm.Name, ep.Port, svc.Name)
			}
			if ep.BasicAuth != nil {
				for _, ref := range []corev1.SecretKeySelector{ep.BasicAuth.Username, ep.BasicAuth.Password} {
					if s := o.secrets[ref.Name]; s == nil || (s.StringData[ref.Key] == "" && len(s.Data[ref.Key]) == 0) {
						t.Errorf("ServiceMonitor %s: Secret %s key %s is not in the build", sm.Name, ref.Name, ref.Key)
					}
				}
			}
		}
	}
	if want := jobFromAlerts(t); !jobs[want] {
		t.Errorf("the alerts expect job %q; the ServiceMonitors give %v", want, jobs)
	}
	for _, np := range o.netpols {
		if !labels.SelectorFromSet(np.Spec.PodSelector.MatchLabels).Matches(podLabels) {
			t.Errorf("NetworkPolicy %s does not select the pod", np.Name)
		}
		for _, in := range np.Spec.Ingress {
			for _, p := range in.Ports {
				if p.Port != nil && p.Port.StrVal != "" {
					if _, ok := containerPorts[p.Port.StrVal]; !ok {
						t.Errorf("NetworkPolicy %s opens port %q, which no container has", np.Name, p.Port.StrVal)
					}
				}
			}
		}
	}
}

func checkResources(t *testing.T, o *objects) {
	t.Helper()
	for _, c := range o.deployment.Spec.Template.Spec.Containers {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
			if req.IsZero() || lim.IsZero() {
				t.Errorf("%s: %s needs a request and a limit", c.Name, r)
			} else if req.Cmp(lim) > 0 {
				t.Errorf("%s: %s request %s is above the limit %s", c.Name, r, req.String(), lim.String())
			}
		}
	}
}

func checkDashboards(t *testing.T, o *objects) {
	t.Helper()
	var found *corev1.ConfigMap
	for _, cm := range o.configMaps {
		if cm.Labels[gen.DashboardLabel] == "1" {
			found = cm
		}
	}
	if found == nil {
		t.Fatal("no ConfigMap labelled for Grafana's dashboard sidecar")
	}
	files, _ := filepath.Glob(repo.Path("dashboards", "*.json"))
	if len(found.Data) != len(files) || len(files) == 0 {
		t.Errorf("dashboards ConfigMap holds %d dashboards, dashboards/ has %d", len(found.Data), len(files))
	}
}

// TestKubernetesGeneratedUpToDate fails when the PrometheusRule or the
// dashboards ConfigMap differs from what alerts/ and dashboards/ give.
func TestKubernetesGeneratedUpToDate(t *testing.T) {
	for name, render := range gen.Files {
		want, err := render(repo.Root())
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(repo.Path(name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date with its sources: run make deploy-generate", name)
		}
	}
}

// TestKubernetesPrometheusRuleHoldsEveryRule compares the generated object
// with alerts/ rule by rule, through the operator's types.
func TestKubernetesPrometheusRuleHoldsEveryRule(t *testing.T) {
	o := build(t, k8sBase)
	var got []string
	for _, g := range o.rules[0].Spec.Groups {
		for _, r := range g.Rules {
			got = append(got, g.Name+"/"+r.Alert+r.Record+"="+strings.TrimSpace(r.Expr.String()))
		}
	}
	var want []string
	files, _ := filepath.Glob(repo.Path("alerts", "*.yml"))
	sort.Strings(files)
	for _, f := range files {
		rf := readYAML(t, f)
		for _, g := range rf["groups"].([]any) {
			g := g.(map[string]any)
			for _, r := range g["rules"].([]any) {
				r := r.(map[string]any)
				name, _ := r["alert"].(string)
				if name == "" {
					name, _ = r["record"].(string)
				}
				want = append(want, fmt.Sprint(g["name"], "/", name, "=", strings.TrimSpace(fmt.Sprint(r["expr"]))))
			}
		}
	}
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("PrometheusRule rules differ from alerts/:\n got %q\nwant %q", got, want)
	}
}

// TestKubernetesPodRuns starts each container's program the way the
// overlay's Deployment does, with its ConfigMap and Secret files laid out at
// their mount paths under a temporary root, and sends the kubelet's probes
// and Prometheus's scrapes as the manifests define them.
func TestKubernetesPodRuns(t *testing.T) {
	for _, dir := range []string{k8sOverlay, k8sFlexLM} {
		t.Run(filepath.Base(dir), func(t *testing.T) { podRuns(t, dir) })
	}
}

// podRuns is TestKubernetesPodRuns for one overlay. lmutil, which the
// FlexLM overlay's image carries, is a fake one here.
func podRuns(t *testing.T, dir string) {
	o := build(t, dir)
	sim := testenv.StartSimulator(t)
	lmutil := fakeLmutil(t)
	spec := o.deployment.Spec.Template.Spec
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	scrapeAuth := map[string]*monitoringv1.BasicAuth{}
	for _, sm := range o.serviceMonitor {
		for _, ep := range sm.Spec.Endpoints {
			scrapeAuth[ep.Port] = ep.BasicAuth
		}
	}

	for _, c := range spec.Containers {
		t.Run(c.Name, func(t *testing.T) {
			root := t.TempDir()
			// Mount paths move under root, in the files and in the args.
			rooted := func(s string) string {
				for _, m := range c.VolumeMounts {
					s = strings.ReplaceAll(s, m.MountPath+"/", filepath.Join(root, m.MountPath)+"/")
				}
				return withFakeLmutil(s, lmutil)
			}
			for _, m := range c.VolumeMounts {
				files := map[string][]byte{}
				switch v := vols[m.Name]; {
				case v.ConfigMap != nil:
					for k, d := range o.configMaps[v.ConfigMap.Name].Data {
						files[k] = []byte(rooted(d))
					}
				case v.Secret != nil:
					for k, d := range o.secrets[v.Secret.SecretName].Data {
						files[k] = d
					}
					// The account's link becomes the simulator's.
					if _, ok := files["url"]; ok {
						files["url"] = []byte(sim.BaseURL + "\n")
					}
				}
				for k, d := range files {
					p := filepath.Join(root, m.MountPath, k)
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, d, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			addr := testenv.FreeAddr(t)
			var args []string
			for _, a := range c.Args {
				if !strings.HasPrefix(a, "--web.listen-address=") {
					args = append(args, rooted(a))
				}
			}
			p := testenv.Start(t, addr, testenv.Binary(t, programOfContainer(c)), append(args, "--web.listen-address="+addr)...)
			waitTCP(t, p, addr)

			get := func(path string, hdr http.Header) (int, string) {
				req, _ := http.NewRequest(http.MethodGet, p.URL(path), nil)
				req.Header = hdr
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var b bytes.Buffer
				_, _ = b.ReadFrom(resp.Body)
				return resp.StatusCode, b.String()
			}
			for _, probe := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
				hdr := http.Header{}
				for _, h := range probe.HTTPGet.HTTPHeaders {
					hdr.Set(h.Name, h.Value)
				}
				testenv.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
					if code, body := get(probe.HTTPGet.Path, hdr); code != http.StatusOK {
						return fmt.Errorf("probe %s: HTTP %d %s", probe.HTTPGet.Path, code, body)
					}
					return nil
				})
			}

			// Prometheus's scrape, with the ServiceMonitor's credentials.
			hdr := http.Header{}
			if ba := scrapeAuth[c.Ports[0].Name]; ba != nil {
				user := o.secrets[ba.Username.Name].StringData[ba.Username.Key]
				pass := o.secrets[ba.Password.Name].StringData[ba.Password.Key]
				hdr.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
				// That identity has no role: the monitor is refused to it.
				if code, _ := get("/api/v1/monitor", hdr); code != http.StatusForbidden {
					t.Errorf("the probe user got HTTP %d from the monitor, want 403", code)
				}
			}
			testenv.Eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
				code, body := get("/metrics", hdr)
				if code != http.StatusOK {
					return fmt.Errorf("scrape: HTTP %d", code)
				}
				if c.Name == "exporter" && !strings.Contains(body, `license_up{source="acme"} 1`) {
					return fmt.Errorf("the exporter has not read the account yet")
				}
				if c.Name == "exporter" && dir == k8sFlexLM && !strings.Contains(body, `license_up{source="flexnet"} 1`) {
					return fmt.Errorf("the exporter has not read the FlexLM source yet")
				}
				return nil
			})
		})
	}
}

// TestKubernetesFlexLMOverlay checks what the FlexLM overlay changes: the
// exporter's image (a build of the FlexLM variant with lmutil), its config,
// with a FlexLM source whose lmutil is where that image has it, and egress
// to lmgrd's and a vendor daemon's ports. The sidecar keeps the example's
// image, and nothing else of the example changes.
func TestKubernetesFlexLMOverlay(t *testing.T) {
	ex, fl := build(t, k8sOverlay), build(t, k8sFlexLM)
	exExp, flExp := ex.container(t, "exporter"), fl.container(t, "exporter")
	if flExp.Image == exExp.Image || !strings.Contains(flExp.Image, "flexlm") {
		t.Errorf("exporter image %q: want the FlexLM variant, not the example's %q", flExp.Image, exExp.Image)
	}
	if got, want := fl.container(t, "sidecar").Image, ex.container(t, "sidecar").Image; got != want {
		t.Errorf("sidecar image %q, want the example's %q", got, want)
	}
	var cfg string
	for _, v := range fl.deployment.Spec.Template.Spec.Volumes {
		if v.Name == "exporter-config" && v.ConfigMap != nil {
			cfg = fl.configMaps[v.ConfigMap.Name].Data["license_exporter.yml"]
		}
	}
	if cfg == "" {
		t.Fatal("no license_exporter.yml in the exporter's ConfigMap")
	}
	if names := flexlmSources(t, "overlays/flexlm/license_exporter.yml", []byte(cfg)); !slices.Equal(names, []string{"flexnet"}) {
		t.Errorf("FlexLM sources %v, want [flexnet]", names)
	}
	allowed := func(o *objects) map[string]bool {
		ports := map[string]bool{}
		for _, r := range o.netpols[0].Spec.Egress {
			for _, p := range r.Ports {
				end := p.Port.IntVal
				if p.EndPort != nil {
					end = *p.EndPort
				}
				for n := p.Port.IntVal; n <= end; n++ {
					ports[fmt.Sprint(n)] = true
				}
			}
		}
		return ports
	}
	exPorts, flPorts := allowed(ex), allowed(fl)
	for _, want := range []string{"27000", "27009", "27010"} {
		if !flPorts[want] {
			t.Errorf("egress to port %s is not allowed: %v", want, flPorts)
		}
	}
	for p := range exPorts {
		if !flPorts[p] {
			t.Errorf("the overlay lost the example's egress to port %s", p)
		}
	}
	if len(fl.all) != len(ex.all) {
		t.Errorf("the FlexLM overlay has %d objects, the example %d", len(fl.all), len(ex.all))
	}
}
