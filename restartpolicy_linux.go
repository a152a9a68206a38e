package hull

import (
	"context"
	"os"
	"path/filepath"
	"time"
)

// noRestartFile, in the container's directory, records that a user
// stopped it (Stop, Kill with SIGKILL, Remove): whichever process
// applies its restart policy does not undo that. Start removes it.
const noRestartFile = "no-restart"

// markStopped records a user's stop of the container, before its signal,
// and calls off a restart waiting out its backoff.
func (c *Container) markStopped() {
	c.mu.Lock()
	policy := c.st.RestartPolicy.Name != "" && c.st.RestartPolicy.Name != RestartNo
	c.mu.Unlock()
	if policy {
		_ = os.WriteFile(filepath.Join(c.rt.containerDir(c.id), noRestartFile), nil, 0o600)
	}
	c.cancelRestart()
}

// userStart is Start's part for the policy: the user's Start undoes
// their stop, calls off a pending restart (this Start is it) and starts
// the count and the backoff again (respawn resets RestartCount).
func (c *Container) userStart() {
	c.mu.Lock()
	policy := c.st.RestartPolicy.Name != "" && c.st.RestartPolicy.Name != RestartNo // set at Create, for good
	c.mu.Unlock()
	if !policy {
		return // nothing to read or remove on Run's path
	}
	if s := c.status(); s != StatusExited && s != StatusCreated {
		return // running: Start does nothing
	}
	c.cancelRestart()
	_ = os.Remove(filepath.Join(c.rt.containerDir(c.id), noRestartFile))
	c.mu.Lock()
	c.restarts.delay = 0
	c.mu.Unlock()
}

// stoppedByUser reports whether a user stopped the container since its
// last Start (markStopped).
func (c *Container) stoppedByUser() bool {
	_, err := os.Stat(filepath.Join(c.rt.containerDir(c.id), noRestartFile))
	return err == nil
}

// planRestartLocked is the reaper's part, with c.mu held, before it
// records the exit: whether the policy restarts the container after this
// exit. If so it records Restarting (written with the exit) and returns
// the restart, for the reaper to run once the exit is recorded; else nil.
// goAhead says whether Start let the command run: a command that exits at
// once may be reaped before Start records it running (the status is
// still created then), and its exit counts; an init that never got the
// go-ahead, or whose command could not be executed (126, 127 before it
// ran), is no run to restart.
func (c *Container) planRestartLocked(exit ExitStatus, goAhead bool) func() {
	st := &c.st
	if st.Detached { // its supervisor's: restartpolicy_supervisor_linux.go
		return nil
	}
	neverRan := st.Status == StatusCreated && (!goAhead || exit.ExitCode == 126 || exit.ExitCode == 127)
	if st.Status == statusNone || neverRan || !st.RestartPolicy.restarts(exit.ExitCode, st.RestartCount) ||
		c.rt.checkOpen() != nil || c.stoppedByUser() {
		return nil
	}
	r := &c.restarts
	r.delay = nextRestartDelay(r.delay, time.Since(st.StartedAt))
	delay, cancel, done := r.delay, make(chan struct{}), make(chan struct{})
	r.cancel, r.done = cancel, done
	st.Restarting = true
	return func() { c.restartAfter(delay, cancel, done) }
}

// restartAfter starts the container again after delay, unless called off
// (cancel closed by cancelRestart) or stopped by a user meanwhile; it
// closes done when it returns.
func (c *Container) restartAfter(delay time.Duration, cancel, done chan struct{}) {
	defer close(done)
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-cancel:
		return
	case <-t.C:
	}
	var err error
	if c.stoppedByUser() {
		err = ErrConflict
	} else {
		c.mu.Lock()
		c.restarts.byPolicy = true
		c.mu.Unlock()
		err = c.start(context.Background()) // "start", as Docker's restarts
		c.mu.Lock()
		c.restarts.byPolicy = false
		c.mu.Unlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.restarts.cancel != cancel {
		return // called off, or the new run exited and planned the next
	}
	c.restarts.cancel, c.restarts.done = nil, nil
	if err != nil {
		c.notRestartingLocked()
	}
}

// cancelRestart calls off a restart waiting out its backoff and waits
// for it to return (one under way completes first).
func (c *Container) cancelRestart() {
	c.mu.Lock()
	cancel, done := c.restarts.cancel, c.restarts.done
	c.restarts.cancel, c.restarts.done = nil, nil
	c.mu.Unlock()
	if cancel == nil {
		return
	}
	close(cancel)
	<-done
	c.mu.Lock()
	c.notRestartingLocked()
	c.mu.Unlock()
}

// notRestartingLocked records that no restart follows the exit.
func (c *Container) notRestartingLocked() {
	if c.st.Restarting && c.st.Status == StatusExited {
		c.st.Restarting = false
		_ = writeState(c.rt.containerDir(c.id), &c.st)
	}
}

// countRestart sets st's RestartCount for the respawn under way: one
// more for the policy's, none for a user's Start.
func (c *Container) countRestart(st *containerState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.restarts.byPolicy {
		st.RestartCount++
	} else {
		st.RestartCount = 0
	}
}
