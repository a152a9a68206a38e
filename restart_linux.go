package hull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hullbox/hull/internal/fsutil"
	"github.com/hullbox/hull/internal/initproc"
)

// Restart stops the container (as Stop, with timeout) if it is running or
// paused, then starts its command again with the same configuration and
// root filesystem: files it wrote survive, as with `docker restart`.
func (c *Container) Restart(ctx context.Context, timeout time.Duration) error {
	if allowed(actStop, c.status()) {
		if err := c.Stop(ctx, timeout); err != nil {
			return err // it names the container and the step
		}
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	c.event("restart", nil)
	return nil
}

// respawn makes an exited container created again: a new init over the
// same config.json, upper dir and cgroup limits, for the Start that
// calls it. The
// container then belongs to this Runtime (whoever created it); its output
// goes where the previous run's went when this Runtime ran it, else is
// discarded. It holds the containers lock, so that two Starts (in any
// processes) do not both respawn it.
func (c *Container) respawn(ctx context.Context) error {
	rt := c.rt
	if err := rt.checkOpen(); err != nil {
		return err
	}
	if old := c.live(); old != nil {
		<-old.done // recorded as exited, cgroup removed
	}
	unlock, err := rt.lockContainers()
	if err != nil {
		return err
	}
	defer unlock()
	dir := rt.containerDir(c.id)
	st, err := readState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if err := rt.checkExports(st.Mounts); err != nil { // volume_linux.go
		return err
	}
	if st.Status != StatusExited && st.alive() {
		// Another Start got here first.
		c.mu.Lock()
		c.st = st
		c.mu.Unlock()
		return nil
	}
	if st.Status != StatusExited {
		_ = st.apply(actExit, nil) // its process died unrecorded: as killed, like Open's recovery
	}
	var old *runConfig
	if lp := c.live(); lp != nil {
		old = lp.rc // the same writers and stdio options
	}
	cfg, rc, err := c.launchConfig(&st, old)
	if err != nil {
		return err
	}
	if err := st.apply(actRespawn, nil); err != nil {
		return err
	}
	c.countRestart(&st) // restartpolicy_linux.go
	// Listed before its new init exists (launch writes the state after):
	// under this lock, so no Open unlists it meanwhile.
	if err := markUnsettled(rt.containersDir(), c.id); err != nil {
		return err
	}
	return c.launch(ctx, st, cfg, rc)
}

// launchConfig is the config and run options of a later launch of the
// container in status st: its config.json, and rc's writers and stdio
// options if this Runtime has them (else output goes to the log only).
// It removes a cgroup a dead owner left.
func (c *Container) launchConfig(st *containerState, rc *runConfig) (*initproc.Config, *runConfig, error) {
	data, err := os.ReadFile(filepath.Join(c.rt.containerDir(c.id), "config.json"))
	if err != nil {
		return nil, nil, err
	}
	var cfg initproc.Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, nil, fmt.Errorf("config.json: %w", err)
	}
	if rc == nil {
		rc = &runConfig{memory: st.Memory, pidsLimit: st.PidsLimit}
		rc.stdio.detached = st.Detached
		rc.stdio.open, rc.stdio.tty = st.OpenStdin, st.TTY || cfg.Spec.Process.Terminal
	} else {
		cp := *rc
		rc = &cp
	}
	rc.net.mode = st.NetworkMode
	rc.publish = parsePublishSpecs(st.Publish)
	// A cgroup left by a dead owner (recovery removes it, but it may not
	// have run) would keep old counters; one whose launch died half-way
	// (no Pid recorded, recovery leaves it) may still hold its dying init.
	if cg := c.rt.loadCgroup(c.id); cg != nil {
		if err := cg.RemoveSettled(); err != nil {
			return nil, nil, err
		}
	}
	return &cfg, rc, nil
}

// launchCreated gives a created container that has no process its init,
// for Start: over what Create kept when this Runtime created it (its
// config, writers, stdin and attach socket), else over its config.json
// and state.json, as respawn. Either way Start follows at once, so a plan
// init may run it (spawn). The container then belongs to this Runtime,
// whoever created it. Two Starts of it (in any processes) take its start
// lock in turn: the second finds it launched and leaves it to the first.
func (c *Container) launchCreated(ctx context.Context) error {
	rt := c.rt
	if err := rt.checkOpen(); err != nil {
		return err
	}
	dir := rt.containerDir(c.id)
	l, err := fsutil.LockFileContext(ctx, filepath.Join(dir, "start.lock"), fsutil.Exclusive)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	defer l.Unlock()
	st, err := readState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	p := c.pending
	if !st.unstarted() {
		// Started meanwhile, elsewhere: this Start's own part is done
		// (start sees the status it left).
		c.dropPendingLocked()
		c.st = st
		c.mu.Unlock()
		if st.view() == StatusExited {
			l.Unlock()
			return c.respawn(ctx)
		}
		return nil
	}
	c.mu.Unlock()
	if slices.ContainsFunc(st.Mounts, func(m MountPoint) bool { return m.Type == MountTypeVolume && m.RW }) {
		// An Export of its volume checks, under the containers lock, that
		// no container runs that writes it (holdForExport): hold it until
		// this one runs, as respawn does.
		unlock, err := rt.lockContainers()
		if err != nil {
			return err
		}
		defer unlock()
		if err := rt.checkExports(st.Mounts); err != nil { // volume_linux.go
			return err
		}
	}
	var cfg *initproc.Config
	var rc *runConfig
	if p != nil {
		cfg, rc = p.cfg, p.rc
	} else if cfg, rc, err = c.launchConfig(&st, nil); err != nil {
		return err
	}
	if self, start := os.Getpid(), procStartTime(os.Getpid()); st.Owner != self || st.OwnerStart != start {
		// Its addresses are this process's to hold from now on (netLive),
		// should its creator be gone.
		st.Owner, st.OwnerStart = self, start
		if err := writeState(dir, &st); err != nil {
			return err
		}
	}
	return c.launch(ctx, st, cfg, rc)
}
