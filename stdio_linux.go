package hull

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

// containerStdio is the owning process's side of a container's standard
// streams: the log writer that every byte of output goes through, and
// for a terminal, the master end that the init sends back.
type containerStdio struct {
	log      *logfile.Writer
	stdout   io.Writer // log stream, tee'd to WithStdout
	stdin    io.Reader
	console  *os.File // our end of the socket the terminal comes back on
	child    *os.File // its end, closed once the init started
	master   *os.File
	srv      *attach.Server // Attach clients: attach.go
	stdinR   *os.File       // the child's end of the stdin pipe, closed once it runs
	stdinW   *os.File       // ours: WithStdin's copier and Attach clients write it
	openIn   bool           // WithOpenStdin: Attach clients may send input
	copied   sync.WaitGroup
	closeOne sync.Once
}

// wireStdio connects cmd (the init, not started yet) to the container's
// log, WithStdout/WithStderr and WithStdin; with WithTTY it adds the
// console socket as the init's fd 5 (initproc.ConsoleFD).
//
// WithInit makes PID 1 a reaper (cfg.Reaper). A Detached container's
// streams are its shim's (spawn.Spawner.StartShim): see WithDetached.
func (rt *Runtime) wireStdio(cfg *initproc.Config, rc *runConfig, cmd *exec.Cmd) (*containerStdio, error) {
	dir := rt.containerDir(cfg.ID)
	if err := os.Remove(filepath.Join(dir, initproc.ExitName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err // a previous run's: it would mark this one exited
	}
	cfg.Reaper = rc.stdio.init
	if rc.stdio.detached {
		if rc.stdio.stdin != nil {
			return nil, fmt.Errorf("%w: Detached with WithStdin: no one would be left to feed it (use WithOpenStdin and Attach)", ErrInvalidArgument)
		}
		cfg.Detached, cfg.OpenStdin, cfg.Dir, cfg.LogName = true, rc.stdio.open, dir, logName
		// Its shim logs its "die" event: no one else may be left to.
		if st, err := readState(dir); err == nil {
			cfg.EventsLog, cfg.EventAttrs = rt.events.path, map[string]string{"name": st.Name, "image": st.Image}
		}
		// Its own session, and nothing kills it when we die.
		cmd.SysProcAttr.Pdeathsig, cmd.SysProcAttr.Setsid = 0, true
		return &containerStdio{}, nil
	}
	lw, err := logfile.Create(filepath.Join(dir, logName), cfg.Log)
	if err != nil {
		return nil, fmt.Errorf("container log: %w", err)
	}
	srv, err := attach.Listen(dir)
	if err != nil {
		lw.Close()
		return nil, err
	}
	sio := &containerStdio{log: lw, srv: srv, stdin: rc.stdio.stdin, openIn: rc.stdio.open}
	sio.stdout = lw.Stream("stdout", teeAll{rc.stdout, srv.Writer(attach.FrameStdout)})
	stderr := lw.Stream("stderr", teeAll{rc.stderr, srv.Writer(attach.FrameStderr)})
	if !rc.stdio.tty {
		cmd.Stdout, cmd.Stderr = sio.stdout, stderr
		if rc.stdio.stdin != nil || rc.stdio.open {
			if sio.stdinR, sio.stdinW, err = os.Pipe(); err != nil {
				return nil, errors.Join(err, sio.close())
			}
			cmd.Stdin = sio.stdinR
			if rc.stdio.open {
				srv.SetStdin(sio.stdinW)
			}
			if r := rc.stdio.stdin; r != nil {
				go func() {
					_, _ = io.Copy(sio.stdinW, r)
					sio.stdinW.Close() // EOF for the container, as docker run -i
				}()
			}
		}
		return sio, nil
	}
	// The init's own setup errors, before the terminal exists, still
	// reach the log.
	cmd.Stderr = stderr
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		lw.Close()
		return nil, err
	}
	sio.console = os.NewFile(uintptr(fds[0]), "console")
	sio.child = os.NewFile(uintptr(fds[1]), "console-child")
	if len(cmd.ExtraFiles) != 2 {
		return nil, errors.Join(errors.New("init has no config and status pipes"), sio.close())
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, sio.child)
	return sio, nil
}

// started is called once the init runs: the child's end of the console
// socket is its alone.
func (sio *containerStdio) started() {
	if sio.child != nil {
		sio.child.Close()
		sio.child = nil
	}
	if sio.stdinR != nil {
		sio.stdinR.Close()
		sio.stdinR = nil
	}
}

// attachConsole receives the terminal's master from the init (sent
// before it reports ready) and starts copying: stdin to it, its output to
// the log.
func (sio *containerStdio) attachConsole(ctx context.Context) error {
	if sio.console == nil {
		return nil
	}
	master, err := initproc.RecvConsole(ctx, sio.console)
	sio.console.Close()
	sio.console = nil
	if err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	sio.master = master
	if sio.stdin != nil {
		go func() { _, _ = io.Copy(master, sio.stdin) }()
	}
	sio.srv.SetTerminal(master, sio.openIn)
	sio.copied.Add(1)
	go func() {
		defer sio.copied.Done()
		_, _ = io.Copy(sio.stdout, master)
	}()
	return nil
}

// close ends the log once the container's output is drained (the init
// has been reaped; a terminal reads EIO when its last holder is gone).
func (sio *containerStdio) close() error {
	var err error
	sio.closeOne.Do(func() {
		done := make(chan struct{})
		go func() {
			sio.copied.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
		if sio.srv != nil {
			// Attached clients get the last output, then EOF.
			err = sio.srv.Close()
		}
		if sio.master != nil {
			sio.master.Close()
		}
		for _, f := range []*os.File{sio.console, sio.child, sio.stdinR, sio.stdinW} {
			if f != nil {
				f.Close()
			}
		}
		if sio.log != nil {
			err = errors.Join(err, sio.log.Close())
		}
	})
	return err
}

// detached reports whether the container was created Detached.
func (c *Container) detached() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.Detached
}

// teeAll writes to every non-nil writer, whatever their errors: the
// container's output must reach the log and attached clients even when
// WithStdout's writer fails.
type teeAll []io.Writer

func (t teeAll) Write(p []byte) (int, error) {
	for _, w := range t {
		if w != nil {
			_, _ = w.Write(p)
		}
	}
	return len(p), nil
}
