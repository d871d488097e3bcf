//go:build !linux

package sidecar

import "os"

// memFile is, off Linux, a private temporary file (memfile_linux.go keeps
// it in memory).
type memFile struct{ path string }

func newMemFile(b []byte) (*memFile, error) {
	f, err := os.CreateTemp("", "license_sidecar-web-config-*.yml")
	if err != nil {
		return nil, err
	}
	m := &memFile{path: f.Name()}
	_ = f.Close()
	return m, m.replace(b)
}

// replace writes a new file and renames it over the old one, atomically.
func (m *memFile) replace(b []byte) error {
	tmp := m.path + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, m.path)
}

func (m *memFile) close() error { return os.Remove(m.path) }
