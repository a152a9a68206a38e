package spawn

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/hullbox/hull/internal/initproc"
	"golang.org/x/sys/unix"
)

// ErrClosed is the error of a start asked of a Spawner after Close.
var ErrClosed = errors.New("runtime closed")

// Spawner starts container inits from one OS thread that lives as long as
// the Runtime (the zero Spawner is ready; the thread starts on first
// use). Pdeathsig fires when the *thread* that forked a child
// exits, not the process (golang/go#27505): forking from whatever thread
// the caller's goroutine is on would kill its containers if that goroutine
// was locked to its thread and then ended.
type Spawner struct {
	once sync.Once
	reqs chan spawnRequest
	done chan struct{}
	stop sync.Once
	// ended is closed when the Spawner thread has returned: after that
	// no start runs, and the sealed binary may be closed.
	ended chan struct{}
	// Warm Go inits (warm_linux.go).
	warm      warmPool
	poolsOnce sync.Once
	// Warm Detached shims (warmshim_linux.go).
	shims shimPool
	// Idle threads that spawn plan inits (SpawnPlan) wait here; threads
	// holds a token for each such thread there is.
	clones  chan PlanRequest
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

// Start starts cmd on the Spawner thread (startCmd) and returns the
// command that runs: cmd, or a copy of it that a retry started.
func (s *Spawner) Start(cmd *exec.Cmd) (*exec.Cmd, error) {
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
		time.Sleep(time.Millisecond << (try - 1)) // 1, 2, 4, 8, 16 ms
	}
}

// startTries bounds startCmd's tries: a lasting EACCES (a noexec memfd,
// say) is reported after them (31 ms of waits in all).
const startTries = 6

// PlanRequest asks a spawner thread to start a plan init (initproc.Spawn).
type PlanRequest struct {
	Plan       []byte             // the compiled plan (initproc.Compile)
	Cloneflags uintptr            // the namespaces to make
	Stdio      [3]int             // the init's stdin, stdout, stderr; -1: /dev/null
	Cfg, Stat  int                // the config and status pipes' child ends
	Console    int                // the socket a terminal's master is sent on; -1: none
	NS         int                // a pidfd whose namespaces an exec joins; -1: none
	Fork       *initproc.ForkSlot // where an exec's child's pid goes, or nil
	Pdeathsig  syscall.Signal     // sent to the init when the thread that cloned it ends
	result     chan PlanResult
}

// PlanResult is what became of a PlanRequest, once its init has exec'd
// or exited: its pid (0 if the clone failed) and the clone's error.
type PlanResult struct {
	Pid int
	Err error
}

// SpawnPlan starts a plan init on one of the Spawner's clone threads and
// returns what will tell its pid and whether the clone failed, once the
// init has exec'd or exited: the thread waits until then (initproc.Spawn),
// so a thread is made whenever none is idle, up to maxCloneThreads. Like
// the Spawner's own, a clone thread is locked and lives as long as the
// Runtime: the init's pdeathsig follows the thread.
func (s *Spawner) SpawnPlan(r PlanRequest) <-chan PlanResult {
	s.once.Do(s.begin)
	r.result = make(chan PlanResult, 1)
	select {
	case s.clones <- r:
		return r.result
	case <-s.done:
		r.result <- PlanResult{Err: ErrClosed}
		return r.result
	default:
	}
	select {
	case s.clones <- r:
	case s.threads <- struct{}{}:
		go s.cloneThread(r)
	case <-s.done:
		r.result <- PlanResult{Err: ErrClosed}
	}
	return r.result
}

func (s *Spawner) cloneThread(r PlanRequest) {
	runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
	stack, err := initproc.NewSpawnStack()
	if err != nil {
		<-s.threads // no thread after all
		r.result <- PlanResult{Err: err}
		return
	}
	defer stack.Free()
	for {
		pid, err := initproc.Spawn(stack, r.Plan, r.Cloneflags, r.Stdio, r.Cfg, r.Stat, r.Console, r.NS, r.Pdeathsig, r.Fork)
		r.result <- PlanResult{Pid: pid, Err: err}
		select {
		case r = <-s.clones:
		case <-s.done:
			return
		}
	}
}

func (s *Spawner) begin() {
	s.reqs, s.clones = make(chan spawnRequest), make(chan PlanRequest)
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

// close ends the Spawner thread, once any start in progress has returned;
// the Runtime's containers must be gone.
func (s *Spawner) Close() {
	s.warm.close()
	s.shims.close()
	s.stop.Do(func() {
		s.once.Do(func() {}) // a Spawner never started stays unstarted
		if s.done == nil {
			s.done = make(chan struct{})
		}
		close(s.done)
	})
	if s.ended != nil {
		<-s.ended
	}
}
