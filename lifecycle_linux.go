package hull

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/hullbox/hull/internal/statedir"
)

// refresh re-reads the container's state from disk when this Runtime has
// no live process for it (it never had one, or its run has exited):
// another process, or another Runtime in this one, may have started it
// again since. A container respawned elsewhere belongs to its new owner:
// this Runtime forgets its old run, so that it neither acts on a stale
// PID nor kills and removes the container on Close. It fails with
// ErrNotFound if the container has been removed.
func (c *Container) refresh() error {
	c.mu.Lock()
	lp, removed, stamp := c.lp, c.st.Status == statusNone, c.stamp
	c.mu.Unlock()
	if removed {
		return ErrNotFound
	}
	if lp == nil && stamp != (statedir.Stamp{}) {
		// An exit read by a listing: the same while its file is.
		if s, err := statedir.Stat(filepath.Join(c.rt.containerDir(c.id), statedir.StateFile)); err == nil && s == stamp {
			return nil
		}
	}
	if lp != nil {
		select {
		case <-lp.done:
		default:
			return nil // ours and running: our state is the truth
		}
	}
	st, err := readState(c.rt.containerDir(c.id))
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound // removed meanwhile
	} else if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lp != lp || c.st.Status == statusNone {
		return nil // changed meanwhile
	}
	switch {
	case lp != nil && st.Pid == lp.proc.Pid:
		return nil // still our (exited) run
	case lp != nil, c.pending != nil && !st.unstarted():
		// Started elsewhere (a pending one that our own Start launches has
		// c.lp set before its state says so).
		c.lp = nil
		c.dropPendingLocked()
		c.rt.ctrs.mu.Lock()
		if c.rt.ctrs.owned[c.id] == c {
			delete(c.rt.ctrs.owned, c.id)
		}
		c.rt.ctrs.mu.Unlock()
	}
	c.st, c.stamp = st, statedir.Stamp{}
	return nil
}

// removeAutoRemoved removes the exited WithAutoRemove containers (and the
// RUN steps of builds: build_run.go) that no live process owns, such as a Detached one (run -d --rm) whose creator
// has gone: Docker's daemon removes them when they exit; without a
// daemon, the next Open does (an owner that is alive removes its own
// when it reaps them). Open calls it after recovery, with the states
// recovery left; failures are left for the next Open.
func (rt *Runtime) removeAutoRemoved(states []containerState) {
	for _, st := range states {
		if !st.AutoRemove && !st.buildStep() || st.Status != StatusExited || st.alive() || st.ownerAlive() {
			continue
		}
		c, _ := rt.containerFor(st)
		_ = c.Remove(context.Background(), WithRemoveVolumes())
	}
}

// removeRunCgroup removes the cgroup of lp's run, once it has exited. A
// Detached container's exit is there for every process to read
// (exit.json) up to a second before its shim exits and reap gets here:
// another process may have started it again meanwhile, in a cgroup of the
// same path. Under the containers lock, which respawn holds until the
// state names the new run's init, the cgroup is lp's only while the state
// still names lp's init.
func (c *Container) removeRunCgroup(lp *liveProcess) {
	if lp.kind != "shim" {
		_ = lp.cg.Remove()
		return
	}
	unlock, err := c.rt.lockContainers()
	if err != nil {
		return // closed meanwhile: the next respawn or Open removes it
	}
	defer unlock()
	if st, err := readState(c.rt.containerDir(c.id)); err == nil && st.Pid != lp.proc.Pid {
		return
	}
	_ = lp.cg.Remove()
}
