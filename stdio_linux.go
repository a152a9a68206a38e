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
	copied   sync.WaitGroup
	closeOne sync.Once
}

// wireStdio connects cmd (the init, not started yet) to the container's
// log, WithStdout/WithStderr and WithStdin; with WithTTY it adds the
// console socket as the init's fd 5 (initproc.ConsoleFD).
//
// WithInit and Detached make the init resident (cfg.Resident): see
// Detached for what a detached init does, and no longer the parent.
func (rt *Runtime) wireStdio(cfg *initproc.Config, rc *runConfig, cmd *exec.Cmd) (*containerStdio, error) {
	dir := rt.containerDir(cfg.ID)
	if err := os.Remove(filepath.Join(dir, exitName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err // a previous run's: it would mark this one exited
	}
	if rc.stdio.detached || rc.stdio.init {
		cfg.Resident, cfg.Dir, cfg.LogName = true, dir, logName
	}
	if rc.stdio.detached {
		if rc.stdio.tty || rc.stdio.stdin != nil {
			return nil, fmt.Errorf("%w: Detached with WithTTY or WithStdin is not supported yet", ErrInvalidArgument)
		}
		cfg.Detached = true
		// Its own session, and nothing kills it when we die.
		cmd.SysProcAttr.Pdeathsig, cmd.SysProcAttr.Setsid = 0, true
		return &containerStdio{}, nil
	}
	lw, err := logfile.Create(filepath.Join(dir, logName))
	if err != nil {
		return nil, fmt.Errorf("container log: %w", err)
	}
	sio := &containerStdio{log: lw, stdout: lw.Stream("stdout", rc.stdout), stdin: rc.stdio.stdin}
	if !rc.stdio.tty {
		cmd.Stdout, cmd.Stderr = sio.stdout, lw.Stream("stderr", rc.stderr)
		if rc.stdio.stdin != nil {
			cmd.Stdin = rc.stdio.stdin
			// Wait must not hang on a reader that never ends.
			cmd.WaitDelay = 500 * time.Millisecond
		}
		return sio, nil
	}
	// The init's own setup errors, before the terminal exists, still
	// reach the log.
	cmd.Stderr = lw.Stream("stderr", rc.stderr)
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
}

// attachConsole receives the terminal's master from the init (sent
// before it reports ready) and starts copying: stdin to it, its output to
// the log.
func (sio *containerStdio) attachConsole(ctx context.Context) error {
	if sio.console == nil {
		return nil
	}
	master, err := recvConsole(ctx, sio.console)
	sio.console.Close()
	sio.console = nil
	if err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	sio.master = master
	if sio.stdin != nil {
		go func() { _, _ = io.Copy(master, sio.stdin) }()
	}
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
		if sio.master != nil {
			sio.master.Close()
		}
		for _, f := range []*os.File{sio.console, sio.child} {
			if f != nil {
				f.Close()
			}
		}
		if sio.log != nil {
			err = sio.log.Close()
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

// removeCgroupSettled removes a container's cgroup, giving its last
// processes a moment to be reaped: a detached init is reaped by whoever
// inherited it, not by us, and the cgroup is busy until then.
func removeCgroupSettled(cg *cgroup) error {
	err := cg.remove()
	for i := 0; err != nil && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
		_ = cg.kill()
		err = cg.remove()
	}
	return err
}
