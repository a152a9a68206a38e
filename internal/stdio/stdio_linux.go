package stdio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/hullbox/hull/internal/attach"
	"github.com/hullbox/hull/internal/initproc"
	"github.com/hullbox/hull/internal/logfile"
	"golang.org/x/sys/unix"
)

// Streams is the owner's side of one container's streams. The zero
// Streams (a Detached container's: its shim holds them) has nothing to
// start, attach or close.
type Streams struct {
	log     *logfile.Writer
	stdout  io.Writer // log stream, tee'd to Options.Stdout
	stdin   io.Reader
	console *os.File // our end of the socket the terminal comes back on
	child   *os.File // its end, closed once the init started
	master  *os.File
	srv     *attach.Server // Attach clients
	stdinR  *os.File       // the child's end of the stdin pipe, closed once it runs
	stdinW  *os.File       // ours: Options.Stdin's copier and Attach clients write it
	openIn  bool           // Options.OpenStdin: Attach clients may send input
	// Copied counts the goroutines copying output into the log; Close
	// waits for them.
	Copied   sync.WaitGroup
	closeOne sync.Once
}

// Options are a container's streams.
type Options struct {
	Dir       string         // the container's directory: its log and attach socket
	LogName   string         // the log's name in Dir
	Log       logfile.Limits // the log's bounds
	Stdout    io.Writer      // also gets the output (nil: only the log and clients)
	Stderr    io.Writer      // also gets the error output
	Stdin     io.Reader      // the input, closed when it ends (nil: none)
	OpenStdin bool           // Attach clients may send input
	TTY       bool           // a terminal (the init sends its master over the console socket)
	// Server serves Dir's attach socket already (clients attached
	// before the init existed); nil: Wire listens. The Streams own it.
	Server *attach.Server
}

// Wire connects cmd (the init, not started yet, with its config and
// status pipes as ExtraFiles) to the container's log, o's writers and
// input, and an attach server in o.Dir; with o.TTY it adds the console
// socket as the init's fd 5 (initproc.ConsoleFD).
func Wire(cmd *exec.Cmd, o Options) (*Streams, error) {
	lw, err := logfile.Create(filepath.Join(o.Dir, o.LogName), o.Log)
	if err != nil {
		if o.Server != nil {
			_ = o.Server.Close()
		}
		return nil, fmt.Errorf("container log: %w", err)
	}
	srv := o.Server
	if srv == nil {
		if srv, err = attach.Listen(o.Dir); err != nil {
			lw.Close()
			return nil, err
		}
	}
	s := &Streams{log: lw, srv: srv, stdin: o.Stdin, openIn: o.OpenStdin}
	s.stdout = lw.Stream("stdout", teeAll{o.Stdout, srv.Writer(attach.FrameStdout)})
	stderr := lw.Stream("stderr", teeAll{o.Stderr, srv.Writer(attach.FrameStderr)})
	if !o.TTY {
		cmd.Stdout, cmd.Stderr = s.stdout, stderr
		if o.Stdin != nil || o.OpenStdin {
			if s.stdinR, s.stdinW, err = os.Pipe(); err != nil {
				return nil, errors.Join(err, s.Close())
			}
			cmd.Stdin = s.stdinR
			if o.OpenStdin {
				srv.SetStdin(s.stdinW)
			}
			if r := o.Stdin; r != nil {
				go func() {
					_, _ = io.Copy(s.stdinW, r)
					s.stdinW.Close() // EOF for the container, as docker run -i
				}()
			}
		}
		return s, nil
	}
	// The init's own setup errors, before the terminal exists, still
	// reach the log.
	cmd.Stderr = stderr
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		lw.Close()
		return nil, err
	}
	s.console = os.NewFile(uintptr(fds[0]), "console")
	s.child = os.NewFile(uintptr(fds[1]), "console-child")
	if len(cmd.ExtraFiles) != 2 {
		return nil, errors.Join(errors.New("init has no config and status pipes"), s.Close())
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, s.child)
	return s, nil
}

// Copies counts the goroutines copying output into the log (Copied).
func (s *Streams) Copies() *sync.WaitGroup { return &s.Copied }

// Started is called once the init runs: the child's end of the console
// socket and of the stdin pipe are its alone.
func (s *Streams) Started() {
	if s.child != nil {
		s.child.Close()
		s.child = nil
	}
	if s.stdinR != nil {
		s.stdinR.Close()
		s.stdinR = nil
	}
}

// AttachConsole receives the terminal's master from the init (sent
// before it reports ready) and starts copying: stdin to it, its output to
// the log. Without a terminal it does nothing.
func (s *Streams) AttachConsole(ctx context.Context) error {
	if s.console == nil {
		return nil
	}
	master, err := initproc.RecvConsole(ctx, s.console)
	s.console.Close()
	s.console = nil
	if err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	s.master = master
	if s.stdin != nil {
		go func() { _, _ = io.Copy(master, s.stdin) }()
	}
	s.srv.SetTerminal(master, s.openIn)
	s.Copied.Add(1)
	go func() {
		defer s.Copied.Done()
		_, _ = io.Copy(s.stdout, master)
	}()
	return nil
}

// Close ends the log once the container's output is drained (the init
// has been reaped; a terminal reads EIO when its last holder is gone),
// waiting at most 2s for it. Attached clients get the last output, then
// EOF. Only the first Close does anything.
func (s *Streams) Close() error {
	var err error
	s.closeOne.Do(func() {
		done := make(chan struct{})
		go func() {
			s.Copied.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
		if s.srv != nil {
			err = s.srv.Close()
		}
		if s.master != nil {
			s.master.Close()
		}
		for _, f := range []*os.File{s.console, s.child, s.stdinR, s.stdinW} {
			if f != nil {
				f.Close()
			}
		}
		if s.log != nil {
			err = errors.Join(err, s.log.Close())
		}
	})
	return err
}

// teeAll writes to every non-nil writer, whatever their errors: the
// container's output must reach the log and attached clients even when
// the embedder's writer fails.
type teeAll []io.Writer

func (t teeAll) Write(p []byte) (int, error) {
	for _, w := range t {
		if w != nil {
			_, _ = w.Write(p)
		}
	}
	return len(p), nil
}
