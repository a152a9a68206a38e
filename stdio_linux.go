package hull

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/hullbox/hull/internal/initproc"
	"github.com/hullbox/hull/internal/stdio"
)

// containerStdio is the owning process's side of a container's standard
// streams (internal/stdio): its log, WithStdout/WithStderr, WithStdin,
// Attach clients and the terminal.
type containerStdio = stdio.Streams

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
	srv := rc.attachSrv
	rc.attachSrv = nil // the Streams' now, closed with them
	return stdio.Wire(cmd, stdio.Options{Dir: dir, LogName: logName, Log: cfg.Log, Stdout: rc.stdout, Stderr: rc.stderr,
		Stdin: rc.stdio.stdin, OpenStdin: rc.stdio.open, TTY: rc.stdio.tty, Server: srv})
}

// detached reports whether the container was created Detached.
func (c *Container) detached() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.Detached
}
