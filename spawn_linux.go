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
	// sets Reaper and Detached). A plan init holds one of our threads
	// until it execs (initproc.Spawn): every launch is Start's, which
	// sends the go-ahead at once (Create starts no process).
	plan, usePlan := initproc.Compile(cfg)
	usePlan = usePlan && !rt.goInit && spawn.PlanFits(cmd, cfg)
	initproc.Trace("P compiled")
	status := bufio.NewReader(statR)
	l := &spawn.Launch{Cmd: cmd, CfgR: cfgR, CfgW: cfgW, StatR: statR, StatW: statW, Status: status, Copied: &sio.Copied,
		StartError: func(m initproc.Message) error { return startError(cfg.ID, m) }}
	var proc *os.Process
	var wait func() *os.ProcessState
	kind, join := "plan", cg.Add
	if usePlan {
		proc, err = rt.ctrs.spawner.StartPlan(ctx, l, plan)
		wait = func() *os.ProcessState {
			ps, _ := proc.Wait()
			return ps
		}
		join = cg.MoveIn // not born in it
	} else if cfg.Detached {
		kind = "shim"
		cfg.OOMFile = cg.OOMFile()
		err = rt.fromExe(l, cg, func() (err error) {
			proc, wait, err = rt.ctrs.spawner.StartShim(l, cfg)
			return err
		})
	} else {
		var warm bool
		err = rt.fromExe(l, cg, func() (err error) {
			cmd, cfgW, statR, warm, err = rt.ctrs.spawner.StartGoInit(l)
			return err
		})
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
	err = spawnErr(err)
	cfgR.Close()
	statW.Close()
	sio.Started()
	if err != nil {
		cfgW.Close()
		statR.Close()
		return nil, errors.Join(fmt.Errorf("start init: %w", err), cg.Remove(), sio.Close())
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
	if err := sio.AttachConsole(ctx); err != nil {
		return lp, err
	}
	// Only now: a Go init's runtime has made its threads.
	if err := cg.SetPidsLimit(rc.pidsLimit); err != nil {
		return lp, fmt.Errorf("pids limit: %w", err)
	}
	return lp, nil
}

// fromExe runs start, which starts the shim or the Go init from the
// sealed binary (initExe) in the container's cgroup (its v2 directory,
// open until start returns).
func (rt *Runtime) fromExe(l *spawn.Launch, cg *cgroup.Cgroup, start func() error) error {
	exe, err := rt.initExe()
	if err != nil {
		return err
	}
	cgFD, err := cg.DirFD()
	if err != nil {
		return err
	}
	if cgFD != nil {
		defer cgFD.Close()
	}
	l.Exe, l.CgroupFD = exe, cgFD
	return start()
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
