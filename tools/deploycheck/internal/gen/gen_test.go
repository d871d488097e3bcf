package gen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestPrometheusRuleKeepsEveryField(t *testing.T) {
	root := writeTree(t, map[string]string{
		"alerts/b.yml": "groups:\n  - name: b\n    rules:\n      - alert: B\n        expr: up == 0\n        for: 5m\n        keep_firing_for: 10m\n        labels: {severity: critical}\n        annotations: {summary: down}\n",
		"alerts/a.yml": "groups:\n  - name: a\n    interval: 30s\n    rules:\n      - record: a:up:sum\n        expr: sum(up)\n",
	})
	b, err := PrometheusRule(root)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Kind string
		Spec struct {
			Groups []map[string]any
		}
	}
	if err := yaml.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Kind != "PrometheusRule" || len(got.Spec.Groups) != 2 {
		t.Fatalf("got %s with %d groups:\n%s", got.Kind, len(got.Spec.Groups), b)
	}
	// Files in name order; every field carried over.
	if got.Spec.Groups[0]["name"] != "a" || got.Spec.Groups[0]["interval"] != "30s" {
		t.Errorf("first group: %v", got.Spec.Groups[0])
	}
	for _, want := range []string{"keep_firing_for: 10m", "for: 5m", "severity: critical", "summary: down", "record: a:up:sum"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("generated rule lacks %q:\n%s", want, b)
		}
	}
}

func TestPrometheusRuleRefusesUnknownFields(t *testing.T) {
	root := writeTree(t, map[string]string{
		"alerts/a.yml": "groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up == 0\n        fro: 5m\n",
	})
	if _, err := PrometheusRule(root); err == nil || !strings.Contains(err.Error(), "fro") {
		t.Errorf("want an error naming the unknown field, got %v", err)
	}
}

func TestDashboardsConfigMap(t *testing.T) {
	root := writeTree(t, map[string]string{
		"dashboards/x.json":   `{"uid": "x"}`,
		"dashboards/y.json":   `{"uid": "y"}`,
		"dashboards/notes.md": "not a dashboard",
	})
	b, err := DashboardsConfigMap(root)
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Metadata struct {
			Labels      map[string]string
			Annotations map[string]string
		}
		Data map[string]string
	}
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatal(err)
	}
	if len(cm.Data) != 2 || cm.Data["x.json"] != `{"uid": "x"}` {
		t.Errorf("data: %v", cm.Data)
	}
	if cm.Metadata.Labels[DashboardLabel] != "1" || cm.Metadata.Annotations[DashboardFolderAnnot] != DashboardFolder {
		t.Errorf("labels %v, annotations %v", cm.Metadata.Labels, cm.Metadata.Annotations)
	}
}

func TestEmptySourcesAreErrors(t *testing.T) {
	root := t.TempDir()
	if _, err := PrometheusRule(root); err == nil {
		t.Error("no alerts/*.yml should be an error, not an empty rule")
	}
	if _, err := DashboardsConfigMap(root); err == nil {
		t.Error("no dashboards/*.json should be an error, not an empty ConfigMap")
	}
}
