// Command dashgen writes the project's Grafana dashboards as JSON.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/license-monitor/license-monitor/tools/dashboards"
)

func main() {
	out := flag.String("out", "dashboards", "directory to write the dashboard JSON files into")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "dashgen:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, f := range dashboards.Files() {
		data, err := dashboards.Render(f.Build)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		if err := os.WriteFile(filepath.Join(out, f.Name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
