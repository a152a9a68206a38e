package spawn

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/hullbox/hull/internal/cgroup"
	"github.com/hullbox/hull/internal/initproc"
	"golang.org/x/sys/unix"
)

// Streams are a container's standard streams as the owner wires them
// (internal/stdio.Streams), seen from the launch.
type Streams interface {
	Copies() *sync.WaitGroup                 // the copies of the output (Launch.Copied)
	Started()                                // the init holds its ends (or never will)
	AttachConsole(ctx context.Context) error // takes the terminal the init sends back
	Close() error
}

// InitRequest is what StartInit takes.
type InitRequest struct {
	Config      *initproc.Config
	HostNetwork bool           // the init keeps the host's network namespace
	Cgroup      *cgroup.Cgroup // made, with its limits; StartInit removes it if no process starts
	PidsLimit   int64          // set once the init is ready (a Go init makes threads first)
	ForceGo     bool           // never a plan init (a test's switch)
	// Wire connects the init's command to the container's streams; it
	// may change Config (initproc.Config.Reaper, Detached...).
	Wire func(cmd *exec.Cmd) (Streams, error)
	// Exe returns the sealed binary the Go init and the shim run from.
	Exe func() (*Exe, error)
	// StartError makes the init's report of a failure the caller's error.
	StartError func(initproc.Message) error
}

// Init is a container's init as StartInit started it.
type Init struct {
	Proc    *os.Process
	Wait    func() Ended  // reaps Proc (or, for a warm shim, learns its exit)
	Kind    string        // "plan", "go", "go-warm" (a warm Go init) or "shim"
	Plan    []byte        // a plan init's (initproc.Word words its failures)
	CfgW    *os.File      // the config pipe's write end
	Status  *bufio.Reader // the init's reports, from StatR
	StatR   *os.File
	Streams Streams
}

// StartInit starts a container's init in new namespaces (the host's
// network with HostNetwork), in its cgroup: a plan init cloned from this
// process when the config allows (initproc.Compile), a Detached
// container's shim, or a Go init from the sealed binary (a warm one when
// one fits). It gives the init its go-ahead (a plan's byte, or the Go
// init's config) and waits until the init reports ready, then takes the
// terminal and sets the pids limit. The Init is non-nil once a process
// exists, even on error: the caller reaps it (a failed start's init has
// been killed). Without one, the cgroup is removed and the streams closed.
func (s *Spawner) StartInit(ctx context.Context, r InitRequest) (_ *Init, retErr error) {
	cfg, cg := r.Config, r.Cgroup
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
	if r.HostNetwork {
		cmd.SysProcAttr.Cloneflags &^= unix.CLONE_NEWNET
	}
	sio, err := r.Wire(cmd)
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
	// initproc.Compile): decided once the config is complete (Wire sets
	// Reaper and Detached). A plan init holds one of our threads until it
	// execs (initproc.Spawn): the go-ahead below is sent at once.
	cfg.JoinTasks = cg.TasksFiles() // the init joins its v1 cgroup itself
	plan, compiled := initproc.Compile(cfg)
	compiled = compiled && !r.ForceGo
	usePlan := compiled && !cfg.Detached && PlanFits(cmd, cfg)
	// A Detached container's shim clones the plan init (ShimArgs.Plan).
	shimPlan := compiled && cfg.Detached && memsFree(cfg)
	initproc.Trace("P compiled")
	status := bufio.NewReader(statR)
	l := &Launch{Cmd: cmd, CfgR: cfgR, CfgW: cfgW, StatR: statR, StatW: statW, Status: status, Copied: sio.Copies(),
		StartError: r.StartError, JoinTasks: cfg.JoinTasks}
	// An init that joins its cgroup itself (v1: the plan, or a cold Go
	// init's constructor) is not moved in: see Config.JoinTasks.
	joined := func(int) error { return nil }
	var proc *os.Process
	var wait func() Ended
	kind, join := "plan", cg.Add
	if usePlan {
		proc, err = s.StartPlan(ctx, l, plan)
		wait = func() Ended {
			ps, _ := proc.Wait()
			return endedOf(ps)
		}
		join = cg.MoveIn // not born in it
		if len(cfg.JoinTasks) > 0 {
			join = joined
		}
	} else if cfg.Detached {
		kind = "shim"
		cfg.OOMFile, cfg.CgroupDirs = cg.OOMFile(), cg.Dirs()
		if !shimPlan {
			plan = nil
		}
		err = fromExe(l, r, func() (err error) {
			proc, wait, err = s.StartShim(l, cfg, plan)
			return err
		})
		if shimPlan || len(cfg.JoinTasks) > 0 {
			join = joined // the shim moves its plan init in (v2)
		}
	} else {
		var warm bool
		err = fromExe(l, r, func() (err error) {
			cmd, cfgW, statR, warm, err = s.StartGoInit(l)
			return err
		})
		if err == nil {
			proc = cmd.Process
			status = bufio.NewReader(statR)
			wait = func() Ended {
				_ = cmd.Wait()
				return endedOf(cmd.ProcessState)
			}
		}
		kind = "go"
		if warm {
			kind, join = "go-warm", cg.MoveIn
		} else if len(cfg.JoinTasks) > 0 {
			join = joined
		}
	}
	cfgR.Close()
	statW.Close()
	sio.Started()
	if err != nil {
		cfgW.Close()
		statR.Close()
		return nil, errors.Join(fmt.Errorf("start init: %w", err), cg.Remove(), sio.Close())
	}
	if !usePlan && !shimPlan {
		plan = nil
	}
	in := &Init{Proc: proc, Wait: wait, Kind: kind, Plan: plan, CfgW: cfgW, Status: status, StatR: statR, Streams: sio}
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
		return in, fmt.Errorf("join cgroup: %w", err)
	}
	initproc.Trace("P init started, moved in or joining its cgroup")
	switch {
	case shimPlan: // its shim gives it the go-ahead
	case usePlan:
		_, err = cfgW.Write([]byte{1}) // go (initproc.Spawn)
	default:
		err = initproc.WriteConfig(cfgW, cfg)
	}
	if err != nil {
		return in, fmt.Errorf("send config: %w", err)
	}
	m, err := in.Next(ctx)
	if errors.Is(err, io.EOF) {
		err = errors.New("container init exited before it was ready (its stderr went to WithStderr)")
	}
	if err != nil {
		return in, err
	}
	if m.Type != "ready" {
		return in, r.StartError(m)
	}
	initproc.Trace("P init ready")
	if err := sio.AttachConsole(ctx); err != nil {
		return in, err
	}
	// Only now: a Go init's runtime has made its threads.
	if err := cg.SetPidsLimit(r.PidsLimit); err != nil {
		return in, fmt.Errorf("pids limit: %w", err)
	}
	return in, nil
}

// Ended is how an init (or a Detached container's shim) ended, as
// wait(2) tells it; OK false if it could not be told (not ours to reap).
type Ended struct {
	Status syscall.WaitStatus
	OK     bool
}

func endedOf(ps *os.ProcessState) Ended {
	if ps == nil {
		return Ended{}
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return Ended{Status: ws, OK: ok}
}

// fromExe runs start, which starts the shim or the Go init from the
// sealed binary in the container's cgroup (its v2 directory, open until
// start returns).
func fromExe(l *Launch, r InitRequest, start func() error) error {
	exe, err := r.Exe()
	if err != nil {
		return err
	}
	cgFD, err := r.Cgroup.DirFD()
	if err != nil {
		return err
	}
	if cgFD != nil {
		defer cgFD.Close()
	}
	l.Exe, l.CgroupFD = exe, cgFD
	return start()
}

// Next reads the init's next report, worded (a plan init's failures have
// no words), giving up when ctx ends; io.EOF once the init closed its
// status pipe.
func (in *Init) Next(ctx context.Context) (initproc.Message, error) {
	stop := context.AfterFunc(ctx, func() { _ = in.StatR.SetReadDeadline(time.Now()) })
	defer stop()
	m, err := initproc.ReadMessage(in.Status)
	m = initproc.Word(in.Plan, m)
	if err != nil && ctx.Err() != nil {
		return m, ctx.Err()
	}
	if errors.Is(err, io.EOF) {
		return m, io.EOF
	}
	return m, err
}
