package dashboards

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The keys of Grafana's provisioning files (apiVersion 1), as documented in
// "Provision Grafana". Decoding with KnownFields makes a misspelt key,
// which Grafana would ignore without a word, fail here.
type datasourcesFile struct {
	APIVersion  int `yaml:"apiVersion"`
	Datasources []struct {
		Name           string         `yaml:"name"`
		UID            string         `yaml:"uid"`
		Type           string         `yaml:"type"`
		Access         string         `yaml:"access"`
		OrgID          int            `yaml:"orgId"`
		URL            string         `yaml:"url"`
		IsDefault      bool           `yaml:"isDefault"`
		Editable       bool           `yaml:"editable"`
		BasicAuth      bool           `yaml:"basicAuth"`
		BasicAuthUser  string         `yaml:"basicAuthUser"`
		JSONData       map[string]any `yaml:"jsonData"`
		SecureJSONData map[string]any `yaml:"secureJsonData"`
		Version        int            `yaml:"version"`
	} `yaml:"datasources"`
}

type dashboardsFile struct {
	APIVersion int `yaml:"apiVersion"`
	Providers  []struct {
		Name                  string `yaml:"name"`
		OrgID                 int    `yaml:"orgId"`
		Folder                string `yaml:"folder"`
		FolderUID             string `yaml:"folderUid"`
		Type                  string `yaml:"type"`
		DisableDeletion       bool   `yaml:"disableDeletion"`
		AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
		UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
		Options               struct {
			Path                      string `yaml:"path"`
			FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

var provisioningDir = filepath.Join(repoRoot, "deploy", "grafana", "provisioning")

func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestProvisioningDatasource(t *testing.T) {
	var f datasourcesFile
	decodeStrict(t, filepath.Join(provisioningDir, "datasources", "license-monitor.yml"), &f)
	if f.APIVersion != 1 || len(f.Datasources) != 1 {
		t.Fatalf("want apiVersion 1 and one data source: %+v", f)
	}
	ds := f.Datasources[0]
	// The dashboards' datasource variable lists data sources of this type.
	if ds.Type != "prometheus" || ds.URL == "" || ds.Name == "" || ds.UID == "" {
		t.Errorf("data source %+v: want a named prometheus with a uid and a url", ds)
	}
	if ds.Access != "proxy" {
		t.Errorf("access %q: want proxy, so the browser needs no route to Prometheus", ds.Access)
	}
}

func TestProvisioningDashboardProvider(t *testing.T) {
	var f dashboardsFile
	decodeStrict(t, filepath.Join(provisioningDir, "dashboards", "license-monitor.yml"), &f)
	if f.APIVersion != 1 || len(f.Providers) != 1 {
		t.Fatalf("want apiVersion 1 and one provider: %+v", f)
	}
	p := f.Providers[0]
	if p.Type != "file" || !filepath.IsAbs(p.Options.Path) || p.Name == "" {
		t.Errorf("provider %+v: want a named file provider with an absolute path", p)
	}
}
