package hull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hullbox/hull/internal/fsutil"
	"github.com/hullbox/hull/internal/initproc"
	"github.com/hullbox/hull/internal/procfs"
	"github.com/hullbox/hull/internal/statedir"
)

// A Detached container outlives its creator, so its health checks and
// restarts cannot be the creator's work: each run of one that has a
// health check or a restart policy gets a supervisor, a process of the
// sealed binary in a session of its own on the host (outside every
// namespace and cgroup of the container, as its shim), started beside
// the shim when the run starts. It opens the root as any Runtime does,
// runs the checks as Execs and records them in state.json, and when the
// run ends applies the policy: after the backoff it starts the container
// again through the same launch path as Start (so the new run has a new
// shim and a new supervisor, to which it passes the backoff) and exits.
// It exits too when the container is removed or no restart follows.
//
// It is not the shim itself: the shim runs in internal/initproc's
// package initialiser, before package hull exists in the process, and
// keeps the container's streams; a supervisor is package hull's (this
// file's init), and needs a whole Runtime.

// superviseEnv holds a supervisor's superviseArgs, as JSON.
const superviseEnv = "_HULL_SUPERVISE"

// superviseArgs is what a supervisor is started with: the run it watches
// (the init's pid and start time) and the backoff so far.
type superviseArgs struct {
	Root     string        `json:"root"`
	ID       string        `json:"id"`
	Pid      int           `json:"pid"`
	PidStart uint64        `json:"pidStart"`
	Delay    time.Duration `json:"delay,omitempty"`
}

func init() {
	if os.Getenv(initproc.Env) == initproc.SuperviseMode { // initproc.Run left it to us
		os.Exit(runSupervisor())
	}
}

// startSupervisor starts the supervisor of the run that just started, if
// the container needs one; its output goes to supervisor.log in the
// container's directory. A failure is logged there too: the container
// runs anyway, unsupervised.
func (c *Container) startSupervisor() {
	c.mu.Lock()
	st := c.st
	delay := c.restarts.delay
	c.mu.Unlock()
	if !st.supervised() {
		return
	}
	dir := c.rt.containerDir(c.id)
	logf, err := os.OpenFile(filepath.Join(dir, "supervisor.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	defer logf.Close()
	err = func() error {
		exe, err := c.rt.initExe()
		if err != nil {
			return err
		}
		args, _ := json.Marshal(superviseArgs{Root: c.rt.cfg.root, ID: c.id, Pid: st.Pid, PidStart: st.PidStart, Delay: delay})
		cmd := &exec.Cmd{
			Path:        exe.Path(),
			Args:        []string{"hull-supervise", c.id},
			Env:         []string{initproc.Env + "=" + initproc.SuperviseMode, superviseEnv + "=" + string(args), "GOMAXPROCS=2", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
			Stdout:      logf,
			Stderr:      logf,
			Dir:         "/",
			SysProcAttr: &syscall.SysProcAttr{Setsid: true},
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		go func() { _ = cmd.Wait() }() // it lives on if we exit first
		return nil
	}()
	if err != nil {
		fmt.Fprintf(logf, "%s hull: start supervisor: %v\n", time.Now().UTC().Format(time.RFC3339Nano), err)
	}
}

// runSupervisor is a supervisor's life: the checks while the run lasts,
// then the restart the policy asks for, if any.
func runSupervisor() int {
	var a superviseArgs
	if err := json.Unmarshal([]byte(os.Getenv(superviseEnv)), &a); err != nil {
		fmt.Fprintln(os.Stderr, "hull supervisor:", err)
		return 2
	}
	ctx := context.Background()
	rt, err := Open(ctx, WithRoot(a.Root))
	if err != nil {
		fmt.Fprintln(os.Stderr, "hull supervisor:", err)
		return 2
	}
	defer rt.Close() // the container is Detached: Close leaves it
	c, err := rt.Container(ctx, a.ID)
	if err != nil {
		return 0 // removed already
	}
	c.superviseRun(a)
	if err := c.superviseRestart(ctx, a); err != nil && !errors.Is(err, ErrNotFound) {
		fmt.Fprintln(os.Stderr, "hull supervisor: restart:", err)
		return 1
	}
	return 0
}

// superviseRun runs the health checks of the run a names until its init
// has exited.
func (c *Container) superviseRun(a superviseArgs) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if start, exited := procfs.Stat(a.Pid); start != a.PidStart || exited {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	st, err := readState(c.rt.containerDir(c.id))
	if err != nil || st.Healthcheck == nil || st.Pid != a.Pid {
		<-done
		return
	}
	c.monitorHealth(done, st.Healthcheck, st.StartedAt, func(r HealthResult) { c.recordHealthOf(a, st.Healthcheck, r, st.StartedAt) })
}

// recordHealthOf is recordHealth for a supervisor: it reads the state
// again under the containers lock, adds r if the run is still a's, and
// writes it.
func (c *Container) recordHealthOf(a superviseArgs, h *Healthcheck, r HealthResult, started time.Time) {
	unlock, err := c.rt.lockContainers()
	if err != nil {
		return
	}
	defer unlock()
	dir := c.rt.containerDir(c.id)
	st, err := readState(dir)
	if err != nil || st.Pid != a.Pid || st.PidStart != a.PidStart || st.Status != StatusRunning || !st.alive() {
		return
	}
	changed := st.recordHealth(h, r, started)
	if writeState(dir, &st) != nil {
		return
	}
	c.mu.Lock()
	c.st = st
	if changed {
		c.eventLocked("health_status: "+string(st.Health.Status), nil)
	}
	c.mu.Unlock()
}

// superviseRestart applies the restart policy once the run a names has
// ended and its exit is recorded (the shim's exit.json): after the
// backoff, unless a user stopped the container, it starts it again.
func (c *Container) superviseRestart(ctx context.Context, a superviseArgs) error {
	dir := c.rt.containerDir(c.id)
	var st containerState
	for deadline := time.Now().Add(10 * time.Second); ; {
		data, err := fsutil.ReadSmallFile(filepath.Join(dir, statedir.StateFile))
		if errors.Is(err, os.ErrNotExist) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		var recorded Status
		if st, recorded, err = parseState(dir, data); err != nil {
			return err
		}
		if st.Pid != a.Pid || st.PidStart != a.PidStart {
			return nil // started again by someone else
		}
		// A creator still alive records the exit itself (its reaper, once
		// the shim has gone): after that, or its write would undo ours.
		late := time.Now().After(deadline) // a creator that does not reap it (stopped)
		if st.Status == StatusExited && (recorded == StatusExited || !st.ownerAlive() || late) {
			break
		}
		if late {
			return fmt.Errorf("exit of pid %d not recorded", a.Pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !st.RestartPolicy.restarts(st.ExitCode, st.RestartCount) || c.stoppedByUser() {
		return nil
	}
	delay := nextRestartDelay(a.Delay, st.FinishedAt.Sub(st.StartedAt))
	if err := c.setRestarting(a, true); err != nil {
		return err
	}
	for end := time.Now().Add(delay); time.Now().Before(end); time.Sleep(min(20*time.Millisecond, time.Until(end))) {
		if c.stoppedByUser() {
			return c.setRestarting(a, false)
		}
	}
	c.mu.Lock()
	c.st = st
	c.restarts.byPolicy, c.restarts.delay = true, delay
	c.mu.Unlock()
	err := c.start(ctx) // a new shim and supervisor; "start", as Docker's restarts
	if err != nil {
		_ = c.setRestarting(a, false)
	}
	return err
}

// setRestarting records in the state of the run a names (exited) that a
// restart is coming, or no longer.
func (c *Container) setRestarting(a superviseArgs, on bool) error {
	unlock, err := c.rt.lockContainers()
	if err != nil {
		return err
	}
	defer unlock()
	dir := c.rt.containerDir(c.id)
	st, err := readState(dir)
	if err != nil || st.Pid != a.Pid || st.Status != StatusExited || st.Restarting == on {
		return err
	}
	// The supervisor is the owner while it waits: restartPending needs
	// a live one.
	st.Restarting, st.Owner, st.OwnerStart = on, os.Getpid(), procStartTime(os.Getpid())
	return writeState(dir, &st)
}
