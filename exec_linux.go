package hull

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
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hullbox/hull/internal/initproc"
	"github.com/hullbox/hull/internal/nsenter"
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
	if !nsenter.Available {
		return ExecResult{}, fmt.Errorf("exec in container %s: %w: hull was built without cgo", shortContainerID(c.id), ErrUnsupported)
	}
	res, err := c.exec(ctx, argv, &ec)
	if err != nil {
		return res, fmt.Errorf("exec in container %s: %w", shortContainerID(c.id), c.rt.closedMeanwhile(err))
	}
	return res, nil
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

// execSpec derives the exec'd process's spec from the container's.
func (c *Container) execSpec(pid int, argv []string, ec *execConfig) (*specs.Spec, error) {
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
	s := cfg.Spec
	p := s.Process
	p.Args = argv
	p.Env = mergeEnv(p.Env, ec.env)
	if ec.workdir != "" {
		p.Cwd = ec.workdir
	}
	if ec.user != "" {
		// The root of that very process, not of one that took its pid.
		c.mu.Lock()
		start := c.st.PidStart
		c.mu.Unlock()
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
	}
	return s, nil
}

func (c *Container) exec(ctx context.Context, argv []string, ec *execConfig) (_ ExecResult, retErr error) {
	pid, err := c.execPid()
	if err != nil {
		return ExecResult{}, err
	}
	s, err := c.execSpec(pid, argv, ec)
	if err != nil {
		return ExecResult{}, err
	}
	exe, err := c.rt.initExe()
	if err != nil {
		return ExecResult{}, err
	}
	cg := c.rt.loadCgroup(c.id)
	if cg == nil {
		return ExecResult{}, fmt.Errorf("%w: container is not running (no cgroup)", ErrConflict)
	}
	var closeAfterStart []io.Closer
	defer func() {
		for _, f := range closeAfterStart {
			f.Close()
		}
	}()
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return ExecResult{}, err
	}
	defer cfgW.Close()
	statR, statW, err := os.Pipe()
	if err != nil {
		cfgR.Close()
		return ExecResult{}, err
	}
	defer statR.Close()
	closeAfterStart = append(closeAfterStart, cfgR, statW)
	cmd := &exec.Cmd{
		Path: exe.Path(),
		Args: []string{"hull-exec", c.id},
		Env: []string{initproc.Env + "=" + initproc.ExecMode, nsenter.Env + "=" + strconv.Itoa(pid),
			"GOMAXPROCS=1", "GOGC=off"},
		ExtraFiles:  []*os.File{cfgR, statW},
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
		WaitDelay:   time.Second,
	}
	var console *os.File
	if ec.tty {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return ExecResult{}, err
		}
		console = os.NewFile(uintptr(fds[0]), "console")
		defer console.Close()
		child := os.NewFile(uintptr(fds[1]), "console-child")
		closeAfterStart = append(closeAfterStart, child)
		cmd.ExtraFiles = append(cmd.ExtraFiles, child) // fd 5: initproc.ConsoleFD
	} else {
		// Pipes, never the caller's descriptors: a host file given as
		// stdout would be reachable from the container through
		// /proc/<pid>/fd/1 (read, seek, append), as `docker exec >> f`
		// never allows. cmd copies into non-file writers itself.
		cmd.Stdout, cmd.Stderr = stdio.NotAFile(ec.stdout), stdio.NotAFile(ec.stderr)
		if ec.stdin != nil {
			in, err := stdio.NewInPipe(ec.stdin)
			if err != nil {
				return ExecResult{}, err
			}
			defer in.Close() // EOF for the container once we are done
			closeAfterStart = append(closeAfterStart, in.R)
			cmd.Stdin = in.R
		}
	}
	if cgFD, err := cg.DirFD(); err != nil {
		return ExecResult{}, err
	} else if cgFD != nil {
		defer cgFD.Close()
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(cgFD.Fd())
	}
	cmd, err = c.rt.spawnStart(cmd)
	if err != nil {
		return ExecResult{}, fmt.Errorf("start: %w", err)
	}
	for _, f := range closeAfterStart {
		f.Close()
	}
	closeAfterStart = nil
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	reaped := false // waited was received from
	defer func() {
		if retErr != nil && !reaped {
			_ = cmd.Process.Kill()
			<-waited
		}
	}()
	// The helper forks the command once this config arrives: by then it
	// must be in the container's cgroup (v1; v2 clones into it).
	if err := cg.Add(cmd.Process.Pid); err != nil {
		return ExecResult{}, fmt.Errorf("join cgroup: %w", err)
	}
	if err := initproc.WriteConfig(cfgW, &initproc.Config{ID: c.id, Spec: s}); err != nil {
		return ExecResult{}, fmt.Errorf("send config: %w", err)
	}
	cfgW.Close()
	var copied sync.WaitGroup
	if console != nil {
		master, err := initproc.RecvConsole(ctx, console)
		if err != nil {
			m, _ := initproc.ReadMessage(bufio.NewReader(statR))
			if m.Type == "error" {
				err = startError(c.id, m)
			}
			return ExecResult{}, fmt.Errorf("terminal: %w", err)
		}
		defer master.Close()
		stdio.CopyTerminal(master, ec.stdin, ec.stdout, ec.resize, &copied)
	}
	// The status pipe closes on execve; before that, a setup failure.
	m, merr := readStatus(ctx, statR)
	if merr == nil && m.Type == "error" && ec.stderr != nil && console == nil {
		fmt.Fprintf(ec.stderr, "hull: %s: %s\n", m.Stage, m.Message)
	}
	var werr error
	select {
	case werr = <-waited:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-waited
		reaped = true
		return ExecResult{}, ctx.Err()
	}
	copied.Wait()
	if cmd.ProcessState == nil {
		return ExecResult{}, werr
	}
	return ExecResult{ExitCode: exitCode(cmd.ProcessState)}, nil
}

// readStatus reads the exec'd process's report: io.EOF when it exec'd.
func readStatus(ctx context.Context, r *os.File) (initproc.Message, error) {
	stop := context.AfterFunc(ctx, func() { _ = r.SetReadDeadline(time.Now()) })
	defer stop()
	return initproc.ReadMessage(bufio.NewReader(r))
}

func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
