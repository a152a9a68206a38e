package hull

import "context"

// refresh re-reads the container's state from disk when this Runtime has
// no live process for it (it never had one, or its run has exited):
// another process, or another Runtime in this one, may have started it
// again since. A container respawned elsewhere belongs to its new owner:
// this Runtime forgets its old run, so that it neither acts on a stale
// PID nor kills and removes the container on Close.
func (c *Container) refresh() {
	c.mu.Lock()
	lp, removed := c.lp, c.st.Status == statusNone
	c.mu.Unlock()
	if removed {
		return
	}
	if lp != nil {
		select {
		case <-lp.done:
		default:
			return // ours and running: our state is the truth
		}
	}
	st, err := readState(c.rt.containerDir(c.id))
	if err != nil {
		return // removed meanwhile: Remove reports it
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lp != lp || c.st.Status == statusNone {
		return // changed meanwhile
	}
	if lp != nil {
		if st.Pid == lp.proc.Pid {
			return // still our (exited) run
		}
		c.lp = nil
		c.rt.ctrs.mu.Lock()
		if c.rt.ctrs.owned[c.id] == c {
			delete(c.rt.ctrs.owned, c.id)
		}
		c.rt.ctrs.mu.Unlock()
	}
	c.st = st
}

// removeAutoRemoved removes the exited WithAutoRemove containers that no
// live process owns, such as a Detached one (run -d --rm) whose creator
// has gone: Docker's daemon removes them when they exit; without a
// daemon, the next Open does (an owner that is alive removes its own
// when it reaps them). Open calls it after recovery, with the states
// recovery left; failures are left for the next Open.
func (rt *Runtime) removeAutoRemoved(states []containerState) {
	for _, st := range states {
		if !st.AutoRemove || st.Status != StatusExited || st.alive() || st.ownerAlive() {
			continue
		}
		c, _ := rt.containerFor(st)
		_ = c.Remove(context.Background(), WithRemoveVolumes())
	}
}
