package spawn

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hullbox/hull/internal/initproc"
	"golang.org/x/sys/unix"
)

// Launch is what starting a container's init takes, whichever init it is
// (StartPlan, StartShim, StartGoInit): the command the Go init would be,
// with its namespaces, streams and the config and status pipes as its
// ExtraFiles, and the owner's ends of those pipes.
type Launch struct {
	// Cmd is the Go init's command, not started: Args, Env, SysProcAttr
	// (Cloneflags, Pdeathsig), Stdin/Stdout/Stderr and ExtraFiles
	// {CfgR, StatW}, plus the console socket with a terminal.
	Cmd *exec.Cmd
	// CfgR and CfgW are the config pipe (the init reads CfgR); StatR and
	// StatW the status pipe (the init writes StatW); Status reads StatR.
	CfgR, CfgW, StatR, StatW *os.File
	Status                   *bufio.Reader
	// Copied counts the goroutines copying the init's output into
	// writers that are no files (childStreams).
	Copied *sync.WaitGroup
	// Exe is the sealed binary (StartShim and StartGoInit only).
	Exe *Exe
	// CgroupFD is the container's cgroup v2 directory, which the init is
	// born in (nil on cgroup v1; StartShim and StartGoInit only).
	CgroupFD *os.File
	// StartError makes the init's report of a failure the caller's error.
	StartError func(initproc.Message) error
	// NS and Fork are an exec's (StartPlan only): a pidfd of the
	// container's init, whose namespaces it joins, and where its child's
	// pid goes.
	NS   *os.File
	Fork *initproc.ForkSlot
	// JoinTasks are the cgroup v1 tasks files a cold Go init (or a
	// shim's) joins by itself before Go starts (initproc.JoinEnv).
	JoinTasks []string
}

// StartShim starts a Detached container's shim (internal/initproc's
// ShimMode) with l.Cmd's pipes, outside the container's namespaces and
// cgroup, in its own session; the shim starts the init, with l.Cmd's
// namespaces, as its child and reports its pid: proc is that init. wait
// waits for the shim, which ends as the init did once it has written
// exit.json. Everything the container must keep when this process is
// gone (its log, attach socket, DNS, exit status) is the shim's, and
// nothing of it is within the container's reach. The shim logs to
// shim.log in cfg.Dir.
//
// With a plan (initproc.Compile's), the shim clones a plan init from it
// (ShimArgs.Plan): StartShim sends it the config and the plan at once;
// the init reports to the caller directly, its pid first; the shim puts
// it in its cgroup and gives it its go-ahead, so the caller only waits
// for "ready", then sends the start byte straight to the init. Without,
// the shim starts the Go init, and the caller sends the config.
func (s *Spawner) StartShim(l *Launch, cfg *initproc.Config, plan []byte) (proc *os.Process, wait func() Ended, _ error) {
	cmd := l.Cmd
	args := initproc.ShimArgs{ID: cfg.ID, Cloneflags: cmd.SysProcAttr.Cloneflags, TTY: cfg.Spec.Process.Terminal,
		OpenStdin: cfg.OpenStdin, Reaper: cfg.Reaper, JoinTasks: l.JoinTasks, Plan: plan != nil}
	if plan != nil {
		args.JoinTasks = nil // the plan's first steps
	}
	// A plan init's go-ahead is the shim's to give: its own copy of the
	// config pipe's write end.
	var goW *os.File
	if plan != nil {
		var err error
		if goW, err = dupFile(l.CfgW, "go"); err != nil {
			return nil, nil, err
		}
		defer goW.Close()
	}
	// What goes wrong in the shim (its log, DNS) is told there.
	shimLog, err := os.OpenFile(filepath.Join(cfg.Dir, "shim.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	defer shimLog.Close()
	if w := s.takeShim(l.Exe.Path()); w != nil {
		if err := w.assign(args, l.CfgR, l.StatW, shimLog, goW, l.CgroupFD); err != nil {
			w.discard()
			return nil, nil, fmt.Errorf("shim: %w", err)
		}
		cmd = w.cmd
		wait = func() Ended {
			if code, ok := w.exited(); ok {
				s.giveBack(w)
				return Ended{Status: syscall.WaitStatus(code << 8), OK: true} // exited with code
			}
			_ = cmd.Wait()
			w.ctl.Close()
			return endedOf(cmd.ProcessState)
		}
	} else {
		if goW != nil {
			args.GoFD = 3 + len(cmd.ExtraFiles)
			cmd.ExtraFiles = append(cmd.ExtraFiles, goW)
		}
		if l.CgroupFD != nil {
			args.CgroupFD = 3 + len(cmd.ExtraFiles)
			cmd.ExtraFiles = append(cmd.ExtraFiles, l.CgroupFD)
		}
		argsJSON, err := json.Marshal(args)
		if err != nil {
			return nil, nil, err
		}
		cmd.Stdout, cmd.Stderr = nil, shimLog
		cmd.Path, cmd.Args = l.Exe.Path(), []string{"hull-shim", cfg.ID}
		cmd.Env = []string{initproc.Env + "=" + initproc.ShimMode, initproc.ShimEnv + "=" + string(argsJSON)}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if cmd, err = s.Start(cmd); err != nil {
			return nil, nil, err
		}
	}
	if wait == nil {
		wait = func() Ended {
			_ = cmd.Wait()
			return endedOf(cmd.ProcessState)
		}
	}
	l.StatW.Close() // the shim's and its init's now: EOF if both are gone
	if plan != nil {
		// The shim's and its init's now: a write fails if both are gone.
		l.CfgR.Close()
		err = initproc.WritePlan(l.CfgW, cfg, plan)
	}
	var m initproc.Message
	if err == nil {
		m, err = initproc.ReadMessage(l.Status)
	}
	if err == nil && m.Type != "pid" {
		err = l.StartError(initproc.Word(plan, m))
	}
	if err == nil {
		pid := m.Pid // the shim's report
		if plan != nil {
			pid = m.Code // the plan init's own (initproc.Spawn)
		}
		proc, err = os.FindProcess(pid)
	}
	if err != nil {
		_ = cmd.Process.Kill()
		wait()
		return nil, nil, fmt.Errorf("shim: %w", err)
	}
	return proc, wait, nil
}

// dupFile is a copy of f's descriptor (close-on-exec), made without
// taking f out of the poller as f.Fd would.
func dupFile(f *os.File, name string) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	cerr := rc.Control(func(d uintptr) { fd, err = unix.FcntlInt(d, unix.F_DUPFD_CLOEXEC, 3) })
	if cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// StartGoInit starts l.Cmd, the Go init, from the sealed binary in its
// cgroup, or has a warm one stand in for it (WarmInit) with its own
// pipes, which it returns in place of l.CfgW and l.StatR (and warm true).
func (s *Spawner) StartGoInit(l *Launch) (_ *exec.Cmd, cfgW, statR *os.File, warm bool, _ error) {
	cmd := l.Cmd
	cmd.Path = l.Exe.Path()
	if l.CgroupFD != nil {
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(l.CgroupFD.Fd())
	}
	// A warm init stands in for cmd, with cmd's streams and its own pipes.
	w := s.TakeWarm(l.Exe.Path(), cmd)
	if w != nil && adoptWarm(w, cmd, l.Copied) != nil {
		w.Discard()
		w = nil
	}
	if w == nil {
		if len(l.JoinTasks) > 0 {
			cmd.Env = append(cmd.Env, initproc.JoinEnv+"="+initproc.JoinEnvValue(l.JoinTasks))
		}
		cmd, err := s.Start(cmd)
		return cmd, l.CfgW, l.StatR, false, err
	}
	for _, f := range []*os.File{l.CfgR, l.CfgW, l.StatR, l.StatW} {
		f.Close()
	}
	return w.Cmd, w.CfgW, w.StatR, true, nil
}

// adoptWarm has the warm init w stand in for cmd, with cmd's streams
// (childStreams: a writer that is no file gets a pipe copied into it
// under copied).
func adoptWarm(w *WarmInit, cmd *exec.Cmd, copied *sync.WaitGroup) error {
	streams, ours, err := childStreams(cmd, copied)
	defer func() {
		for _, f := range ours {
			f.Close()
		}
	}()
	if err != nil {
		return err
	}
	return w.Adopt(streams)
}

// PlanFits reports whether a plan init can be what cmd would start: it
// has cmd's namespaces, streams, pdeathsig and console socket (the third
// of ExtraFiles, with a terminal), nothing else of its SysProcAttr. And
// one that shares our memory must not be moved into a cpuset with memory
// nodes of its own: the kernel would move our pages.
func PlanFits(cmd *exec.Cmd, cfg *initproc.Config) bool {
	a := cmd.SysProcAttr
	files := 2
	if cfg.Spec.Process.Terminal {
		files = 3
	}
	if a.Setsid || a.Setpgid || a.Setctty || a.Noctty || a.Foreground || a.Credential != nil ||
		a.Ptrace || a.Unshareflags != 0 || a.UseCgroupFD || len(cmd.ExtraFiles) != files || cmd.Dir != "" {
		return false
	}
	return memsFree(cfg)
}

// memsFree reports whether cfg's container may hold a process that shares
// our memory (a plan init until it execs): not in a cpuset with memory
// nodes of its own, where the kernel would move our pages.
func memsFree(cfg *initproc.Config) bool {
	r := cfg.Spec.Linux.Resources
	return r == nil || r.CPU == nil || r.CPU.Mems == ""
}

// StartPlan starts a plan init (initproc.Spawn) of plan with l.Cmd's
// streams, namespaces and console socket (the third of its ExtraFiles, if
// any), and returns it once it has reported its pid: by then it holds its
// copies of the descriptors given, and the caller may close them. If it
// cannot, no init is left.
func (s *Spawner) StartPlan(ctx context.Context, l *Launch, plan []byte) (*os.Process, error) {
	cmd := l.Cmd
	streams, ours, err := childStreams(cmd, l.Copied)
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
	console, ns := -1, -1
	if len(cmd.ExtraFiles) > 2 {
		console = int(cmd.ExtraFiles[2].Fd())
	}
	if l.NS != nil {
		ns = int(l.NS.Fd())
	}
	a := cmd.SysProcAttr
	res := s.SpawnPlan(PlanRequest{Plan: plan, Cloneflags: a.Cloneflags, Stdio: stdio,
		Cfg: int(l.CfgR.Fd()), Stat: int(l.StatW.Fd()), Console: console, NS: ns, Pdeathsig: a.Pdeathsig, Fork: l.Fork})
	cloned := make(chan PlanResult, 1)
	go func() {
		r := <-res
		// The init has exec'd or is gone: if it died before its pid,
		// the read below must end.
		l.StatW.Close()
		cloned <- r
	}()
	stop := context.AfterFunc(ctx, func() { _ = l.StatR.SetReadDeadline(time.Now()) })
	m, err := initproc.ReadMessage(l.Status)
	stop()
	if err == nil && m.Type == "pid" {
		initproc.Trace("P init cloned")
		return os.FindProcess(m.Code)
	}
	// No pid: the clone failed, or the init did before it could say it.
	// Without the go byte, an init waiting for it exits; reap it.
	l.CfgW.Close()
	r := <-cloned
	if r.Pid > 0 {
		if p, ferr := os.FindProcess(r.Pid); ferr == nil {
			_, _ = p.Wait()
		}
	}
	switch {
	case r.Err != nil:
		return nil, r.Err
	case err == nil && m.Type == "error":
		return nil, l.StartError(initproc.Word(plan, m))
	case err == nil:
		return nil, fmt.Errorf("init reported %q before its pid", m.Type)
	case errors.Is(err, io.EOF):
		return nil, errors.New("container init exited before it was ready")
	case ctx.Err() != nil:
		return nil, ctx.Err()
	}
	return nil, err
}

// childStreams returns the files a child gets as cmd's stdin, stdout and
// stderr (nil: /dev/null). A writer that is no file gets a pipe, copied
// into it under copied; ours are those pipes' write ends, which the
// caller closes once the child holds its copies.
func childStreams(cmd *exec.Cmd, copied *sync.WaitGroup) (files [3]*os.File, ours []*os.File, err error) {
	switch in := cmd.Stdin.(type) {
	case nil:
	case *os.File:
		files[0] = in
	default:
		return files, nil, fmt.Errorf("init stdin: %T is no file", in)
	}
	for i, out := range []io.Writer{cmd.Stdout, cmd.Stderr} {
		switch o := out.(type) {
		case nil:
		case *os.File:
			files[1+i] = o
		default:
			r, w, err := os.Pipe()
			if err != nil {
				return files, ours, err
			}
			ours = append(ours, w)
			files[1+i] = w
			copied.Add(1)
			go func() {
				defer copied.Done()
				_, _ = io.Copy(o, r)
				r.Close()
			}()
		}
	}
	return files, ours, nil
}
