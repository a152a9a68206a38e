package hull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hullbox/hull/internal/initproc"
)

// Restart stops the container (as Stop, with timeout) if it is running or
// paused, then starts its command again with the same configuration and
// root filesystem: files it wrote survive, as with `docker restart`.
func (c *Container) Restart(ctx context.Context, timeout time.Duration) error {
	switch c.status() {
	case StatusRunning, StatusPaused:
		if err := c.Stop(ctx, timeout); err != nil {
			return fmt.Errorf("restart container %s: %w", shortContainerID(c.id), err)
		}
	}
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("restart container %s: %w", shortContainerID(c.id), err)
	}
	c.event("restart", nil)
	return nil
}

// respawn makes an exited container created again: a new init over the
// same config.json, upper dir and cgroup limits, waiting for Start. The
// container then belongs to this Runtime (whoever created it); its output
// goes where the previous run's went when this Runtime ran it, else is
// discarded. It holds the containers lock, so that two Starts (in any
// processes) do not both respawn it.
func (c *Container) respawn(ctx context.Context) (retErr error) {
	rt := c.rt
	if err := rt.checkOpen(); err != nil {
		return err
	}
	if old := c.live(); old != nil {
		<-old.done // recorded as exited, cgroup removed
	}
	unlock, err := rt.lockContainers()
	if err != nil {
		return fmt.Errorf("start container %s: %w", shortContainerID(c.id), err)
	}
	defer unlock()
	dir := rt.containerDir(c.id)
	st, err := readState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("start container %s: %w", shortContainerID(c.id), ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("start container %s: %w", shortContainerID(c.id), err)
	}
	if err := rt.checkExports(st.Mounts); err != nil { // volume_linux.go
		return fmt.Errorf("start container %s: %w", shortContainerID(c.id), err)
	}
	if st.Status != StatusExited && st.alive() {
		// Another Start got here first.
		c.mu.Lock()
		c.st = st
		c.mu.Unlock()
		return nil
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return fmt.Errorf("start container %s: %w", shortContainerID(c.id), err)
	}
	var cfg initproc.Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("start container %s: config.json: %w", shortContainerID(c.id), err)
	}
	rc := runConfig{memory: st.Memory, pidsLimit: st.PidsLimit}
	rc.stdio.detached = st.Detached
	rc.stdio.open, rc.stdio.tty = st.OpenStdin, st.TTY || cfg.Spec.Process.Terminal
	if old := c.live(); old != nil && old.rc != nil {
		rc = *old.rc // the same writers and stdio options
	}
	rc.net.mode = st.NetworkMode
	rc.publish = parsePublishSpecs(st.Publish)
	// A cgroup left by a dead owner (recovery removes it, but it may not
	// have run) would keep old counters.
	if cg := c.rt.loadCgroup(c.id); cg != nil {
		if err := cg.remove(); err != nil {
			return fmt.Errorf("start container %s: %w", shortContainerID(c.id), err)
		}
	}
	if err := rt.prepareNetworks(&st, &cfg, &rc, false); err != nil {
		return fmt.Errorf("start container %s: %w", shortContainerID(c.id), err)
	}
	rc.startNow = true // Start: the exec follows
	lp, err := rt.spawn(ctx, &cfg, &rc)
	if lp == nil {
		return errors.Join(err, rt.releaseAddresses(c.id))
	}
	c.mu.Lock()
	c.lp = lp
	st.Status, st.Error, st.ExitCode, st.OOMKilled = StatusCreated, "", 0, false
	st.Pid, st.PidStart = lp.proc.Pid, procStartTime(lp.proc.Pid)
	st.Owner, st.OwnerStart = os.Getpid(), procStartTime(os.Getpid())
	c.st = st
	go c.reap() // records the exit, even of a failed spawn
	if err != nil {
		c.mu.Unlock()
		return err
	}
	werr := writeState(dir, &c.st)
	c.mu.Unlock()
	rt.ctrs.mu.Lock()
	if rt.ctrs.owned == nil {
		rt.ctrs.owned = map[string]*Container{}
	}
	rt.ctrs.owned[c.id] = c
	rt.ctrs.mu.Unlock()
	if werr != nil {
		return fmt.Errorf("start container %s: %w", shortContainerID(c.id), werr)
	}
	if err := rt.checkOpen(); err != nil {
		// A Close that ran meanwhile did not see it: end the new run.
		_ = lp.proc.Kill()
		return err
	}
	if err := c.attachNetworks(ctx, &rc); err != nil {
		_ = lp.proc.Kill()
		return fmt.Errorf("start container %s: %w", shortContainerID(c.id), err)
	}
	if err := c.serveDNS(); err != nil {
		_ = lp.proc.Kill()
		return fmt.Errorf("start container %s: %w", shortContainerID(c.id), err)
	}
	if len(st.Networks) > 0 {
		c.mu.Lock()
		werr = writeState(dir, &c.st)
		c.mu.Unlock()
	}
	return werr
}
