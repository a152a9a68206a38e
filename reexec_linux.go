package hull

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// execFile is a sealed in-memory copy of this program's binary, which every
// container init is started from (docs/containers.md, "Re-exec safety"): a
// process in a container that opens /proc/<init>/exe reaches this copy,
// which cannot be written, never the binary on the host.
type execFile struct{ f *os.File }

// path is what to exec: the memfd through our own fd table. The child
// resolves it before close-on-exec closes its copy of the fd.
func (e *execFile) path() string { return "/proc/self/fd/" + strconv.Itoa(int(e.f.Fd())) }

func (e *execFile) close() error { return e.f.Close() }

func newExecFile() (*execFile, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("copy own binary: %w", err)
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("hull-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("copy own binary: memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "memfd:hull-init")
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
	return &execFile{f: f}, nil
}

// initExe returns the Runtime's sealed binary, made on first use.
func (rt *Runtime) initExe() (*execFile, error) {
	rt.ctrs.exeOnce.Do(func() { rt.ctrs.exe, rt.ctrs.exeErr = newExecFile() })
	return rt.ctrs.exe, rt.ctrs.exeErr
}

// spawner starts container inits from one OS thread that lives as long as
// the Runtime. Pdeathsig fires when the *thread* that forked a child
// exits, not the process (golang/go#27505): forking from whatever thread
// the caller's goroutine is on would kill its containers if that goroutine
// was locked to its thread and then ended.
type spawner struct {
	once sync.Once
	reqs chan spawnRequest
	done chan struct{}
	stop sync.Once
	// Warm inits (warm_linux.go): Go ones and plan.c's.
	warm, warmPlan warmPool
	poolsOnce      sync.Once
}

type spawnRequest struct {
	cmd    *exec.Cmd
	result chan error
}

func (s *spawner) start(cmd *exec.Cmd) error {
	s.once.Do(func() {
		s.reqs = make(chan spawnRequest)
		if s.done == nil {
			s.done = make(chan struct{})
		}
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			for {
				select {
				case r := <-s.reqs:
					r.result <- r.cmd.Start()
				case <-s.done:
					return
				}
			}
		}()
	})
	r := spawnRequest{cmd: cmd, result: make(chan error, 1)}
	select {
	case s.reqs <- r:
		return <-r.result
	case <-s.done:
		return ErrClosed
	}
}

// close ends the spawner thread; the Runtime's containers must be gone.
func (s *spawner) close() {
	s.closeWarm()
	s.stop.Do(func() {
		s.once.Do(func() {}) // a spawner never started stays unstarted
		if s.done == nil {
			s.done = make(chan struct{})
		}
		close(s.done)
	})
}
