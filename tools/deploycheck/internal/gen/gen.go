// Package gen makes the Kubernetes objects that are copies of other files
// in the repository: the PrometheusRule of alerts/*.yml and the ConfigMap of
// dashboards/*.json. They are committed under deploy/kubernetes/base/ so
// that kustomize (which refuses files outside its root) can use them, and a
// test fails when they drift from their sources.
package gen

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Output files, relative to the repository root.
const (
	PrometheusRuleFile = "deploy/kubernetes/base/prometheusrule.yaml"
	DashboardsFile     = "deploy/kubernetes/base/dashboards-configmap.yaml"
)

// Labels and annotations read by Grafana's dashboard sidecar (the defaults
// of the kube-prometheus-stack and grafana Helm charts).
const (
	DashboardLabel       = "grafana_dashboard"
	DashboardFolderAnnot = "grafana_folder"
	DashboardFolder      = "License Monitor"
)

var commonLabels = map[string]string{
	"app.kubernetes.io/name":    "license-monitor",
	"app.kubernetes.io/part-of": "license-monitor",
}

func header(from string) []byte {
	return fmt.Appendf(nil, "# Generated from %s by `make deploy-generate`. Do not edit: edit the\n# sources and regenerate; a test fails when the two differ.\n", from)
}

// ruleFile is a Prometheus rule file, decoded strictly into the operator's
// own types, so that no field of alerts/ can be dropped silently.
type ruleFile struct {
	Groups []monitoringv1.RuleGroup `json:"groups"`
}

// PrometheusRule renders alerts/*.yml (in name order) as one PrometheusRule.
func PrometheusRule(root string) ([]byte, error) {
	files, err := filepath.Glob(filepath.Join(root, "alerts", "*.yml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no alerts/*.yml under %s", root)
	}
	sort.Strings(files)
	pr := monitoringv1.PrometheusRule{
		TypeMeta: metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.PrometheusRuleKind},
		ObjectMeta: metav1.ObjectMeta{
			Name:   "license-monitor",
			Labels: commonLabels,
		},
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var rf ruleFile
		if err := yaml.UnmarshalStrict(b, &rf); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(f), err)
		}
		pr.Spec.Groups = append(pr.Spec.Groups, rf.Groups...)
	}
	return render(header("alerts/*.yml"), pr)
}

// DashboardsConfigMap renders dashboards/*.json as one ConfigMap for
// Grafana's sidecar loader.
func DashboardsConfigMap(root string) ([]byte, error) {
	files, err := filepath.Glob(filepath.Join(root, "dashboards", "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no dashboards/*.json under %s", root)
	}
	labels := map[string]string{DashboardLabel: "1"}
	for k, v := range commonLabels {
		labels[k] = v
	}
	cm := corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        "license-monitor-dashboards",
			Labels:      labels,
			Annotations: map[string]string{DashboardFolderAnnot: DashboardFolder},
		},
		Data: map[string]string{},
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		cm.Data[filepath.Base(f)] = string(b)
	}
	return render(header("dashboards/*.json"), cm)
}

func render(head []byte, obj any) ([]byte, error) {
	b, err := yaml.Marshal(obj)
	if err != nil {
		return nil, err
	}
	// creationTimestamp: null is noise that kubectl ignores.
	b = bytes.Replace(b, []byte("  creationTimestamp: null\n"), nil, 1)
	return append(head, b...), nil
}

// Files maps each output file to a function that renders it.
var Files = map[string]func(root string) ([]byte, error){
	PrometheusRuleFile: PrometheusRule,
	DashboardsFile:     DashboardsConfigMap,
}
