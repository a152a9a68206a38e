package stdio

import (
	"bufio"
	"context"
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
