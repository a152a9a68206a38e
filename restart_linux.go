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
// same config.json, upper dir and cgroup limits, waiting for Start. The
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
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return err
	}
	var cfg initproc.Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("config.json: %w", err)
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
		if err := cg.Remove(); err != nil {
			return err
		}
	}
	rc.startNow = true // Start: the exec follows
	if err := st.apply(actRespawn, nil); err != nil {
		return err
	}
	// Listed before its new init exists (launch writes the state after):
	// under this lock, so no Open unlists it meanwhile.
	if err := markUnsettled(rt.containersDir(), c.id); err != nil {
		return err
	}
	return c.launch(ctx, st, &cfg, &rc, false)
}
