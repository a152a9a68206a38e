package hull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/hullbox/hull/internal/initproc"
	"github.com/hullbox/hull/internal/seccomp"
	specpkg "github.com/hullbox/hull/internal/spec"
	"github.com/hullbox/hull/internal/stdio"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Exec runs argv as a new process in the running container: in its
// namespaces and cgroup, on its root filesystem, with its environment,
// user, capabilities, rlimits, no_new_privs and seccomp filter (each
// overridable by options where Docker allows it). It blocks until the
// process exits and its output is copied. A command that does not exist or
// cannot be run is not an error: like docker exec, ExitCode is 127 or 126
// and the reason goes to WithExecStderr. Cancelling ctx kills the process.
// It fails with ErrConflict if the container is not running, and with
// ErrClosed if its Runtime is closed meanwhile (the process is killed).
func (c *Container) Exec(ctx context.Context, argv []string, opts ...ExecOption) (ExecResult, error) {
	var ec execConfig
	for _, o := range opts {
		if err := o(&ec); err != nil {
			return ExecResult{}, fmt.Errorf("exec in container %s: %w", shortContainerID(c.id), err)
		}
	}
	if len(argv) == 0 || argv[0] == "" {
		return ExecResult{}, fmt.Errorf("exec in container %s: %w: no command", shortContainerID(c.id), ErrInvalidArgument)
	}
	res, err := c.exec(ctx, argv, &ec)
	if err != nil {
		return res, fmt.Errorf("exec in container %s: %w", shortContainerID(c.id), c.rt.closedMeanwhile(err))
	}
	return res, nil
}

// needCgo is Open's check that this build can do everything: on Linux
// every Exec and most container starts run C code (initproc's plan.c), so
// a build without cgo fails at Open rather than at the first Exec.
func needCgo() error {
	if !initproc.CgoBuilt {
		return fmt.Errorf("%w: hull was built without cgo (CGO_ENABLED=0); on Linux it needs cgo", ErrUnsupported)
	}
	return nil
}

// execPid returns the container init's PID if the container is running.
func (c *Container) execPid() (int, error) {
	if c.lp == nil {
		st, err := readState(c.rt.containerDir(c.id))
		if err != nil {
			return 0, err
		}
		c.mu.Lock()
		c.st = st
		c.mu.Unlock()
	}
	c.mu.Lock()
	status, pid := c.st.Status, c.st.Pid
	c.mu.Unlock()
	if !allowed(actExec, status) || !c.running() {
		return 0, fmt.Errorf("%w: container is not running", ErrConflict)
	}
	return pid, nil
}

// execBase is a running container's config as its execs start from it:
// config.json read once per start of its init (initStart, the init's
// start time), its seccomp filter compiled.
type execBase struct {
	initStart uint64
	cfg       *initproc.Config
}

// execBaseConfig returns the config of the container's init that started
// at start (execBase), read now if it is not the one kept.
func (c *Container) execBaseConfig(start uint64) (*initproc.Config, error) {
	c.mu.Lock()
	b := c.execBase
	c.mu.Unlock()
	if b.cfg != nil && b.initStart == start {
		return b.cfg, nil
	}
	data, err := os.ReadFile(filepath.Join(c.rt.containerDir(c.id), "config.json"))
	if err != nil {
		return nil, err
	}
	var cfg initproc.Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("container config: %w", err)
	}
	if cfg.Spec == nil || cfg.Spec.Process == nil {
		return nil, errors.New("container config has no process")
	}
	if l := cfg.Spec.Linux; l != nil && l.Seccomp != nil && cfg.SeccompBPF == nil {
		prog, err := seccomp.CompileCached(l.Seccomp)
		if err != nil {
			return nil, fmt.Errorf("container config: %w", err)
		}
		cfg.SeccompBPF = seccomp.Encode(prog)
	}
	c.mu.Lock()
	c.execBase = execBase{initStart: start, cfg: &cfg}
	c.mu.Unlock()
	return &cfg, nil
}

// execConfig derives the exec'd process's config from the container's
// (execBaseConfig), which it leaves as it is.
func (c *Container) execConfig(pid int, argv []string, ec *execConfig) (*initproc.Config, error) {
	c.mu.Lock()
	start := c.st.PidStart
	c.mu.Unlock()
	base, err := c.execBaseConfig(start)
	if err != nil {
		return nil, err
	}
	s := *base.Spec
	p := *s.Process
	s.Process = &p
	p.Args = argv
	p.Env = mergeEnv(p.Env, ec.env)
	if ec.workdir != "" {
		p.Cwd = ec.workdir
	}
	if ec.user != "" {
		// The root of that very process, not of one that took its pid.
		root, err := procRoot(pid, start)
		if err != nil {
			return nil, err
		}
		defer unix.Close(root)
		uid, gid, groups, _, err := specpkg.ResolveUser("/proc/self/fd/"+strconv.Itoa(root), ec.user)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
		}
		p.User = specs.User{UID: uid, GID: gid, AdditionalGids: groups}
	}
	p.Terminal = ec.tty
	p.ConsoleSize = nil
	if ec.tty {
		p.ConsoleSize = &specs.Box{Height: uint(ec.rows), Width: uint(ec.cols)}
		if !slices.ContainsFunc(p.Env, func(e string) bool { return strings.HasPrefix(e, "TERM=") }) {
			p.Env = append(p.Env, "TERM=xterm") // as docker exec -t
		}
	}
	return &initproc.Config{ID: c.id, Spec: &s, SeccompBPF: base.SeccompBPF}, nil
}

func (c *Container) exec(ctx context.Context, argv []string, ec *execConfig) (_ ExecResult, retErr error) {
	pid, err := c.execPid()
	if err != nil {
		return ExecResult{}, err
	}
	cfg, err := c.execConfig(pid, argv, ec)
	if err != nil {
		return ExecResult{}, err
	}
	plan, err := initproc.CompileExec(cfg, pid)
	if err != nil {
		return ExecResult{}, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	cg := c.rt.loadCgroup(c.id)
	if cg == nil {
		return ExecResult{}, fmt.Errorf("%w: container is not running (no cgroup)", ErrConflict)
	}
	ns, err := c.initPidfd(pid)
	if err != nil {
		return ExecResult{}, err
	}
	initproc.Trace("P exec compiled")
	x, err := stdio.NewExec(ec.stdin, ec.stdout, ec.stderr, ec.tty)
	if err != nil {
		ns.Close()
		return ExecResult{}, err
	}
	defer x.Close()
	fork := initproc.NewForkSlot()
	x.L.NS, x.L.Fork = ns, fork
	helper, err := c.rt.ctrs.spawner.StartPlan(ctx, x.L, plan)
	x.Started()
	ns.Close()
	if err != nil {
		fork.Free()
		return ExecResult{}, fmt.Errorf("start: %w", spawnErr(err))
	}
	// The helper exits once its child, the command's process, has exec'd
	// or died; the child is our own child. On a failure, the child goes
	// first: while it lives, its helper must (the child shares our memory
	// until it execs: the helper's wait is what keeps the kernel from
	// taking it for a process of its own, and a container can stop it).
	var cmd *os.Process // the command's
	reaped := false     // cmd was waited for: its pid may be another's now
	defer func() {
		if retErr != nil && !reaped {
			if cmd == nil {
				cmd, _ = findChild(fork.Pid()) // unreaped: still ours
			}
			if cmd != nil {
				_ = cmd.Kill()
				_, _ = cmd.Wait()
			}
			_ = helper.Kill()
		}
		_, _ = helper.Wait()
		fork.Free() // the helper is gone: no clone can write it now
	}()
	// The helper joins the container's cgroup namespace once it is in
	// the cgroup, where its child is born.
	initproc.Trace("P exec helper cloned")
	if err := cg.MoveIn(helper.Pid); err != nil {
		return ExecResult{}, fmt.Errorf("join cgroup: %w", err)
	}
	initproc.Trace("P exec helper in its cgroup")
	if _, err := x.L.CfgW.Write([]byte{1}); err != nil { // go (initproc.Spawn)
		return ExecResult{}, fmt.Errorf("start: %w", err)
	}
	x.L.CfgW.Close()
	var copied sync.WaitGroup
	var master *os.File
	if x.Console != nil {
		if master, err = initproc.RecvConsole(ctx, x.Console); err != nil {
			if m, merr := x.Next(ctx, plan); merr == nil && m.Type == "error" {
				err = startError(c.id, m)
			}
			return ExecResult{}, fmt.Errorf("terminal: %w", err)
		}
		defer master.Close()
		stdio.CopyTerminal(master, ec.stdin, ec.stdout, ec.resize, &copied)
	}
	// The helper reports any failure of its own or of its child before the
	// exec; the pipe ends when the child has exec'd and the helper exited.
	var failed *initproc.Message
	for {
		m, err := x.Next(ctx, plan)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return ExecResult{}, err
		}
		if m.Type == "error" {
			failed = &m
		}
	}
	initproc.Trace("P exec forked")
	if failed != nil {
		// As docker exec: the reason on stderr (the terminal's output
		// with one), the exit code Docker's.
		w := ec.stderr
		if w == nil {
			w = ec.stdout
		}
		if w != nil {
			fmt.Fprintf(w, "hull: %s: %s\n", failed.Stage, failed.Message)
		}
	}
	// The child's pid as the kernel wrote it, never as a message says:
	// what the container can write on a pipe it may have reached.
	if cmd, err = findChild(fork.Pid()); err != nil {
		return ExecResult{}, err
	}
	if cmd == nil {
		// The helper failed before the fork: its code is Docker's.
		ps, err := helper.Wait()
		if err != nil {
			return ExecResult{}, err
		}
		if failed == nil {
			return ExecResult{}, fmt.Errorf("exec helper ended before the command started (%s)", ps)
		}
		return ExecResult{ExitCode: exitCode(ps)}, nil
	}
	waited := make(chan *os.ProcessState, 1)
	go func() {
		ps, _ := cmd.Wait()
		waited <- ps
	}()
	initproc.Trace("P exec running")
	var ps *os.ProcessState
	select {
	case ps = <-waited:
	case <-ctx.Done():
		_ = cmd.Kill()
		<-waited
		reaped = true
		return ExecResult{}, ctx.Err()
	}
	reaped = true
	x.WaitOutput()
	// A process the command left may hold the terminal open: as its
	// pipes, at most outputDelay, then the terminal is closed.
	stdio.WaitBounded(&copied, stdio.OutputDelay, func() {
		if master != nil {
			master.Close()
		}
	})
	if ps == nil {
		return ExecResult{}, errors.New("exec: the command's status is lost")
	}
	return ExecResult{ExitCode: exitCode(ps)}, nil
}

// initPidfd opens a pidfd of the container's init, pid, and checks that
// pid is still that init (its start time): an exec joins its namespaces
// through it, so a pid reused meanwhile cannot send it elsewhere.
func (c *Container) initPidfd(pid int) (*os.File, error) {
	c.mu.Lock()
	start := c.st.PidStart
	c.mu.Unlock()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: container is not running: %w", ErrConflict, err)
	}
	if start == 0 || procStartTime(pid) != start {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: container is not running (its init is gone)", ErrConflict)
	}
	return os.NewFile(uintptr(fd), "pidfd"), nil
}

// findChild returns our child pid (nil for 0): an exec's command.
func findChild(pid int) (*os.Process, error) {
	if pid <= 0 {
		return nil, nil
	}
	return os.FindProcess(pid)
}

func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
