package hull

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hullbox/hull/internal/initproc"
	specpkg "github.com/hullbox/hull/internal/spec"
	"golang.org/x/sys/unix"
)

// liveProcess is a container init this Runtime started and will reap.
type liveProcess struct {
	proc   *os.Process
	wait   func() *os.ProcessState // reaps proc
	kind   string                  // the init: "plan", "go" or "go-warm" (a warm one, warm_linux.go)
	cfgW   *os.File                // the start byte goes here; nil once sent
	status *bufio.Reader           // reports from the init
	statR  *os.File
	cg     *cgroup
	io     *containerStdio // logs, stdin, terminal: stdio_linux.go
	rc     *runConfig      // the options it ran with, for a restart: restart_linux.go
	done   chan struct{}   // closed once reaped and recorded
	dns    ownerDNS        // the DNS this process serves for it (under the container's mu): dns_serve_linux.go
	exit   ExitStatus
}

// Create creates a container from a local image (see Image for what ref
// may be) and starts its init, which sets up the namespaces, cgroup and
// root filesystem and then waits for Start. It does not pull: Run does.
// The container belongs to this Runtime until Removed (see Container).
// Run starts faster: knowing that Start follows, it may use an init that
// is not an exec of this program (docs/containers.md, "Two inits"). A
// Create that Close overtakes fails with ErrClosed and leaves nothing.
func (rt *Runtime) Create(ctx context.Context, ref string, opts ...RunOption) (*Container, error) {
	return rt.create(ctx, ref, nil, opts...)
}

// create is Create of ref, resolved to img already unless img is nil (Run
// looks it up first, to pull it if missing).
func (rt *Runtime) create(ctx context.Context, ref string, img *Image, opts ...RunOption) (_ *Container, retErr error) {
	if err := rt.checkOpen(); err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			retErr = rt.closedMeanwhile(retErr)
		}
	}()
	var rc runConfig
	for _, o := range opts {
		if err := o(&rc); err != nil {
			return nil, fmt.Errorf("create container: %w", err)
		}
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
	id := newContainerID()
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
	st := containerState{
		ID: id, Name: rc.name, Image: ref, ImageDigest: img.Digest(), ChainIDs: img.rec.ChainIDs,
		Created: time.Now().UTC(), Hostname: spec.Hostname, Args: spec.Process.Args,
		Env: spec.Process.Env, Workdir: spec.Process.Cwd, User: rc.user,
		Memory: rc.memory, PidsLimit: rc.pidsLimit, Status: StatusCreated,
		Owner: os.Getpid(), OwnerStart: procStartTime(os.Getpid()), Cgroup: cgroupPath(id),
	}
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
	if err := writeEtcFiles(dir, spec.Hostname); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	if err := writeDNSServers(dir, rc.dns); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	cfg := &initproc.Config{
		ID: id, Spec: spec, LowerRoot: lowerRoot, Lowers: lowers,
		Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work"),
		// What an owned or auto-removed container writes to its root does
		// not outlive the machine's uptime anyway: no syncs (docs/containers.md).
		Volatile: (!st.Detached || st.AutoRemove) && volatileOverlay(),
	}
	initproc.Trace("P reserved, etc files")
	if err := rt.prepareNetworks(&c.st, cfg, &rc, true); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	initproc.Trace("P networks prepared")
	// config.json is for inspection only (the init gets its config over a
	// pipe): no need for an atomic, synced write on the start path.
	if err := os.WriteFile(filepath.Join(dir, "config.json"), mustJSON(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	lp, err := rt.spawn(ctx, cfg, &rc)
	if lp != nil {
		c.lp = lp
		c.st.Pid, c.st.PidStart = lp.proc.Pid, procStartTime(lp.proc.Pid)
		go c.reap() // c.st is shared from here on: under c.mu
	}
	if err != nil {
		return nil, err
	}
	if err := c.attachNetworks(ctx, &rc); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	initproc.Trace("P networks attached")
	if err := c.serveDNS(); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	c.mu.Lock()
	err = writeState(dir, &c.st)
	c.mu.Unlock()
	initproc.Trace("P state written")
	if err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	rt.ctrs.mu.Lock()
	if rt.ctrs.owned == nil {
		rt.ctrs.owned = map[string]*Container{}
	}
	rt.ctrs.owned[id] = c
	rt.ctrs.mu.Unlock()
	// A Close that ran meanwhile did not see this container: undo it.
	if err := rt.checkOpen(); err != nil {
		return nil, err
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
	states, err := rt.readStates()
	if err != nil {
		return err
	}
	if st.Name == "" {
		st.Name = "hull_" + st.ID[:12]
	}
	for _, o := range states {
		if o.Name == st.Name {
			return fmt.Errorf("%w: the container name %q is already in use by container %s", ErrConflict, st.Name, shortContainerID(o.ID))
		}
	}
	dir := rt.containerDir(st.ID)
	// The upper dir's mode becomes the container's "/": 0755 like an
	// image root, so that non-root users can use it.
	for _, d := range []string{"upper", "work", "rootfs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := rt.claimVolumes(st); err != nil { // volume_linux.go
		os.RemoveAll(dir)
		return err
	}
	if err := writeState(dir, st); err != nil {
		os.RemoveAll(dir)
		return err
	}
	return nil
}

func (rt *Runtime) lockContainers() (func(), error) {
	return lockFile(filepath.Join(rt.containersDir(), ".lock"))
}

// volatileOverlay tells whether the kernel knows overlayfs's "volatile"
// option (Linux 5.10).
var volatileOverlay = sync.OnceValue(func() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 5 || major == 5 && minor >= 10
})

// spawn starts the init in new namespaces, puts it in the cgroup, sends
// its config and waits until it reports ready. The returned liveProcess is
// non-nil once a process exists, even on error: the caller reaps it.
func (rt *Runtime) spawn(ctx context.Context, cfg *initproc.Config, rc *runConfig) (_ *liveProcess, retErr error) {
	if cfg.Volatile { // the mark the last volatile mount left, which fails the next (initproc.Config.Volatile)
		if err := os.RemoveAll(filepath.Join(cfg.Work, initproc.VolatileMarker)); err != nil {
			return nil, fmt.Errorf("create container: %w", err)
		}
	}
	initproc.Trace("P spawn begin")
	cg, err := rt.newCgroup(cfg.ID, rc.memory, rc.pidsLimit)
	if err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	if err := cg.setResources(cfg.Spec.Linux.Resources); err != nil {
		return nil, errors.Join(fmt.Errorf("create container: %w", err), cg.remove())
	}
	initproc.Trace("P cgroup made")
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, errors.Join(err, cg.remove())
	}
	statR, statW, err := os.Pipe()
	if err != nil {
		cfgR.Close()
		cfgW.Close()
		return nil, errors.Join(err, cg.remove())
	}
	cmd := &exec.Cmd{
		Args:       []string{"hull-init", cfg.ID},
		Env:        []string{initproc.Env + "=1", "GOMAXPROCS=1", "GOGC=off"},
		ExtraFiles: []*os.File{cfgR, statW},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET,
			Pdeathsig:  syscall.SIGKILL,
		},
	}
	if rc.net.mode == NetworkModeHost {
		cmd.SysProcAttr.Cloneflags &^= unix.CLONE_NEWNET
	}
	sio, err := rt.wireStdio(cfg, rc, cmd)
	if err != nil {
		for _, f := range []*os.File{cfgR, cfgW, statR, statW} {
			f.Close()
		}
		return nil, errors.Join(fmt.Errorf("create container: %w", err), cg.remove())
	}
	if cfg.Reaper {
		cmd.Env = append(cmd.Env, initproc.ReaperEnv+"=1") // WithInit: no warm init then
	}
	// Most containers get a plan init, the rest the Go one (see
	// initproc.Compile): decided once the config is complete (wireStdio
	// sets Reaper and Detached). A container created to be started later gets
	// the Go init too: a plan init would hold one of our threads until
	// then (initproc.Spawn).
	plan, usePlan := initproc.Compile(cfg)
	usePlan = usePlan && rc.startNow && !rt.goInit && planFits(cmd, cfg)
	initproc.Trace("P compiled")
	status := bufio.NewReader(statR)
	var proc *os.Process
	var wait func() *os.ProcessState
	kind, join := "plan", cg.add
	if usePlan {
		proc, err = rt.startPlan(ctx, cfg.ID, cmd, plan, &sio.copied, cfgR, cfgW, statR, statW, status)
		wait = func() *os.ProcessState {
			ps, _ := proc.Wait()
			return ps
		}
		join = cg.moveIn // not born in it
	} else if cfg.Detached {
		kind = "shim"
		proc, wait, err = rt.startShim(cmd, cg, cfg, statW, status)
	} else {
		var warm bool
		cmd, cfgW, statR, warm, err = rt.startGoInit(cmd, cg, sio, cfgR, cfgW, statR, statW)
		if err == nil {
			proc = cmd.Process
			status = bufio.NewReader(statR)
			wait = func() *os.ProcessState {
				_ = cmd.Wait()
				return cmd.ProcessState
			}
		}
		kind = "go"
		if warm {
			kind, join = "go-warm", cg.moveIn
		}
	}
	cfgR.Close()
	statW.Close()
	sio.started()
	if err != nil {
		cfgW.Close()
		statR.Close()
		return nil, errors.Join(fmt.Errorf("create container: start init: %w", err), cg.remove(), sio.close())
	}
	lp := &liveProcess{proc: proc, wait: wait, kind: kind, cfgW: cfgW, status: status, statR: statR, cg: cg, io: sio, rc: rc, done: make(chan struct{})}
	defer func() {
		if retErr != nil {
			_ = proc.Kill()
			if kind == "shim" {
				// A shim waiting for the config would wait for ever
				// (and the reaper for it): EOF makes it give up.
				_ = cfgW.Close()
			}
		}
	}()
	if err := join(proc.Pid); err != nil {
		return lp, fmt.Errorf("create container: join cgroup: %w", err)
	}
	initproc.Trace("P init started, in its cgroup")
	if usePlan {
		_, err = cfgW.Write([]byte{1}) // go (initproc.Spawn)
	} else {
		err = initproc.WriteConfig(cfgW, cfg)
	}
	if err != nil {
		return lp, fmt.Errorf("create container: send config: %w", err)
	}
	m, err := lp.next(ctx)
	if errors.Is(err, io.EOF) {
		err = errors.New("container init exited before it was ready (its stderr went to WithStderr)")
	}
	if err != nil {
		return lp, fmt.Errorf("create container %s: %w", shortContainerID(cfg.ID), err)
	}
	if m.Type != "ready" {
		return lp, startError(cfg.ID, m)
	}
	initproc.Trace("P init ready")
	if err := sio.attachConsole(ctx); err != nil {
		return lp, fmt.Errorf("create container %s: %w", shortContainerID(cfg.ID), err)
	}
	// Only now: a Go init's runtime has made its threads.
	if err := cg.setPidsLimit(rc.pidsLimit); err != nil {
		return lp, fmt.Errorf("create container: pids limit: %w", err)
	}
	return lp, nil
}

// startShim starts a Detached container's shim (internal/initproc's
// ShimMode) with cmd's pipes, outside the container's namespaces and
// cgroup, in its own session; the shim starts the init, with cmd's
// namespaces, as its child and reports its pid: proc is that init. wait
// waits for the shim, which ends as the init did once it has written
// exit.json. Everything the container must keep when this process is
// gone (its log, attach socket, DNS, exit status) is the shim's, and
// nothing of it is within the container's reach.
func (rt *Runtime) startShim(cmd *exec.Cmd, cg *cgroup, cfg *initproc.Config, statW *os.File, status *bufio.Reader) (*os.Process, func() *os.ProcessState, error) {
	exe, err := rt.initExe()
	if err != nil {
		return nil, nil, err
	}
	args := initproc.ShimArgs{ID: cfg.ID, Cloneflags: cmd.SysProcAttr.Cloneflags, TTY: cfg.Spec.Process.Terminal,
		OpenStdin: cfg.OpenStdin, Reaper: cfg.Reaper}
	cgFD, err := cg.dirFD()
	if err != nil {
		return nil, nil, err
	}
	if cgFD != nil {
		defer cgFD.Close()
		args.CgroupFD = 3 + len(cmd.ExtraFiles)
		cmd.ExtraFiles = append(cmd.ExtraFiles, cgFD)
	}
	cfg.OOMFile = cg.oomFile()
	// What goes wrong in the shim (its log, DNS) is told there.
	shimLog, err := os.OpenFile(filepath.Join(cfg.Dir, "shim.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	defer shimLog.Close()
	cmd.Stdout, cmd.Stderr = nil, shimLog
	cmd.Path, cmd.Args = exe.path(), []string{"hull-shim", cfg.ID}
	cmd.Env = []string{initproc.Env + "=" + initproc.ShimMode, initproc.ShimEnv + "=" + string(mustJSON(args))}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd, err = rt.ctrs.spawner.start(cmd)
	if err != nil {
		return nil, nil, err
	}
	wait := func() *os.ProcessState {
		_ = cmd.Wait()
		return cmd.ProcessState
	}
	statW.Close() // the shim's and its init's now: EOF if both are gone
	m, err := initproc.ReadMessage(status)
	if err == nil && m.Type != "pid" {
		err = startError(cfg.ID, m)
	}
	var proc *os.Process
	if err == nil {
		proc, err = os.FindProcess(m.Pid)
	}
	if err != nil {
		_ = cmd.Process.Kill()
		wait()
		return nil, nil, fmt.Errorf("shim: %w", err)
	}
	return proc, wait, nil
}

// startGoInit starts cmd, the Go init, or has a warm one stand in for it
// (warm_linux.go) with its own pipes, which it returns in place of cfgW
// and statR (and warm true).
func (rt *Runtime) startGoInit(cmd *exec.Cmd, cg *cgroup, sio *containerStdio, cfgR, cfgW, statR, statW *os.File) (_ *exec.Cmd, _, _ *os.File, warm bool, _ error) {
	exe, err := rt.initExe()
	if err != nil {
		return cmd, cfgW, statR, false, err
	}
	cmd.Path = exe.path()
	cgFD, err := cg.dirFD()
	if err != nil {
		return cmd, cfgW, statR, false, err
	}
	if cgFD != nil {
		defer cgFD.Close()
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(cgFD.Fd())
	}
	// A warm init stands in for cmd, with cmd's streams and its own pipes.
	w := rt.ctrs.spawner.takeWarm(exe.path(), cmd) // warm_linux.go
	if w != nil && w.adopt(cmd, &sio.copied) != nil {
		w.discard()
		w = nil
	}
	if w == nil {
		cmd, err := rt.ctrs.spawner.start(cmd)
		return cmd, cfgW, statR, false, err
	}
	for _, f := range []*os.File{cfgR, cfgW, statR, statW} {
		f.Close()
	}
	return w.cmd, w.cfgW, w.statR, true, nil
}

// planFits reports whether a plan init can be what cmd would start: it
// has cmd's namespaces, streams and pdeathsig, nothing else of its
// SysProcAttr. And one that shares our memory must not be moved into a
// cpuset with memory nodes of its own: the kernel would move our pages.
func planFits(cmd *exec.Cmd, cfg *initproc.Config) bool {
	a := cmd.SysProcAttr
	if a.Setsid || a.Setpgid || a.Setctty || a.Noctty || a.Foreground || a.Credential != nil ||
		a.Ptrace || a.Unshareflags != 0 || a.UseCgroupFD || len(cmd.ExtraFiles) != 2 || cmd.Dir != "" {
		return false
	}
	r := cfg.Spec.Linux.Resources
	return r == nil || r.CPU == nil || r.CPU.Mems == ""
}

// startPlan starts a plan init (initproc.Spawn) with cmd's streams and
// namespaces, and returns it once it has reported its pid: by then it
// holds its copies of the descriptors given, and the caller may close
// them. If it cannot, no init is left.
func (rt *Runtime) startPlan(ctx context.Context, id string, cmd *exec.Cmd, plan []byte, copied *sync.WaitGroup, cfgR, cfgW, statR, statW *os.File, status *bufio.Reader) (*os.Process, error) {
	streams, ours, err := childStreams(cmd, copied)
	defer func() {
		for _, f := range ours {
			f.Close()
		}
	}()
	if err != nil {
		return nil, err
	}
	var stdio [3]int
	for i, f := range streams {
		stdio[i] = -1
		if f != nil {
			stdio[i] = int(f.Fd())
		}
	}
	a := cmd.SysProcAttr
	res := rt.ctrs.spawner.spawnPlan(cloneRequest{plan: plan, cloneflags: a.Cloneflags, stdio: stdio,
		cfg: int(cfgR.Fd()), stat: int(statW.Fd()), pdeathsig: a.Pdeathsig})
	cloned := make(chan cloneResult, 1)
	go func() {
		r := <-res
		// The init has exec'd or is gone: if it died before its pid,
		// the read below must end.
		statW.Close()
		cloned <- r
	}()
	stop := context.AfterFunc(ctx, func() { _ = statR.SetReadDeadline(time.Now()) })
	m, err := initproc.ReadMessage(status)
	stop()
	if err == nil && m.Type == "pid" {
		initproc.Trace("P init cloned")
		return os.FindProcess(m.Code)
	}
	// No pid: the clone failed, or the init did before it could say it.
	// Without the go byte, an init waiting for it exits; reap it.
	cfgW.Close()
	r := <-cloned
	if r.pid > 0 {
		if p, ferr := os.FindProcess(r.pid); ferr == nil {
			_, _ = p.Wait()
		}
	}
	switch {
	case r.err != nil:
		return nil, r.err
	case err == nil && m.Type == "error":
		return nil, startError(id, m)
	case err == nil:
		return nil, fmt.Errorf("init reported %q before its pid", m.Type)
	case errors.Is(err, io.EOF):
		return nil, errors.New("container init exited before it was ready")
	case ctx.Err() != nil:
		return nil, ctx.Err()
	}
	return nil, err
}

// next reads the init's next report, giving up when ctx ends.
func (lp *liveProcess) next(ctx context.Context) (initproc.Message, error) {
	stop := context.AfterFunc(ctx, func() { _ = lp.statR.SetReadDeadline(time.Now()) })
	defer stop()
	m, err := initproc.ReadMessage(lp.status)
	if err != nil && ctx.Err() != nil {
		return m, ctx.Err()
	}
	if errors.Is(err, io.EOF) {
		return m, io.EOF
	}
	return m, err
}

func startError(id string, m initproc.Message) error {
	var err error = errors.New(m.Message)
	if m.Errno != 0 {
		err = &errnoError{msg: m.Message, errno: syscall.Errno(m.Errno)}
	}
	return &StartError{ID: id, Stage: m.Stage, ExitCode: m.Code, Err: err}
}

// errnoError is a message from the init that carries an errno.
type errnoError struct {
	msg   string
	errno syscall.Errno
}

func (e *errnoError) Error() string { return e.msg }
func (e *errnoError) Unwrap() error { return e.errno }

// Start runs the container's command. Errors from inside the container
// (command not found, not executable) are *StartError values; the
// container is then exited with the matching exit code. Starting an exited
// container runs its command again over the same root filesystem, as
// `docker start`; starting a running one does nothing; a paused one is a
// *TransitionError (ErrConflict). If the Runtime is closed meanwhile, the
// error is ErrClosed.
func (c *Container) Start(ctx context.Context) error {
	if err := c.start(ctx); err != nil {
		return c.rt.closedMeanwhile(err)
	}
	return nil
}

func (c *Container) start(ctx context.Context) error {
	if c.status() == StatusExited {
		if err := c.respawn(ctx); err != nil {
			return err
		}
	}
	c.mu.Lock()
	lp, status := c.lp, c.st.Status
	if status == StatusRunning {
		c.mu.Unlock()
		return nil
	}
	if lp == nil || lp.cfgW == nil || status != StatusCreated {
		c.mu.Unlock()
		return &TransitionError{ID: c.id, Action: "start", Status: status}
	}
	c.st.StartedAt = time.Now().UTC()
	c.eventLocked("start", nil) // before the process can exit: "start" comes before "die"
	initproc.Trace("P start")
	_, err := lp.cfgW.Write([]byte{1})
	lp.cfgW.Close()
	lp.cfgW = nil
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("start container %s: %w", shortContainerID(c.id), err)
	}
	m, err := lp.next(ctx)
	lp.statR.Close()
	if errors.Is(err, io.EOF) {
		// The status pipe closed on exec: the command runs.
		c.mu.Lock()
		if c.st.Status == StatusCreated {
			c.st.Status = StatusRunning
		}
		werr := writeState(c.rt.containerDir(c.id), &c.st)
		c.mu.Unlock()
		return werr
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
	ps := lp.wait()
	c.stopDNS(lp)
	_ = lp.io.close()
	var exit ExitStatus
	if ps == nil {
		exit.Code = 137 // not ours to reap after all: as killed
	} else if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
		if ws.Signaled() {
			exit.Signal = ws.Signal()
			exit.Code = 128 + int(exit.Signal)
		} else {
			exit.Code = ws.ExitStatus()
		}
	}
	exit.OOMKilled = lp.cg.oomKilled()
	if lp.kind == "shim" {
		// The shim exits 128+n for a PID 1 killed by signal n: the
		// signal itself is in its exit.json.
		if data, err := os.ReadFile(filepath.Join(c.rt.containerDir(c.id), exitName)); err == nil {
			var ex initproc.Exit
			if json.Unmarshal(data, &ex) == nil && ex.Code == exit.Code {
				exit.Signal = syscall.Signal(ex.Signal)
			}
		}
	}
	initproc.Trace("P reaped")
	_ = lp.cg.remove()
	initproc.Trace("P reap cgroup removed")
	_ = c.releaseExited(lp.proc.Pid)
	initproc.Trace("P reap released")
	c.mu.Lock()
	lp.exit = exit
	if lp.cfgW != nil {
		lp.cfgW.Close()
		lp.cfgW = nil
	}
	if c.st.Status != "" {
		c.st.Status = StatusExited
		c.st.ExitCode, c.st.ExitSignal, c.st.OOMKilled = exit.Code, int(exit.Signal), exit.OOMKilled
		c.st.FinishedAt = time.Now().UTC()
		if _, err := os.Stat(c.rt.containerDir(c.id)); err == nil {
			_ = writeState(c.rt.containerDir(c.id), &c.st)
		}
	}
	c.mu.Unlock()
	c.emitExit(exit)
	close(lp.done)
	c.autoRemove()
}

// Wait blocks until the container's process exits and returns how it
// ended. For a container another process owns, it polls.
func (c *Container) Wait(ctx context.Context) (ExitStatus, error) {
	if lp := c.live(); lp != nil {
		select {
		case <-lp.done:
			return lp.exit, nil
		case <-ctx.Done():
			return ExitStatus{}, ctx.Err()
		}
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		st, err := readState(c.rt.containerDir(c.id))
		if err != nil {
			return ExitStatus{}, fmt.Errorf("wait container %s: %w", shortContainerID(c.id), err)
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
			return ExitStatus{Code: st.ExitCode, Signal: syscall.Signal(st.ExitSignal), OOMKilled: st.OOMKilled}, nil
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

// Kill sends sig to the container's main process. It fails with
// ErrConflict if the container is not running. As in Docker, a PID 1 that
// has no handler for sig ignores it (SIGKILL always works).
func (c *Container) Kill(sig syscall.Signal) error {
	if !c.running() {
		return fmt.Errorf("kill container %s: %w: container is not running", shortContainerID(c.id), ErrConflict)
	}
	var err error
	if lp := c.live(); lp != nil {
		err = lp.proc.Signal(sig)
	} else {
		err = unix.Kill(c.st.Pid, sig)
	}
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill container %s: %w", shortContainerID(c.id), err)
	}
	if sig == syscall.SIGKILL {
		c.thawAfterKill()
	}
	c.event("kill", map[string]string{"signal": strconv.Itoa(int(sig))})
	return nil
}

// Stop sends the stop signal (WithStopSignal, else the image's STOPSIGNAL,
// else SIGTERM), waits up to timeout for the container to exit, then sends
// SIGKILL. A negative timeout means the container's WithStopTimeout, else
// 10 seconds. Stopping a container that is not running does nothing.
func (c *Container) Stop(ctx context.Context, timeout time.Duration) error {
	sig := syscall.SIGTERM
	c.mu.Lock()
	if c.st.StopSignal != 0 {
		sig = syscall.Signal(c.st.StopSignal)
	}
	if timeout < 0 {
		timeout = c.st.stopTimeout()
	}
	c.mu.Unlock()
	if err := c.Kill(sig); err != nil {
		if !c.running() {
			return nil
		}
		return fmt.Errorf("stop container %s: %w", shortContainerID(c.id), err)
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	_, err := c.Wait(tctx)
	cancel()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := c.Kill(syscall.SIGKILL); err != nil && c.running() {
		return fmt.Errorf("stop container %s: %w", shortContainerID(c.id), err)
	}
	_, err = c.Wait(ctx)
	return err
}

// Remove deletes the container: its process (with WithForceRemove), its
// cgroup, its files and its hold on the image.
func (c *Container) Remove(ctx context.Context, opts ...RemoveOption) error {
	var cfg removeConfig
	for _, o := range opts {
		o(&cfg)
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
		if err := c.Kill(syscall.SIGKILL); err != nil && c.running() {
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
		lp.statR.Close()
	}
	var errs []error
	if cg := rt.loadCgroup(c.id); cg != nil {
		errs = append(errs, removeCgroupSettled(cg))
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
	c.st.Status = "" // the reaper no longer writes the state
	c.mu.Unlock()
	dir := rt.containerDir(c.id)
	// Rename first so no reader sees a half-removed container.
	gone := filepath.Join(rt.containersDir(), ".removing-"+c.id)
	if err := os.Rename(dir, gone); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	} else if err == nil && now {
		errs = append(errs, os.RemoveAll(gone))
	} else if err == nil {
		// Out of sight now: its files (a few ms of unlinks) go in the
		// background. Close waits for them; a crash leaves the directory
		// to the next Open (recoverContainers).
		rt.ctrs.dirDel.Add(1)
		go func() {
			defer rt.ctrs.dirDel.Done()
			_ = os.RemoveAll(gone)
		}()
	}
	rt.ctrs.mu.Lock()
	delete(rt.ctrs.owned, c.id)
	rt.ctrs.mu.Unlock()
	return errors.Join(errs...)
}

// closeContainers kills and removes every container this Runtime owns and
// releases the sealed binary. Runtime.Close calls it.
func (rt *Runtime) closeContainers() error {
	rt.ctrs.mu.Lock()
	var owned []*Container
	for _, c := range rt.ctrs.owned {
		owned = append(owned, c)
	}
	rt.ctrs.mu.Unlock()
	var errs []error
	for _, c := range owned {
		if c.detached() {
			continue // it outlives us: stdio.go
		}
		if c.refresh(); c.live() == nil {
			continue // restarted elsewhere: no longer ours (lifecycle_linux.go)
		}
		errs = append(errs, c.Remove(context.Background(), WithForceRemove()))
	}
	rt.ctrs.linkDel.Wait()
	rt.ctrs.dirDel.Wait()
	// Every start that might exec the sealed binary has returned; a later
	// initExe gets ErrClosed.
	rt.ctrs.spawner.close()
	rt.ctrs.exeOnce.Do(func() { rt.ctrs.exeErr = ErrClosed })
	if rt.ctrs.exe != nil {
		errs = append(errs, rt.ctrs.exe.close())
	}
	return errors.Join(errs...)
}

// recoverContainers repairs what dead owners left: their live containers
// are killed (they are not Detached; pdeathsig normally did it already),
// cgroups removed, and state marked exited. Open calls it.
func (rt *Runtime) recoverContainers() error {
	// Half-removed directories.
	if olds, _ := filepath.Glob(filepath.Join(rt.containersDir(), ".removing-*")); len(olds) > 0 {
		for _, o := range olds {
			_ = os.RemoveAll(o)
		}
	}
	rt.removeLostStates()
	if err := rt.repairHolds(); err != nil {
		return err
	}
	states, err := rt.readStates()
	if err != nil {
		return err
	}
	var errs []error
	for i := range states {
		errs = append(errs, rt.thawAbandoned(&states[i]))
	}
	for _, st := range states {
		// A Detached one runs on, or its shim is recording its exit
		// (looked at once: PID 1 may be reaped between two looks, and
		// then exit.json is written: read again, which merges it).
		pending := st.Detached && (st.alive() || st.exitPending())
		if st.Detached && !pending && st.Status != StatusExited {
			if again, err := readState(rt.containerDir(st.ID)); err == nil {
				st = again
			}
		}
		if st.Status == StatusExited || st.ownerAlive() || pending {
			continue
		}
		if st.alive() {
			_ = unix.Kill(st.Pid, unix.SIGKILL)
			if st.Status == StatusPaused {
				rt.thawForKill(st.ID) // frozen tasks would not die
			}
			for i := 0; i < 200 && st.alive(); i++ {
				time.Sleep(5 * time.Millisecond)
			}
		}
		if cg := rt.loadCgroup(st.ID); cg != nil {
			// Killed tasks leave the cgroup a moment after the init dies.
			errs = append(errs, removeCgroupSettled(cg))
		}
		st.Status, st.ExitCode, st.ExitSignal, st.FinishedAt = StatusExited, 137, 9, time.Now().UTC()
		errs = append(errs, writeState(rt.containerDir(st.ID), &st))
	}
	return errors.Join(errs...)
}

// repairHolds puts back the image holds of the root's containers that a
// machine crash lost (Create writes them without fsync) and drops those of
// containers that are gone.
func (rt *Runtime) repairHolds() error {
	unlock, err := rt.lockContainers()
	if err != nil {
		return err
	}
	defer unlock()
	states, err := rt.readStates()
	if err != nil {
		return err
	}
	var errs []error
	for _, st := range states {
		errs = append(errs, rt.store.RepairHold(holdFor(&st)))
	}
	ids, err := rt.store.HoldIDs()
	for _, id := range ids {
		if _, serr := os.Stat(rt.containerDir(id)); errors.Is(serr, fs.ErrNotExist) {
			errs = append(errs, rt.store.DeleteHold(id))
		}
	}
	return errors.Join(append(errs, err)...)
}

// removeLostStates removes the containers whose state a machine crash
// destroyed (errStateLost): their processes died with the machine, and
// without the state nothing else could ever remove them.
func (rt *Runtime) removeLostStates() {
	entries, _ := os.ReadDir(rt.containersDir())
	for _, e := range entries {
		if !e.IsDir() || len(e.Name()) != 64 {
			continue
		}
		dir := rt.containerDir(e.Name())
		if _, err := readState(dir); !errors.Is(err, errStateLost) {
			continue
		}
		gone := filepath.Join(rt.containersDir(), ".removing-"+e.Name())
		if os.Rename(dir, gone) == nil {
			_ = os.RemoveAll(gone)
			_ = rt.store.DeleteHold(e.Name())
		}
	}
}

func newContainerID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func parseSignal(s string) syscall.Signal {
	if n, err := strconv.Atoi(s); err == nil {
		return syscall.Signal(n)
	}
	if len(s) < 3 || s[:3] != "SIG" {
		s = "SIG" + s
	}
	return unix.SignalNum(s)
}
