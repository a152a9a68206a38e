package hull

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hullbox/hull/internal/cgroup"
	"github.com/hullbox/hull/internal/initproc"
	"github.com/hullbox/hull/internal/spawn"
	"golang.org/x/sys/unix"
)

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
			return nil, err
		}
	}
	initproc.Trace("P spawn begin")
	cg, err := rt.newCgroup(cfg.ID, rc.memory, rc.pidsLimit)
	if err != nil {
		return nil, err
	}
	if err := cg.SetResources(cfg.Spec.Linux.Resources); err != nil {
		return nil, errors.Join(cgroupErr(err), cg.Remove())
	}
	initproc.Trace("P cgroup made")
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, errors.Join(err, cg.Remove())
	}
	statR, statW, err := os.Pipe()
	if err != nil {
		cfgR.Close()
		cfgW.Close()
		return nil, errors.Join(err, cg.Remove())
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
		return nil, errors.Join(err, cg.Remove())
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
	kind, join := "plan", cg.Add
	if usePlan {
		proc, err = rt.startPlan(ctx, cfg.ID, cmd, plan, &sio.copied, cfgR, cfgW, statR, statW, status)
		wait = func() *os.ProcessState {
			ps, _ := proc.Wait()
			return ps
		}
		join = cg.MoveIn // not born in it
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
			kind, join = "go-warm", cg.MoveIn
		}
	}
	cfgR.Close()
	statW.Close()
	sio.started()
	if err != nil {
		cfgW.Close()
		statR.Close()
		return nil, errors.Join(fmt.Errorf("start init: %w", err), cg.Remove(), sio.close())
	}
	if !usePlan {
		plan = nil
	}
	lp := &liveProcess{proc: proc, wait: wait, kind: kind, plan: plan, cfgW: cfgW, status: status, statR: statR, cg: cg, io: sio, rc: rc, done: make(chan struct{})}
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
		return lp, fmt.Errorf("join cgroup: %w", err)
	}
	initproc.Trace("P init started, in its cgroup")
	if usePlan {
		_, err = cfgW.Write([]byte{1}) // go (initproc.Spawn)
	} else {
		err = initproc.WriteConfig(cfgW, cfg)
	}
	if err != nil {
		return lp, fmt.Errorf("send config: %w", err)
	}
	m, err := lp.next(ctx)
	if errors.Is(err, io.EOF) {
		err = errors.New("container init exited before it was ready (its stderr went to WithStderr)")
	}
	if err != nil {
		return lp, err
	}
	if m.Type != "ready" {
		return lp, startError(cfg.ID, m)
	}
	initproc.Trace("P init ready")
	if err := sio.attachConsole(ctx); err != nil {
		return lp, err
	}
	// Only now: a Go init's runtime has made its threads.
	if err := cg.SetPidsLimit(rc.pidsLimit); err != nil {
		return lp, fmt.Errorf("pids limit: %w", err)
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
func (rt *Runtime) startShim(cmd *exec.Cmd, cg *cgroup.Cgroup, cfg *initproc.Config, statW *os.File, status *bufio.Reader) (*os.Process, func() *os.ProcessState, error) {
	exe, err := rt.initExe()
	if err != nil {
		return nil, nil, err
	}
	args := initproc.ShimArgs{ID: cfg.ID, Cloneflags: cmd.SysProcAttr.Cloneflags, TTY: cfg.Spec.Process.Terminal,
		OpenStdin: cfg.OpenStdin, Reaper: cfg.Reaper}
	cgFD, err := cg.DirFD()
	if err != nil {
		return nil, nil, err
	}
	if cgFD != nil {
		defer cgFD.Close()
		args.CgroupFD = 3 + len(cmd.ExtraFiles)
		cmd.ExtraFiles = append(cmd.ExtraFiles, cgFD)
	}
	cfg.OOMFile = cg.OOMFile()
	// What goes wrong in the shim (its log, DNS) is told there.
	shimLog, err := os.OpenFile(filepath.Join(cfg.Dir, "shim.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	defer shimLog.Close()
	cmd.Stdout, cmd.Stderr = nil, shimLog
	cmd.Path, cmd.Args = exe.Path(), []string{"hull-shim", cfg.ID}
	cmd.Env = []string{initproc.Env + "=" + initproc.ShimMode, initproc.ShimEnv + "=" + string(mustJSON(args))}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd, err = rt.spawnStart(cmd)
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
// (internal/spawn.WarmInit) with its own pipes, which it returns in place of cfgW
// and statR (and warm true).
func (rt *Runtime) startGoInit(cmd *exec.Cmd, cg *cgroup.Cgroup, sio *containerStdio, cfgR, cfgW, statR, statW *os.File) (_ *exec.Cmd, _, _ *os.File, warm bool, _ error) {
	exe, err := rt.initExe()
	if err != nil {
		return cmd, cfgW, statR, false, err
	}
	cmd.Path = exe.Path()
	cgFD, err := cg.DirFD()
	if err != nil {
		return cmd, cfgW, statR, false, err
	}
	if cgFD != nil {
		defer cgFD.Close()
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(cgFD.Fd())
	}
	// A warm init stands in for cmd, with cmd's streams and its own pipes.
	w := rt.ctrs.spawner.TakeWarm(exe.Path(), cmd) // internal/spawn
	if w != nil && adoptWarm(w, cmd, &sio.copied) != nil {
		w.Discard()
		w = nil
	}
	if w == nil {
		cmd, err := rt.spawnStart(cmd)
		return cmd, cfgW, statR, false, err
	}
	for _, f := range []*os.File{cfgR, cfgW, statR, statW} {
		f.Close()
	}
	return w.Cmd, w.CfgW, w.StatR, true, nil
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
	res := rt.ctrs.spawner.SpawnPlan(spawn.PlanRequest{Plan: plan, Cloneflags: a.Cloneflags, Stdio: stdio,
		Cfg: int(cfgR.Fd()), Stat: int(statW.Fd()), Pdeathsig: a.Pdeathsig})
	cloned := make(chan spawn.PlanResult, 1)
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
	if r.Pid > 0 {
		if p, ferr := os.FindProcess(r.Pid); ferr == nil {
			_, _ = p.Wait()
		}
	}
	switch {
	case r.Err != nil:
		return nil, spawnErr(r.Err)
	case err == nil && m.Type == "error":
		return nil, startError(id, initproc.Word(plan, m))
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
	m = initproc.Word(lp.plan, m) // a plan init's failures have no words
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
