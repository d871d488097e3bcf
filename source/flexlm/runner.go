package flexlm

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/license-monitor/license-monitor/source"
)

// runner runs lmutil: never through a shell, with a minimal environment,
// in its own process group that is killed whole when the poll's deadline
// passes or the output grows past the limit.
type runner struct {
	lmutil   string // a path, or a name looked up on PATH
	env      []string
	maxBytes int64
}

// waitDelay bounds how long a run waits, after lmutil exits, for a
// child that still holds its output open.
const waitDelay = time.Second

// newEnv is lmutil's whole environment. Nothing else of the exporter's
// is passed: LM_LICENSE_FILE, vendor *_LICENSE_FILE variables and any
// credential stay out. TZ is the configured zone, so the start times
// lmutil prints are in the zone the parser reads them in.
func newEnv(tz string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
	if tz != "" {
		env = append(env, "TZ="+tz)
	}
	return env
}

var errTooLarge = errors.New("output over the size limit")

// capWriter keeps at most max bytes and calls over once past them.
type capWriter struct {
	buf  bytes.Buffer
	max  int64
	over func()
	full bool
}

func (w *capWriter) Write(b []byte) (int, error) {
	if w.full {
		return 0, errTooLarge
	}
	if int64(w.buf.Len())+int64(len(b)) > w.max {
		w.full = true
		w.over()
		return 0, errTooLarge
	}
	return w.buf.Write(b)
}

// run runs lmutil with args and returns its standard output. op names the
// call in errors. A non-zero exit is returned as exitErr with the output,
// for the caller to judge: lmstat exits non-zero when a server is down
// yet may have printed the others' status.
func (r *runner) run(ctx context.Context, op string, args ...string) (out []byte, exitErr error, err error) {
	if ctx.Err() != nil {
		return nil, nil, &source.Error{Reason: source.ReasonTimeout, Op: op, Detail: "the poll's timeout passed before lmutil started"}
	}
	path, err := r.resolve(op)
	if err != nil {
		return nil, nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(runCtx, path, args...)
	cmd.Env = r.env
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The whole group: lmutil's children die with it.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	w := &capWriter{max: r.maxBytes, over: cancel}
	cmd.Stdout = w
	// Standard error is not kept: it may name license files and paths.
	if err := cmd.Start(); err != nil {
		if ctx.Err() != nil {
			return nil, nil, &source.Error{Reason: source.ReasonTimeout, Op: op, Detail: "the poll's timeout passed before lmutil started"}
		}
		return nil, nil, r.startError(op, path, err)
	}
	waitErr := cmd.Wait()
	// Anything left in the group (a child that outlived lmutil) goes too.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	switch {
	case w.full:
		return nil, nil, &source.Error{Reason: source.ReasonTooLarge, Op: op, Detail: fmt.Sprintf("lmutil's output is larger than max_response_bytes (%d)", r.maxBytes)}
	case ctx.Err() != nil:
		return nil, nil, &source.Error{Reason: source.ReasonTimeout, Op: op, Detail: "lmutil did not finish within the poll's timeout; its process group was killed"}
	}
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		return w.buf.Bytes(), fmt.Errorf("lmutil exited with %s", ee.ProcessState), nil
	}
	if waitErr != nil && !errors.Is(waitErr, exec.ErrWaitDelay) {
		return nil, nil, &source.Error{Reason: source.ReasonConnection, Op: op, Detail: "running lmutil: " + shorten(waitErr.Error())}
	}
	return w.buf.Bytes(), nil, nil
}

// resolve finds lmutil, on PATH when it is a bare name.
func (r *runner) resolve(op string) (string, error) {
	if strings.ContainsRune(r.lmutil, '/') {
		return r.lmutil, nil
	}
	path, err := exec.LookPath(r.lmutil)
	if err != nil {
		return "", configError(op, fmt.Sprintf("%s was not found on PATH", r.lmutil))
	}
	return path, nil
}

// startError explains why lmutil did not start, in the words of
// CheckLmutil (a missing loader shows as "no such file" from exec).
func (r *runner) startError(op, path string, err error) error {
	if cerr := CheckLmutil(path); cerr != nil {
		return configError(op, cerr.Error())
	}
	return configError(op, "lmutil did not start: "+shorten(root(err).Error()))
}

// configError is lmutil missing, not executable or not loadable. It is a
// problem of the exporter's host, not of the license server, so it takes
// the reason the poller treats as a configuration problem (the next poll
// waits a full interval) rather than "connection": docs/architecture.md
// explains the choice.
func configError(op, detail string) error {
	return &source.Error{Reason: source.ReasonHTTP4xx, Op: op, Detail: detail}
}

// CheckLmutil reports, in plain words, why lmutil (a path or a name on
// PATH) cannot run: missing, not a regular file, not executable, or an
// ELF program whose loader (PT_INTERP, e.g. the LSB loader
// /lib64/ld-lsb-x86-64.so.3) is not installed. nil when it looks
// runnable. For --config.check.
func CheckLmutil(lmutil string) error {
	path := lmutil
	if !strings.ContainsRune(lmutil, '/') {
		p, err := exec.LookPath(lmutil)
		if err != nil {
			var ee *exec.Error
			if errors.As(err, &ee) && errors.Is(ee.Err, exec.ErrNotFound) {
				return fmt.Errorf("lmutil %q was not found on PATH", lmutil)
			}
			return fmt.Errorf("lmutil %q: %v", lmutil, root(err))
		}
		path = p
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("lmutil %s does not exist", path)
	case err != nil:
		return fmt.Errorf("lmutil %s: %v", path, root(err))
	case !fi.Mode().IsRegular():
		return fmt.Errorf("lmutil %s is not a regular file", path)
	case fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("lmutil %s is not executable (mode %s)", path, fi.Mode().Perm())
	}
	if err := syscall.Access(path, 1); err != nil { // X_OK, for this user
		return fmt.Errorf("lmutil %s is not executable by this user", path)
	}
	return checkLoader(path)
}

// checkLoader reads an ELF program's PT_INTERP and checks the loader it
// names exists. A file that is not ELF (a script) is left to the kernel.
func checkLoader(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, min(prog.Filesz, 4096))
		if _, err := prog.ReadAt(b, 0); err != nil {
			return fmt.Errorf("lmutil %s: cannot read its ELF loader's name", path)
		}
		interp := string(bytes.TrimRight(b, "\x00"))
		if _, err := os.Stat(interp); err != nil {
			hint := ""
			if strings.Contains(filepath.Base(interp), "lsb") {
				hint = " (the LSB loader: install the distribution's lsb package, or link it to the system's loader)"
			}
			return fmt.Errorf("lmutil %s needs the ELF loader %s, which is missing%s", path, interp, hint)
		}
	}
	return nil
}

// root unwraps to the innermost error, whose text names no path.
func root(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}
