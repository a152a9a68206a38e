package hull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/hullbox/hull/internal/initproc"
	"github.com/hullbox/hull/internal/seccomp"
	"github.com/hullbox/hull/internal/spawn"
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

// exec compiles the helper's plan and runs it (stdio.Exec.Run).
func (c *Container) exec(ctx context.Context, argv []string, ec *execConfig) (ExecResult, error) {
	pid, err := c.execPid()
	if err != nil {
		return ExecResult{}, err
	}
	cfg, err := c.execConfig(pid, argv, ec)
	if err != nil {
		return ExecResult{}, err
	}
	cg := c.rt.loadCgroup(c.id)
	if cg == nil {
		return ExecResult{}, fmt.Errorf("%w: container is not running (no cgroup)", ErrConflict)
	}
	cfg.JoinTasks = cg.TasksFiles() // the helper joins its v1 cgroup itself
	moveIn := cg.MoveIn
	if len(cfg.JoinTasks) > 0 {
		moveIn = func(int) error { return nil }
	}
	plan, err := initproc.CompileExec(cfg, pid)
	if err != nil {
		return ExecResult{}, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
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
	code, err := x.Run(ctx, stdio.ExecRun{
		Plan: plan,
		NS:   ns,
		Start: func(l *spawn.Launch) (*os.Process, error) {
			p, err := c.rt.ctrs.spawner.StartPlan(ctx, l, plan)
			return p, spawnErr(err)
		},
		MoveIn: moveIn,
		Failed: func(m initproc.Message) error { return startError(c.id, m) },
		Stdin:  ec.stdin,
		Stdout: ec.stdout,
		Stderr: ec.stderr,
		Resize: ec.resize,
		Gone: func() error {
			c.mu.Lock()
			start := c.st.PidStart
			c.mu.Unlock()
			if start == 0 || procStartTime(pid) != start {
				return fmt.Errorf("%w: container is not running (its init is gone)", ErrConflict)
			}
			return nil
		},
	})
	if err != nil {
		return ExecResult{}, err
	}
	return ExecResult{ExitCode: code}, nil
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
