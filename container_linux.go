package hull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hullbox/hull/internal/cgroup"
	"github.com/hullbox/hull/internal/dns"
	"github.com/hullbox/hull/internal/fsutil"
	"github.com/hullbox/hull/internal/initproc"
	"github.com/hullbox/hull/internal/seccomp"
	"github.com/hullbox/hull/internal/spawn"
	specpkg "github.com/hullbox/hull/internal/spec"
	"github.com/hullbox/hull/internal/statedir"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// liveProcess is a container init this Runtime started and will reap.
type liveProcess struct {
	proc *os.Process
	wait func() spawn.Ended // reaps proc (a warm shim tells its exit)
	kind string             // the init: "plan", "go", "go-warm" or "shim" (spawn.Init)
	in   *spawn.Init        // its reports (Next)
	cfgW *os.File           // the start byte goes here; nil once sent
	cg   *cgroup.Cgroup
	io   *containerStdio // logs, stdin, terminal: stdio_linux.go
	rc   *runConfig      // the options it ran with, for a restart: restart_linux.go
	done chan struct{}   // closed once reaped and recorded
	dns  ownerDNS        // the DNS this process serves for it (under the container's mu): dns_serve_linux.go
	exit ExitStatus
}

// Create creates a container from a local image (see Image for what ref
// may be), as `docker create`: its name, configuration, root filesystem
// directories and network addresses, in status StatusCreated. No process
// runs until Start, which sets the container up and runs its command
// (as fast as Run: docs/containers.md, "Create vs Start"); until then it
// may be inspected, connected to networks, copied into (CopyTo),
// committed, attached to, waited for (Wait returns once it has run) and
// removed, from any process on the root. It does not pull: Run does. The
// container belongs to this Runtime until Removed (see Container): Close
// removes it, started or not. A Create that Close overtakes fails with
// ErrClosed and leaves nothing.
func (rt *Runtime) Create(ctx context.Context, ref string, opts ...RunOption) (*Container, error) {
	return rt.create(ctx, ref, nil, opts...)
}

// create is Create of ref, resolved to img already unless img is nil (Run
// looks it up first, to pull it if missing).
func (rt *Runtime) create(ctx context.Context, ref string, img *Image, opts ...RunOption) (_ *Container, retErr error) {
	if err := rt.checkOpen(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	defer func() {
		if retErr != nil {
			retErr = rt.closedMeanwhile(retErr)
		}
	}()
	warmJSON()
	var rc runConfig
	for _, o := range opts {
		if err := o(&rc); err != nil {
			return nil, fmt.Errorf("create container: %w", err)
		}
	}
	if rc.stdio.detached && rc.stdio.stdin != nil { // refused here, not at Start
		return nil, fmt.Errorf("create container: %w: Detached with WithStdin: no one would be left to feed it (use WithOpenStdin and Attach)", ErrInvalidArgument)
	}
	if img == nil {
		var err error
		if img, err = rt.Image(ctx, ref); err != nil {
			return nil, fmt.Errorf("create container: %w", err)
		}
	}
	if len(img.rec.ChainIDs) == 0 {
		return nil, fmt.Errorf("create container: %w: image %s has no layers", ErrInvalidArgument, ref)
	}
	if err := rt.resolveMounts(ctx, img.Config().Volumes, &rc); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	id := newID()
	dir := rt.containerDir(id)
	lowerRoot := filepath.Dir(filepath.Dir(rt.snaps.Path(img.rec.ChainIDs[0])))
	var layers, lowers []string // top first
	for i := len(img.rec.ChainIDs) - 1; i >= 0; i-- {
		p := rt.snaps.Path(img.rec.ChainIDs[i])
		rel, err := filepath.Rel(lowerRoot, p)
		if err != nil {
			return nil, fmt.Errorf("create container: %w", err)
		}
		layers, lowers = append(layers, p), append(lowers, rel)
	}
	etc := map[string]string{}
	for _, name := range []string{"hostname", "hosts", "resolv.conf"} {
		etc["/etc/"+name] = filepath.Join(dir, name)
	}
	netMode, endpoints, err := rt.resolveNetworks(ctx, &rc) // network_attach_linux.go
	if err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	spec, err := buildSpec(id, filepath.Join(dir, "rootfs"), img, layers, &rc, etc)
	if err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	if l := spec.Linux; l != nil && l.Seccomp != nil {
		// Its filter, compiled meanwhile on another core for the start's
		// plan (initproc.Compile finds it in the cache): cold, as in a
		// one-shot process, compiling costs a few tenths of a millisecond.
		go func(p *specs.LinuxSeccomp) { _, _ = seccomp.CompileCached(p) }(l.Seccomp)
	}
	st := containerState{
		ID: id, Name: rc.name, Image: ref, ImageID: img.ID(), ImageDigest: img.Digest(), ChainIDs: img.rec.ChainIDs,
		Created: time.Now().UTC(), Hostname: spec.Hostname, Args: spec.Process.Args,
		Env: spec.Process.Env, Workdir: spec.Process.Cwd, User: rc.user,
		Memory: rc.memory, PidsLimit: rc.pidsLimit,
		Owner: os.Getpid(), OwnerStart: procStartTime(os.Getpid()), Cgroup: cgroup.Path(id),
	}
	_ = st.apply(actCreate, nil) // a new state: always allowed
	st.Labels = containerLabels(img.Config().Labels, rc.opts.labels)
	st.Mounts = rc.mountPoints()
	if st.User == "" {
		st.User = img.Config().User
	}
	if s := spec.Annotations[specpkg.AnnotationStopSignal]; s != "" {
		st.StopSignal = int(parseSignal(s))
	}
	st.StopTimeout, st.AutoRemove = rc.opts.stopTimeout, rc.opts.autoRemove
	st.Detached = rc.stdio.detached
	st.NetworkMode, st.Networks = netMode, endpoints
	st.Publish = rc.publishSpecs()
	st.OpenStdin, st.TTY = rc.stdio.open || rc.stdio.stdin != nil, rc.stdio.tty
	st.Entrypoint, st.Cmd = runEntrypointCmd(img.Config(), &rc) // commit.go
	// The health check and the restart policy: health.go.
	if err := st.setRunPolicies(img, &rc); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	initproc.Trace("P spec built")
	if err := rt.reserve(&st); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	initproc.Trace("P reserved")
	c := &Container{rt: rt, id: id, st: st}
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, c.cleanup(true), rt.removeAnonymousVolumes(st.Mounts))
		}
	}()
	// Not synced: Open puts back the holds a machine crash lost (repairHolds).
	if err := rt.store.PutHoldVolatile(holdFor(&st)); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	initproc.Trace("P hold put")
	// The init layer over the image's (snapshot.InitLayer): made once,
	// by the first container a root has that gets this far.
	initLayer, err := rt.snaps.InitLayer()
	if err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	if rel, err := filepath.Rel(lowerRoot, initLayer); err == nil {
		lowers = append([]string{rel}, lowers...)
	}
	if err := specpkg.WriteEtcFiles(dir, spec.Hostname); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	if err := dns.SetNameservers(filepath.Join(dir, "resolv.conf"), rc.dns); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	cfg := &initproc.Config{
		ID: id, Spec: spec, LowerRoot: lowerRoot, Lowers: lowers,
		Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work"),
		// What an owned or auto-removed container writes to its root does
		// not outlive the machine's uptime anyway: no syncs (docs/containers.md).
		Volatile: (!st.Detached || st.AutoRemove) && initproc.VolatileOverlay(),
		Log:      rc.logs.limits(), // in config.json: a Restart keeps them
	}
	initproc.Trace("P reserved, etc files")
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	if err := c.prepare(st, cfg, &rc); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	c.event("create", nil)
	return c, nil
}

// reserve takes the container's name and writes its first state under the
// containers lock, so two Creates (in any processes) never share a name.
func (rt *Runtime) reserve(st *containerState) error {
	unlock, err := rt.lockContainers()
	if err != nil {
		return err
	}
	defer unlock()
	if st.Name == "" {
		st.Name = "hull_" + st.ID[:12]
	}
	if o, err := rt.namedState(st.Name); err != nil {
		return err
	} else if o != nil {
		return fmt.Errorf("%w: the container name %q is already in use by container %s", ErrConflict, st.Name, shortContainerID(o.ID))
	}
	// The name first: a Create that dies after it leaves a link to a
	// container with no state, stale for the next one (namedState).
	if err := statedir.LinkName(rt.containersDir(), st.Name, st.ID); err != nil {
		return err
	}
	dir := rt.containerDir(st.ID)
	err = rt.reserveDir(dir, st)
	if err != nil {
		os.RemoveAll(dir)
		_ = statedir.UnlinkName(rt.containersDir(), st.Name, st.ID)
	}
	return err
}

// reserveDir makes the container's directory and writes its first state.
func (rt *Runtime) reserveDir(dir string, st *containerState) error {
	// The upper dir's mode becomes the container's "/": 0755 like an
	// image root, so that non-root users can use it.
	for _, d := range []string{"upper", "work", "rootfs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := rt.claimVolumes(st); err != nil { // volume_linux.go
		return err
	}
	return writeState(dir, st)
}

func (rt *Runtime) lockContainers() (func(), error) {
	l, err := fsutil.LockFile(filepath.Join(rt.containersDir(), ".lock"), fsutil.CreateDir)
	if err != nil {
		return nil, err
	}
	return l.Unlock, nil
}

// Start runs the container's command. Errors from inside the container
// (command not found, not executable) are *StartError values; the
// container is then exited with the matching exit code. Starting an exited
// container runs its command again over the same root filesystem, as
// `docker start`; starting a running one does nothing; a paused one is a
// *TransitionError (ErrConflict). If the Runtime is closed meanwhile, the
// error is ErrClosed.
func (c *Container) Start(ctx context.Context) error {
	c.userStart() // restartpolicy_linux.go
	if err := c.start(ctx); err != nil {
		return c.rt.closedMeanwhile(err)
	}
	return nil
}

func (c *Container) start(ctx context.Context) error {
	switch c.status() {
	case StatusExited:
		if err := c.respawn(ctx); err != nil {
			return launchError(c.id, err)
		}
	case StatusCreated:
		if c.live() == nil {
			if err := c.launchCreated(ctx); err != nil {
				return launchError(c.id, err)
			}
		}
	}
	c.mu.Lock()
	lp, status := c.lp, c.st.Status
	if status == StatusRunning {
		c.mu.Unlock()
		return nil // as `docker start`
	}
	if lp == nil || lp.cfgW == nil || !allowed(actStart, status) {
		c.mu.Unlock()
		return &TransitionError{ID: c.id, Action: string(actStart), Status: status}
	}
	c.eventLocked("start", nil) // before the process can exit: "start" comes before "die"
	initproc.Trace("P start")
	_, err := lp.cfgW.Write([]byte{1})
	lp.cfgW.Close()
	lp.cfgW = nil
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("start container %s: %w", shortContainerID(c.id), err)
	}
	m, err := lp.in.Next(ctx)
	lp.in.StatR.Close()
	if errors.Is(err, io.EOF) {
		// The status pipe closed on exec: the command runs (unless it
		// has exited already: the reaper recorded it).
		err := c.transition(actStart, nil, "")
		if _, refused := err.(*TransitionError); refused {
			return nil
		}
		if err == nil {
			c.startHealth(lp) // health_linux.go
		}
		return err
	}
	if err != nil {
		return fmt.Errorf("start container %s: %w", shortContainerID(c.id), err)
	}
	serr := startError(c.id, m)
	<-lp.done
	c.mu.Lock()
	c.st.Error = serr.Error()
	_ = writeState(c.rt.containerDir(c.id), &c.st)
	c.mu.Unlock()
	return serr
}

// reap waits for the init, records how it ended and removes the cgroup.
func (c *Container) reap() {
	lp := c.lp
	ended := lp.wait()
	c.stopDNS(lp)
	_ = lp.io.Close()
	var exit ExitStatus
	if ws := ended.Status; !ended.OK {
		exit.ExitCode = 137 // not ours to reap after all: as killed
	} else if ws.Signaled() {
		exit.Signal = ws.Signal()
		exit.ExitCode = 128 + int(exit.Signal)
	} else {
		exit.ExitCode = ws.ExitStatus()
	}
	exit.OOMKilled = lp.cg.OOMKilled()
	if lp.kind == "shim" {
		// The shim exits 128+n for a PID 1 killed by signal n: the
		// signal itself is in its exit.json.
		if data, err := os.ReadFile(filepath.Join(c.rt.containerDir(c.id), initproc.ExitName)); err == nil {
			var ex initproc.Exit
			if json.Unmarshal(data, &ex) == nil && ex.Code == exit.ExitCode {
				// Its shim read the OOM count before it removed the
				// cgroup.
				exit.Signal, exit.OOMKilled = syscall.Signal(ex.Signal), exit.OOMKilled || ex.OOMKilled
			}
		}
	}
	initproc.Trace("P reaped")
	c.removeRunCgroup(lp)
	initproc.Trace("P reap cgroup removed")
	_ = c.releaseExited(lp.proc.Pid)
	initproc.Trace("P reap released")
	c.mu.Lock()
	lp.exit = exit
	goAhead := lp.cfgW == nil // Start let the command run
	if lp.cfgW != nil {
		lp.cfgW.Close()
		lp.cfgW = nil
	}
	restart := c.planRestartLocked(exit, goAhead) // restartpolicy_linux.go
	// Not after Remove (statusNone): the directory is going.
	_ = c.transitionLocked(actExit, &exitRecord{code: exit.ExitCode, signal: int(exit.Signal), oomKilled: exit.OOMKilled, at: time.Now().UTC()}, "")
	c.mu.Unlock()
	c.emitExit(exit)
	close(lp.done)
	c.autoRemove()
	if restart != nil {
		restart()
	}
}

// live returns the process this Runtime owns, or nil; Start may replace
// it (a restart), so it is read under c.mu.
func (c *Container) live() *liveProcess {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lp
}

// Wait blocks until the container's process exits and returns how it
// ended. A created container's has not run yet: Wait returns once it has
// been started (from any process) and has exited. For a container
// another process owns, it polls. It returns at an exit that the restart
// policy follows with a restart too (ContainerInspect.State.Restarting).
func (c *Container) Wait(ctx context.Context) (ExitStatus, error) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		c.mu.Lock()
		lp, p := c.lp, c.pending
		c.mu.Unlock()
		if lp != nil {
			select {
			case <-lp.done:
				return lp.exit, nil
			case <-ctx.Done():
				return ExitStatus{}, ctx.Err()
			}
		}
		st, err := readState(c.rt.containerDir(c.id))
		if err != nil {
			return ExitStatus{}, fmt.Errorf("wait container %s: %w", shortContainerID(c.id), err)
		}
		if st.unstarted() {
			var launched chan struct{} // nil: started elsewhere, seen by polling
			if p != nil {
				launched = p.launched
			}
			select {
			case <-launched:
			case <-t.C:
			case <-ctx.Done():
				return ExitStatus{}, ctx.Err()
			}
			continue
		}
		// Looked at once: PID 1 may be reaped between two looks.
		gone := !st.alive() && !st.exitPending()
		if st.Status != StatusExited && gone {
			// Maybe gone since readState looked (a shim writes
			// exit.json, then reaps): read again, which merges it.
			if st, err = readState(c.rt.containerDir(c.id)); err != nil {
				return ExitStatus{}, fmt.Errorf("wait container %s: %w", shortContainerID(c.id), err)
			}
		}
		if st.Status == StatusExited || gone {
			c.mu.Lock()
			c.st = st
			c.mu.Unlock()
			return ExitStatus{ExitCode: st.ExitCode, Signal: syscall.Signal(st.ExitSignal), OOMKilled: st.OOMKilled}, nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return ExitStatus{}, ctx.Err()
		}
	}
}

// running reports whether the container's init exists and has not been
// reaped.
func (c *Container) running() bool {
	c.refresh() // another Runtime may have started it again
	if lp := c.live(); lp != nil {
		select {
		case <-lp.done:
			return false
		default:
			return true
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.Status != StatusExited && c.st.alive()
}

// Remove deletes the container: its process (with WithForce), its
// cgroup, its files and its hold on the image.
func (c *Container) Remove(ctx context.Context, opts ...RemoveOption) error {
	cfg, err := removeOptions(opts)
	if err != nil {
		return fmt.Errorf("remove container %s: %w", shortContainerID(c.id), err)
	}
	c.markStopped() // no restart by its policy: restartpolicy_linux.go
	c.mu.Lock()
	unstarted := c.lp == nil && c.st.unstarted() // as last seen: running() looks again
	c.mu.Unlock()
	if unstarted {
		// A Start (in any process) may be launching it: this Remove
		// comes before that launch or after it, never during it.
		if l, err := fsutil.LockFileContext(ctx, filepath.Join(c.rt.containerDir(c.id), "start.lock"), fsutil.Exclusive); err == nil {
			defer l.Unlock()
		}
	}
	c.mu.Lock()
	created := c.st.Status == StatusCreated
	c.mu.Unlock()
	if c.running() {
		// A created container's init only waits for Start: removing it
		// needs no force (as in Docker).
		if !cfg.force && !created {
			return fmt.Errorf("remove container %s: %w: container is running: stop it first, or force", shortContainerID(c.id), ErrConflict)
		}
		if err := c.signal(syscall.SIGKILL); err != nil && c.running() {
			return fmt.Errorf("remove container %s: %w", shortContainerID(c.id), err)
		}
		if _, err := c.Wait(ctx); err != nil {
			return fmt.Errorf("remove container %s: %w", shortContainerID(c.id), err)
		}
	}
	if err := c.cleanup(false); err != nil {
		return fmt.Errorf("remove container %s: %w", shortContainerID(c.id), err)
	}
	c.mu.Lock()
	mounts, auto := c.st.Mounts, c.st.AutoRemove
	c.mu.Unlock()
	if cfg.volumes || auto { // --rm: however the container goes, its anonymous volumes go too
		if err := c.rt.removeAnonymousVolumes(mounts); err != nil {
			return fmt.Errorf("remove container %s: %w", shortContainerID(c.id), err)
		}
	}
	c.event("destroy", nil)
	return nil
}

// cleanup removes what Create made: the cgroup, the hold, the directory
// (renamed out of sight, then deleted in the background unless now is
// set). The process must be gone (or never started).
func (c *Container) cleanup(now bool) error {
	rt := c.rt
	if lp := c.live(); lp != nil {
		_ = lp.proc.Kill()
		<-lp.done
		lp.in.StatR.Close()
	}
	var errs []error
	if cg := rt.loadCgroup(c.id); cg != nil {
		errs = append(errs, cg.RemoveSettled())
	}
	initproc.Trace("P cleanup cgroup")
	errs = append(errs, c.releaseNetworks())
	unlock, err := rt.lockContainers()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	defer unlock()
	// Under the lock, with the rename: repairHolds never sees the
	// directory without the hold.
	errs = append(errs, rt.store.DeleteHold(c.id))
	initproc.Trace("P cleanup hold, networks")
	c.mu.Lock()
	c.dropPendingLocked()                      // never launched: its attach socket goes
	_ = c.transitionLocked(actRemove, nil, "") // the reaper no longer writes the state
	name := c.st.Name
	c.mu.Unlock()
	dir := rt.containerDir(c.id)
	// Rename first so no reader sees a half-removed container.
	gone := filepath.Join(rt.containersDir(), ".removing-"+c.id)
	if err := os.Rename(dir, gone); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	} else if errs = append(errs, rt.objs.root.ForgetContainer(c.id),
		statedir.UnlinkName(rt.containersDir(), name, c.id)); err != nil {
		errs = append(errs, unmarkUnsettled(rt.containersDir(), c.id)) // gone already
	} else if now {
		errs = append(errs, os.RemoveAll(gone), unmarkUnsettled(rt.containersDir(), c.id))
	} else {
		// Out of sight now: its files (a few ms of unlinks) go in the
		// background; Close waits for them. It stays listed as
		// unsettled until they have gone: if this process dies first,
		// the next Open's settle deletes what is left.
		rt.ctrs.dirDel.Add(1)
		go func() {
			defer rt.ctrs.dirDel.Done()
			if os.RemoveAll(gone) == nil {
				_ = unmarkUnsettled(rt.containersDir(), c.id)
			}
		}()
	}
	rt.ctrs.mu.Lock()
	delete(rt.ctrs.owned, c.id)
	rt.ctrs.mu.Unlock()
	return errors.Join(errs...)
}

// closeContainers kills and removes every container this Runtime owns,
// runs also (closeNetworks) while their veths and directories are being
// deleted, and releases the sealed binary. Runtime.Close calls it.
func (rt *Runtime) closeContainers(also func() error) error {
	rt.ctrs.mu.Lock()
	var owned []*Container
	for _, c := range rt.ctrs.owned {
		owned = append(owned, c)
	}
	rt.ctrs.mu.Unlock()
	var errs []error
	for _, c := range owned {
		c.cancelRestart()
		if c.detached() {
			continue // it outlives us: stdio.go
		}
		if c.refresh(); c.live() == nil && !c.isPending() {
			continue // started elsewhere: no longer ours (lifecycle_linux.go)
		}
		errs = append(errs, c.Remove(context.Background(), WithForce()))
	}
	// The default network's bridge goes while the veths go: each link's
	// deletion waits for an RCU barrier, and together they overlap
	// (`hull run --rm` on the default network: 76 -> 50 ms of teardown).
	alsoErr := make(chan error, 1)
	go func() { alsoErr <- also() }()
	rt.ctrs.linkDel.Wait()
	rt.ctrs.dirDel.Wait()
	errs = append(errs, <-alsoErr)
	// Every start that might exec the sealed binary has returned; a later
	// initExe gets ErrClosed.
	rt.ctrs.spawner.Close()
	rt.ctrs.exeOnce.Do(func() { rt.ctrs.exeErr = ErrClosed })
	if rt.ctrs.exe != nil {
		errs = append(errs, rt.ctrs.exe.Close())
	}
	return errors.Join(errs...)
}
