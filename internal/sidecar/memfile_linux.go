package sidecar

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// memFile is a file that lives only in memory (memfd), named by a path
// others can open: the web config copy for exporter-toolkit, which needs
// no writable directory (the Kubernetes deployment's root is read-only).
type memFile struct {
	fd   int
	path string
}

func newMemFile(b []byte) (*memFile, error) {
	fd, err := memfdWith(b)
	if err != nil {
		return nil, err
	}
	return &memFile{fd: fd, path: fmt.Sprintf("/proc/self/fd/%d", fd)}, nil
}

func memfdWith(b []byte) (int, error) {
	fd, err := unix.MemfdCreate("license_sidecar-web-config", unix.MFD_CLOEXEC)
	if err != nil {
		return -1, err
	}
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err != nil {
			_ = unix.Close(fd)
			return -1, err
		}
		b = b[n:]
	}
	return fd, nil
}

// replace swaps the content at once: a reader sees the old file or the
// new one, never a half-written one.
func (m *memFile) replace(b []byte) error {
	fd, err := memfdWith(b)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Dup3(fd, m.fd, unix.O_CLOEXEC)
}

func (m *memFile) close() error { return unix.Close(m.fd) }
