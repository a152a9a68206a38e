package hull

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hullbox/hull/internal/fsutil"
	"github.com/hullbox/hull/internal/initproc"
)

// launch starts an init for the container over cfg: the one way a
// container gets a process, for the Start of a created container
// (launchCreated) and of an exited one (respawn), which pass the state
// to run with (created, not written yet). It prepares the networks,
// writes config.json, spawns the init and has it reaped, attaches the
// networks, serves DNS, records the state and makes the container this
// Runtime's. On error, an init that was started is killed (the reaper
// records its exit); the caller undoes the rest. Its errors are not
// wrapped: the caller says what it was doing.
func (c *Container) launch(ctx context.Context, st containerState, cfg *initproc.Config, rc *runConfig) error {
	rt := c.rt
	dir := rt.containerDir(c.id)
	if err := rt.prepareNetworks(&st, cfg, rc, false); err != nil { // network_attach_linux.go
		return err
	}
	initproc.Trace("P networks prepared")
	// Create wrote config.json whole; only the netns of container:<id>
	// changes from one run to the next (prepareNetworks). Exec and the
	// next Start read it back: replaced whole, never torn.
	if strings.HasPrefix(string(st.NetworkMode), "container:") {
		if err := fsutil.WriteFileAtomic(filepath.Join(dir, "config.json"), mustJSON(cfg), 0o600, fsutil.Exchange()); err != nil {
			return errors.Join(err, rt.releaseAddresses(c.id))
		}
	}
	lp, err := rt.spawn(ctx, cfg, rc)
	c.mu.Lock()
	if lp != nil {
		c.lp = lp
		st.Pid, st.PidStart = lp.proc.Pid, procStartTime(lp.proc.Pid)
		st.Owner, st.OwnerStart = os.Getpid(), procStartTime(os.Getpid())
		c.st = st             // with its networks: what cleanup releases
		c.dropPendingLocked() // launched: its attach socket is lp's
		go c.reap()           // c.st is shared from here on: under c.mu
	}
	c.mu.Unlock()
	if lp == nil {
		return errors.Join(err, rt.releaseAddresses(c.id))
	}
	if err == nil {
		err = c.attachNetworks(ctx, rc)
		initproc.Trace("P networks attached")
	}
	if err == nil {
		err = c.serveDNS()
	}
	if err == nil {
		c.mu.Lock()
		err = writeState(dir, &c.st)
		c.mu.Unlock()
		initproc.Trace("P state written")
	}
	if err == nil {
		rt.own(c)
		// A Close that ran meanwhile did not see this container.
		err = rt.checkOpen()
	}
	if err != nil {
		_ = lp.proc.Kill()
	}
	return err
}

// launchError is err of a launch for Start, said once: a *StartError, or
// ErrClosed, says what it is already.
func launchError(id string, err error) error {
	var se *StartError
	if err == nil || errors.As(err, &se) || errors.Is(err, ErrClosed) {
		return err
	}
	return fmt.Errorf("start container %s: %w", shortContainerID(id), err)
}
