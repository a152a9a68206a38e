package stdio

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/hullbox/hull/internal/attach"
	"github.com/hullbox/hull/internal/initproc"
	"github.com/hullbox/hull/internal/spawn"
	"golang.org/x/sys/unix"
)

// CopyTerminal copies between a terminal's master and an exec'd
// process's streams (stdin into it; its output into stdout, nil:
// discarded), and resizes it to each {rows, cols} received on resize
// (nil: never) until the output is drained. copied is done when the output
// is drained (the master reads EIO once the process and its children
// closed the slave).
func CopyTerminal(master *os.File, stdin io.Reader, stdout io.Writer, resize <-chan [2]uint16, copied *sync.WaitGroup) {
	if stdin != nil {
		go func() { _, _ = io.Copy(master, stdin) }()
	}
	out := stdout
	if out == nil {
		out = io.Discard
	}
	copied.Add(1)
	go func() {
		defer copied.Done()
		_, _ = io.Copy(out, master)
	}()
	if resize != nil {
		done := make(chan struct{})
		go func() {
			copied.Wait()
			close(done)
		}()
		go func() {
			for {
				select {
				case sz, ok := <-resize:
					if !ok {
						return
					}
					attach.ResizeTerminal(master, sz[0], sz[1])
				case <-done:
					return
				}
			}
		}()
	}
}

// InPipe feeds a child's stdin from a reader: the child gets R; a
// goroutine copies the reader into the pipe until it ends (then the child
// reads EOF) or Close. Unlike exec.Cmd's own copy, Wait never waits for
// it: the reader (a terminal, say) may never end, and docker exec -i
// returns when the process exits all the same. The goroutine ends at the
// reader's next read.
type InPipe struct {
	R    *os.File // the child's end: close it once the child started
	w    *os.File
	once sync.Once
}

// NewInPipe starts copying src into a new pipe.
func NewInPipe(src io.Reader) (*InPipe, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p := &InPipe{R: r, w: w}
	go func() {
		_, _ = io.Copy(w, src)
		p.Close()
	}()
	return p, nil
}

// Close closes our end: the child reads EOF.
func (p *InPipe) Close() error {
	p.once.Do(func() { p.w.Close() })
	return nil
}

// Exec is what starting an exec's helper (initproc.CompileExec) takes:
// the pipes and streams of a spawn.Launch, the terminal's socket, and the
// copies of the command's output.
type Exec struct {
	L       *spawn.Launch
	Console *os.File   // our end of the terminal's socket, or nil
	child   []*os.File // the helper's ends, ours to close once it holds them
	ours    []io.Closer
	outputs []*os.File // the read ends of the command's stdout and stderr
	copied  sync.WaitGroup
}

// NewExec makes the pipes and streams of an exec: a terminal's socket
// with tty (stdin and stdout then go through the terminal, CopyTerminal);
// else pipes, never the caller's descriptors: a host
// file given as stdout would be reachable from the container through
// /proc/<pid>/fd/1 (read, seek, append), as `docker exec >> f` never
// allows.
func NewExec(stdin io.Reader, stdout, stderr io.Writer, tty bool) (x *Exec, retErr error) {
	x = &Exec{}
	defer func() {
		if retErr != nil {
			x.Started()
			x.Close()
		}
	}()
	// pipe makes a pipe whose write end is the helper's.
	pipe := func() (r, w *os.File, err error) {
		if r, w, err = os.Pipe(); err == nil {
			x.ours, x.child = append(x.ours, r), append(x.child, w)
		}
		return r, w, err
	}
	cfgR, cfgW, err := os.Pipe() // the helper reads this one
	if err != nil {
		return nil, err
	}
	x.ours, x.child = append(x.ours, cfgW), append(x.child, cfgR)
	statR, statW, err := pipe()
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{ExtraFiles: []*os.File{cfgR, statW}, SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}}
	x.L = &spawn.Launch{Cmd: cmd, CfgR: cfgR, CfgW: cfgW, StatR: statR, StatW: statW,
		Status: bufio.NewReader(statR), Copied: &x.copied}
	if tty {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		x.Console = os.NewFile(uintptr(fds[0]), "console")
		x.ours = append(x.ours, x.Console)
		child := os.NewFile(uintptr(fds[1]), "console-child")
		x.child = append(x.child, child)
		cmd.ExtraFiles = append(cmd.ExtraFiles, child) // initproc.ConsoleFD
		return x, nil
	}
	for i, w := range []io.Writer{stdout, stderr} {
		if w == nil {
			continue // /dev/null
		}
		if i == 1 && sameWriter(stdout, stderr) {
			// One pipe for both, as os/exec does: two copies into one
			// writer would race.
			cmd.Stderr = cmd.Stdout
			break
		}
		r, cw, err := pipe()
		if err != nil {
			return nil, err
		}
		if i == 0 {
			cmd.Stdout = cw
		} else {
			cmd.Stderr = cw
		}
		x.outputs = append(x.outputs, r)
		x.copied.Add(1)
		go func() {
			defer x.copied.Done()
			_, _ = io.Copy(w, r)
		}()
	}
	if stdin != nil {
		in, err := NewInPipe(stdin)
		if err != nil {
			return nil, err
		}
		x.ours = append(x.ours, in) // EOF for the container once we are done
		x.child = append(x.child, in.R)
		cmd.Stdin = in.R
	}
	return x, nil
}

// sameWriter reports whether a and b are the same writer (false for
// writers of a type that cannot be compared).
func sameWriter(a, b io.Writer) (same bool) {
	defer func() { _ = recover() }()
	return a == b
}

// Started closes the helper's ends of the pipes, which it holds by now
// (or never will).
func (x *Exec) Started() {
	for _, f := range x.child {
		f.Close()
	}
	x.child = nil
}

// OutputDelay is how long the copies of an exec's output may go on once
// the command has exited: a process it left behind may hold them open
// (os/exec's WaitDelay).
const OutputDelay = time.Second

// WaitOutput waits for the copies of the command's output, for up to
// OutputDelay.
func (x *Exec) WaitOutput() {
	WaitBounded(&x.copied, OutputDelay, func() {
		for _, r := range x.outputs {
			r.Close() // ends the copy
		}
	})
}

// Close closes our ends of everything, once the copies of the output
// have ended.
func (x *Exec) Close() {
	x.WaitOutput()
	for _, f := range x.ours {
		f.Close()
	}
}

// Next reads the exec helper's next report, worded (a plan's failures
// have no words), giving up when ctx ends; io.EOF once the command has
// exec'd and the helper is gone.
func (x *Exec) Next(ctx context.Context, plan []byte) (initproc.Message, error) {
	stop := context.AfterFunc(ctx, func() { _ = x.L.StatR.SetReadDeadline(time.Now()) })
	defer stop()
	m, err := initproc.ReadMessage(x.L.Status)
	if err != nil && ctx.Err() != nil {
		return m, ctx.Err()
	}
	return initproc.Word(plan, m), err
}

// WaitBounded waits for wg, for up to d; then calls stop and waits on.
func WaitBounded(wg *sync.WaitGroup, d time.Duration, stop func()) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
		stop()
		<-done
	}
}

// ExecRun is what Exec.Run needs besides the pipes.
type ExecRun struct {
	Plan   []byte                                   // the helper's plan (initproc.CompileExec)
	NS     *os.File                                 // the container init's pidfd; Run closes it
	Start  func(*spawn.Launch) (*os.Process, error) // starts the helper (spawn.Spawner.StartPlan)
	MoveIn func(pid int) error                      // puts the helper into the container's cgroup
	Failed func(initproc.Message) error             // words the helper's failure report
	Stdin  io.Reader                                // with a terminal: copied into it
	Stdout io.Writer                                // with a terminal: its output
	Stderr io.Writer                                // where a failure is told, as docker exec
	Resize <-chan [2]uint16                         // the terminal's sizes
	// Gone, if set, tells why a helper that failed before the fork did:
	// an error (the container is no longer running) is returned as the
	// exec's, instead of Docker's exit code for a failed start.
	Gone func() error
}

// Run starts an exec's helper, lets it clone the command's process and
// waits for that process: its exit code (128+n if killed by signal n, and
// Docker's 126/127 codes when it could not be run, with the reason on
// Stderr). Cancelling ctx kills the command.
//
// The helper exits once its child, the command's process, has exec'd or
// died; the child is our own child (CLONE_PARENT). On a failure the child
// goes first: while it lives, its helper must (the child shares our memory
// until it execs: the helper's wait is what keeps the kernel from taking
// it for a process of its own, and a container can stop it). The child's
// pid is the one the kernel wrote into our memory at the clone
// (initproc.ForkSlot), never one a message says: the container may reach
// the pipe.
func (x *Exec) Run(ctx context.Context, r ExecRun) (_ int, retErr error) {
	fork := initproc.NewForkSlot()
	x.L.NS, x.L.Fork = r.NS, fork
	helper, err := r.Start(x.L)
	x.Started()
	r.NS.Close()
	if err != nil {
		fork.Free()
		return 0, fmt.Errorf("start: %w", err)
	}
	var cmd *os.Process // the command's
	reaped := false     // cmd was waited for: its pid may be another's now
	defer func() {
		if retErr != nil && !reaped {
			if cmd == nil {
				cmd, _ = findChild(fork.Pid()) // unreaped: still ours
			}
			if cmd != nil {
				_ = cmd.Kill()
				_, _ = cmd.Wait()
			}
			_ = helper.Kill()
		}
		_, _ = helper.Wait()
		fork.Free() // the helper is gone: no clone can write it now
	}()
	// The helper joins the container's cgroup namespace once it is in
	// the cgroup, where its child is born.
	initproc.Trace("P exec helper cloned")
	if err := r.MoveIn(helper.Pid); err != nil {
		return 0, fmt.Errorf("join cgroup: %w", err)
	}
	initproc.Trace("P exec helper in its cgroup")
	if _, err := x.L.CfgW.Write([]byte{1}); err != nil { // go (initproc.Spawn)
		return 0, fmt.Errorf("start: %w", err)
	}
	x.L.CfgW.Close()
	var copied sync.WaitGroup
	var master *os.File
	if x.Console != nil {
		if master, err = initproc.RecvConsole(ctx, x.Console); err != nil {
			if m, merr := x.Next(ctx, r.Plan); merr == nil && m.Type == "error" {
				err = r.Failed(m)
			}
			return 0, fmt.Errorf("terminal: %w", err)
		}
		defer master.Close()
		CopyTerminal(master, r.Stdin, r.Stdout, r.Resize, &copied)
	}
	// The helper reports any failure of its own or of its child before the
	// exec; the pipe ends when the child has exec'd and the helper exited.
	var failed *initproc.Message
	for {
		m, err := x.Next(ctx, r.Plan)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		if m.Type == "error" {
			failed = &m
		}
	}
	initproc.Trace("P exec forked")
	// As docker exec: the reason on stderr (the terminal's output with
	// one), once the copies into that writer are done, and the exit code
	// Docker's.
	tell := func() {
		w := r.Stderr
		if w == nil {
			w = r.Stdout
		}
		if failed != nil && w != nil {
			fmt.Fprintf(w, "hull: %s: %s\n", failed.Stage, failed.Message)
		}
	}
	// drain waits for the copies of the output: a process the command
	// left may hold its pipes or terminal open, at most OutputDelay
	// each, then they are closed.
	drain := func() {
		x.WaitOutput()
		WaitBounded(&copied, OutputDelay, func() {
			if master != nil {
				master.Close()
			}
		})
	}
	if cmd, err = findChild(fork.Pid()); err != nil {
		return 0, err
	}
	if cmd == nil {
		// The helper failed before the fork.
		ps, err := helper.Wait()
		if err != nil {
			return 0, err
		}
		if failed == nil {
			return 0, fmt.Errorf("exec helper ended before the command started (%s)", ps)
		}
		if r.Gone != nil {
			if err := r.Gone(); err != nil {
				return 0, err // the container went meanwhile: not the command's failure
			}
		}
		drain()
		tell()
		return exitCode(ps), nil
	}
	waited := make(chan *os.ProcessState, 1)
	go func() {
		ps, _ := cmd.Wait()
		waited <- ps
	}()
	initproc.Trace("P exec running")
	var ps *os.ProcessState
	select {
	case ps = <-waited:
	case <-ctx.Done():
		_ = cmd.Kill()
		<-waited
		reaped = true
		return 0, ctx.Err()
	}
	reaped = true
	drain()
	tell()
	if ps == nil {
		return 0, errors.New("exec: the command's status is lost")
	}
	return exitCode(ps), nil
}

// findChild returns our child pid (nil for 0): an exec's command.
func findChild(pid int) (*os.Process, error) {
	if pid <= 0 {
		return nil, nil
	}
	return os.FindProcess(pid)
}

// exitCode is a process's exit code as a shell gives it: 128+n when
// signal n killed it.
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
