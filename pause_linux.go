package hull

import (
	"context"
	"errors"
	"fmt"

	"github.com/hullbox/hull/internal/cgroup"
)

// Pause freezes every process of the container (the cgroup freezer), as
// `docker pause`. The container is then StatusPaused until Resume; Kill
// with SIGKILL, Stop and Remove with WithForce still end it. It fails
// with a *TransitionError (ErrConflict) unless the container is running.
func (c *Container) Pause(ctx context.Context) error {
	cg, err := c.liveCgroup(actPause)
	if err != nil {
		return err
	}
	if err := cg.SetFrozen(ctx, true); err != nil {
		// Leave it as it was: running.
		return errors.Join(fmt.Errorf("pause container %s: %w", shortContainerID(c.id), cgroupErr(err)), cg.SetFrozen(context.Background(), false))
	}
	return c.exitedMeanwhile(c.transition(actPause, nil, "pause"))
}

// Resume thaws a paused container, as `docker unpause`. It fails with a
// *TransitionError (ErrConflict) unless the container is paused.
func (c *Container) Resume(ctx context.Context) error {
	cg, err := c.liveCgroup(actResume)
	if err != nil {
		return err
	}
	if err := cg.SetFrozen(ctx, false); err != nil {
		return fmt.Errorf("resume container %s: %w", shortContainerID(c.id), cgroupErr(err))
	}
	return c.exitedMeanwhile(c.transition(actResume, nil, "unpause"))
}

// exitedMeanwhile is err, unless it is the *TransitionError of a
// container that exited while Pause or Resume froze or thawed it: it
// stays exited, and the action is not an error.
func (c *Container) exitedMeanwhile(err error) error {
	var te *TransitionError
	if errors.As(err, &te) && te.Status == StatusExited {
		return nil
	}
	return err
}

// liveCgroup returns the cgroup of a container whose status allows action.
func (c *Container) liveCgroup(a action) (*cgroup.Cgroup, error) {
	if err := c.check(a); err != nil {
		return nil, err
	}
	if lp := c.live(); lp != nil {
		return lp.cg, nil
	}
	if cg := c.rt.loadCgroup(c.id); cg != nil {
		return cg, nil
	}
	return nil, &TransitionError{ID: c.id, Action: string(a), Status: StatusExited}
}

// thawAfterKill lets a frozen container die of the SIGKILL it was just
// sent: frozen tasks do not handle signals until thawed (on cgroup v1).
// Whatever its recorded status: a process that froze it for a Commit may
// have died between the freeze and the record. The status stays paused
// until the reaper records the exit.
func (c *Container) thawAfterKill() {
	cg := c.rt.loadCgroup(c.id)
	if lp := c.live(); lp != nil {
		cg = lp.cg
	}
	if cg != nil {
		_ = cg.SetFrozen(context.Background(), false)
	}
}

// thawAbandoned thaws a container that a process froze for its own work
// (Commit) and died before it thawed it (Container.setPausedBy): it runs
// again, as before. A pause a user asked for stays.
func (rt *Runtime) thawAbandoned(st *containerState) error {
	if st.PausedBy == 0 || procStartTime(st.PausedBy) == st.PausedByStart && st.PausedByStart != 0 {
		return nil
	}
	if st.Status == StatusRunning || st.Status == StatusPaused {
		if cg := rt.loadCgroup(st.ID); cg != nil {
			if err := cg.SetFrozen(context.Background(), false); err != nil {
				return fmt.Errorf("thaw container %s: %w", shortContainerID(st.ID), err)
			}
		}
		_ = st.apply(actResume, nil) // if paused

	}
	st.PausedBy, st.PausedByStart = 0, 0
	return writeState(rt.containerDir(st.ID), st)
}

// thawForKill thaws the cgroup of container id, if it has one, after a
// SIGKILL (recovery of a paused container whose owner died).
func (rt *Runtime) thawForKill(id string) {
	if cg := rt.loadCgroup(id); cg != nil {
		_ = cg.SetFrozen(context.Background(), false)
	}
}
