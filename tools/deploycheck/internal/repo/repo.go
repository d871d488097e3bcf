// Package repo locates the License Monitor checkout that this module
// validates.
package repo

import (
	"path/filepath"
	"runtime"
)

// Root is the main module's directory (this module sits at tools/deploycheck).
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", "..", ".."))
}

// Path joins elements onto Root.
func Path(elem ...string) string {
	return filepath.Join(append([]string{Root()}, elem...)...)
}
