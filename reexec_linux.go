package hull

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hullbox/hull/internal/initproc"
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
	fd, err := memfdExec("hull-init")
	if err != nil {
		return nil, fmt.Errorf("copy own binary: %w", err)
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
	// ended is closed when the spawner thread has returned: after that
	// no start runs, and the sealed binary may be closed.
	ended chan struct{}
	// Warm Go inits (warm_linux.go).
	warm      warmPool
	poolsOnce sync.Once
	// Idle threads that spawn plan inits (spawnPlan) wait here; threads
	// holds a token for each such thread there is.
	clones  chan cloneRequest
	threads chan struct{}
}

// maxCloneThreads bounds the threads that spawn plan inits: past it, a
// spawn waits for a thread (each is busy only until its init execs, which
// needs no other spawn), and each costs a locked thread and a stack for
// as long as the Runtime lives.
const maxCloneThreads = 16

type spawnRequest struct {
	cmd    *exec.Cmd
	result chan spawnResult
}

type spawnResult struct {
	cmd *exec.Cmd
	err error
}

// start starts cmd on the spawner thread (startCmd) and returns the
// command that runs: cmd, or a copy of it that a retry started.
func (s *spawner) start(cmd *exec.Cmd) (*exec.Cmd, error) {
	s.once.Do(s.begin)
	r := spawnRequest{cmd: cmd, result: make(chan spawnResult, 1)}
	select {
	case s.reqs <- r:
		res := <-r.result
		return res.cmd, res.err
	case <-s.done:
		return cmd, ErrClosed
	}
}

// startCmd starts cmd, an exec of the sealed binary. That exec has failed
// now and then with EACCES while the memfd was open, executable (mode
// 0777) and sealed, and an exec of it right after worked: twice in full
// test runs, and up to once in a few hundred execs in some runs of a
// stress of goroutines that each make and exec a memfd (TestStartRetries
// is that stress; in other runs it never fails, retries or not). The
// cause, in the kernel or in the fork, is not understood. A failed
// exec.Cmd cannot start again, so a retry starts a copy, with the same
// files and streams: none of them has been used.
func startCmd(cmd *exec.Cmd) (*exec.Cmd, error) {
	for try := 1; ; try++ {
		err := cmd.Start()
		if err == nil || !errors.Is(err, unix.EACCES) {
			return cmd, err
		}
		if try == startTries {
			// Say what the sealed binary's descriptor was by then.
			l, _ := os.Readlink(cmd.Path)
			return cmd, fmt.Errorf("%w (%s is %q)", err, cmd.Path, l)
		}
		cmd = &exec.Cmd{Path: cmd.Path, Args: cmd.Args, Env: cmd.Env, Dir: cmd.Dir,
			Stdin: cmd.Stdin, Stdout: cmd.Stdout, Stderr: cmd.Stderr, ExtraFiles: cmd.ExtraFiles,
			SysProcAttr: cmd.SysProcAttr, WaitDelay: cmd.WaitDelay}
		time.Sleep(time.Duration(try) * time.Millisecond)
	}
}

// startTries bounds startCmd's tries: a lasting EACCES (a noexec memfd,
// say) is reported after them.
const startTries = 3

// cloneRequest asks a spawner thread to start a plan init (initproc.Spawn).
type cloneRequest struct {
	plan       []byte
	cloneflags uintptr
	stdio      [3]int
	cfg, stat  int
	pdeathsig  syscall.Signal
	result     chan cloneResult
}

type cloneResult struct {
	pid int
	err error
}

// spawnPlan starts a plan init on one of the spawner's clone threads and
// returns what will tell its pid and whether the clone failed, once the
// init has exec'd or exited: the thread waits until then (initproc.Spawn),
// so a thread is made whenever none is idle, up to maxCloneThreads. Like
// the spawner's own, a clone thread is locked and lives as long as the
// Runtime: the init's pdeathsig follows the thread.
func (s *spawner) spawnPlan(r cloneRequest) <-chan cloneResult {
	s.once.Do(s.begin)
	r.result = make(chan cloneResult, 1)
	select {
	case s.clones <- r:
		return r.result
	case <-s.done:
		r.result <- cloneResult{err: ErrClosed}
		return r.result
	default:
	}
	select {
	case s.clones <- r:
	case s.threads <- struct{}{}:
		go s.cloneThread(r)
	case <-s.done:
		r.result <- cloneResult{err: ErrClosed}
	}
	return r.result
}

func (s *spawner) cloneThread(r cloneRequest) {
	runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
	stack, err := initproc.NewSpawnStack()
	if err != nil {
		<-s.threads // no thread after all
		r.result <- cloneResult{err: err}
		return
	}
	defer stack.Free()
	for {
		pid, err := initproc.Spawn(stack, r.plan, r.cloneflags, r.stdio, r.cfg, r.stat, r.pdeathsig)
		r.result <- cloneResult{pid: pid, err: err}
		select {
		case r = <-s.clones:
		case <-s.done:
			return
		}
	}
}

func (s *spawner) begin() {
	s.reqs, s.clones = make(chan spawnRequest), make(chan cloneRequest)
	s.threads = make(chan struct{}, maxCloneThreads)
	if s.done == nil {
		s.done = make(chan struct{})
	}
	s.ended = make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		defer close(s.ended)
		for {
			select {
			case r := <-s.reqs:
				// select picks at random among ready cases: a request
				// that came with close must not start after it.
				select {
				case <-s.done:
					r.result <- spawnResult{r.cmd, ErrClosed}
					return
				default:
				}
				cmd, err := startCmd(r.cmd)
				r.result <- spawnResult{cmd, err}
			case <-s.done:
				return
			}
		}
	}()
}

// close ends the spawner thread, once any start in progress has returned;
// the Runtime's containers must be gone.
func (s *spawner) close() {
	s.closeWarm()
	s.stop.Do(func() {
		s.once.Do(func() {}) // a spawner never started stays unstarted
		if s.done == nil {
			s.done = make(chan struct{})
		}
		close(s.done)
	})
	if s.ended != nil {
		<-s.ended
	}
}
