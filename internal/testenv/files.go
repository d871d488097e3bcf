package testenv

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// GunzipOne decodes exactly one gzip member, checking its CRC and length,
// and fails on anything after it: the exposition is one spliced member.
func GunzipOne(t testing.TB, b []byte) []byte {
	t.Helper()
	br := bytes.NewReader(b)
	zr, err := gzip.NewReader(br)
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gzip body: %v", err)
	}
	if br.Len() != 0 {
		t.Fatalf("%d bytes after the gzip member", br.Len())
	}
	return out
}

// LSBLoader is the loader Flexera's lmutil asks for, which most machines
// (this one included) lack.
const LSBLoader = "/lib64/ld-lsb-x86-64.so.3"

// LSBProgram copies a dynamically linked system program into dir as
// lmutil-lsb with its PT_INTERP pointed at LSBLoader, so it cannot start:
// lmutil as a host without the LSB loader sees it. "" when the machine has
// the loader or no such program.
func LSBProgram(t testing.TB, dir string) string {
	t.Helper()
	if _, err := os.Stat(LSBLoader); err == nil {
		return ""
	}
	for _, src := range []string{"/bin/true", "/usr/bin/true", "/bin/ls"} {
		f, err := elf.Open(src)
		if err != nil {
			continue
		}
		var off, size uint64
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				off, size = p.Off, p.Filesz
			}
		}
		f.Close()
		if size <= uint64(len(LSBLoader)) {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			continue
		}
		interp := make([]byte, size)
		copy(interp, LSBLoader)
		copy(b[off:off+size], interp)
		dst := filepath.Join(dir, "lmutil-lsb")
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	return ""
}
