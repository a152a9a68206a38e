package spawn

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Exe is a sealed in-memory copy of this program's binary, which every
// container init is started from (docs/containers.md, "Re-exec safety"): a
// process in a container that opens /proc/<init>/exe reaches this copy,
// which cannot be written, never the binary on the host.
type Exe struct{ f *os.File }

// Path is what to exec: the memfd through our own fd table. The child
// resolves it before close-on-exec closes its copy of the fd.
func (e *Exe) Path() string { return "/proc/self/fd/" + strconv.Itoa(int(e.f.Fd())) }

// Close closes the memfd; inits started from it keep running.
func (e *Exe) Close() error { return e.f.Close() }

// ExeName is the sealed copy's memfd name: /proc/<pid>/exe of a process
// running it (an init before it execs its command) reads
// "/memfd:hull-init (deleted)".
const ExeName = "hull-init"

// RunsExe reports whether process pid runs the sealed copy, from
// /proc/<pid>/exe; known is false if that cannot be read (pid is gone).
func RunsExe(pid int) (runs, known bool) {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	return err == nil && exe == "/memfd:"+ExeName+" (deleted)", err == nil
}

// NewExe copies /proc/self/exe into a sealed, executable memfd.
func NewExe() (*Exe, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("copy own binary: %w", err)
	}
	defer src.Close()
	fd, err := memfdExec(ExeName)
	if err != nil {
		return nil, fmt.Errorf("copy own binary: %w", err)
	}
	f := os.NewFile(uintptr(fd), "memfd:"+ExeName)
	if fi, err := src.Stat(); err == nil {
		// Size it first so the copy does not grow the file page by page.
		_ = f.Truncate(fi.Size())
	}
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return nil, fmt.Errorf("copy own binary: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("copy own binary: seal: %w", err)
	}
	return &Exe{f: f}, nil
}

// memfdExec makes a sealable memfd that can be executed. Linux 6.3 added
// vm.memfd_noexec: at 1 a memfd made without MFD_EXEC is silently sealed
// against exec (every init would then fail with EACCES), at 2 MFD_EXEC is
// refused. Older kernels reject the flag they do not know with EINVAL.
func memfdExec(name string) (int, error) {
	flags := unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING
	fd, err := unix.MemfdCreate(name, flags|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		fd, err = unix.MemfdCreate(name, flags)
	}
	switch {
	case errors.Is(err, unix.EACCES):
		return -1, fmt.Errorf("memfd_create: executable memfds are forbidden here (sysctl vm.memfd_noexec=2 in this PID namespace): %w", err)
	case err != nil:
		return -1, fmt.Errorf("memfd_create: %w", err)
	}
	return fd, nil
}
