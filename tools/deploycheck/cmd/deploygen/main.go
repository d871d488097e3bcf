// Command deploygen writes the generated Kubernetes objects of
// deploy/kubernetes/base/ from alerts/ and dashboards/ (make deploy-generate).
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/license-monitor/license-monitor/tools/deploycheck/internal/gen"
	"github.com/license-monitor/license-monitor/tools/deploycheck/internal/repo"
)

func main() {
	root := repo.Root()
	names := make([]string, 0, len(gen.Files))
	for name := range gen.Files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		b, err := gen.Files[name](root)
		if err != nil {
			fmt.Fprintln(os.Stderr, "deploygen:", err)
			os.Exit(1)
		}
		if err := os.WriteFile(filepath.Join(root, name), b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "deploygen:", err)
			os.Exit(1)
		}
		fmt.Println("wrote", name)
	}
}
