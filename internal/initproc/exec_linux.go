package initproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"

	"github.com/hullbox/hull/internal/nsenter"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ExecMode is Env's value for a process exec'd into a running container
// (Container.Exec): internal/nsenter's constructor has already put it in
// the container's mount, network, UTS, IPC and cgroup namespaces, but not
// in its pid namespace (nsenter.PidNSFD).
const ExecMode = "exec"

// ConsoleFD is the unix socket a terminal's master is sent back on, for
// an init or exec whose spec has Process.Terminal: fd 5 of the child.
const ConsoleFD = 5

// runExec is the Go side of an exec: the same steps as the init's after
// its mounts, with the spec that Exec derived from the container's.
//
// This process is not in the container's pid namespace, so nothing of the
// container can see it while it holds more than the container may: only
// the command is, forked from the thread that took the container's
// credentials, capabilities, no_new_privs and seccomp filter, and which
// alone joined the pid namespace. It then waits for the command and
// exits as it did, a signal by the same signal.
func runExec() int {
	runtime.LockOSThread() // never unlocked: the credentials are this thread's
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	closeExecFrom(configFD)
	status := os.NewFile(statusFD, "status")
	cfgR := os.NewFile(configFD, "config")
	cfg, err := readConfig(cfgR)
	cfgR.Close()
	if err != nil {
		return report(status, fail("config", err))
	}
	pid, err := execInContainer(cfg, status)
	var se *stageError
	if errors.As(err, &se) && se.stage == "exec" && status.Fd() == ^uintptr(0) {
		// The status pipe is closed already (execInContainer): the
		// command's stderr tells, as the parent would have.
		fmt.Fprintf(os.Stderr, "hull: %s: %s\n", se.stage, se.err)
		return se.code
	}
	if err != nil {
		return report(status, err)
	}
	return waitExit(pid)
}

// execInContainer forks the spec's process into the container from this
// (locked) thread, which first takes the process's credentials, and
// returns its pid.
func execInContainer(cfg *Config, status *os.File) (int, error) {
	s := cfg.Spec
	p := s.Process
	// The pid namespace, for this thread's children only (and while we
	// may): the Go runtime makes no thread from a locked one (it asks its
	// template thread), and the fork below is this thread's.
	if err := unix.Setns(nsenter.PidNSFD, unix.CLONE_NEWPID); err != nil {
		return 0, fail("setns", fmt.Errorf("pid namespace: %w", err))
	}
	unix.Close(nsenter.PidNSFD) // joined: nothing of the command's
	fds := [3]int{0, 1, 2}
	if p.Terminal {
		slave, err := openConsole(os.NewFile(ConsoleFD, "console"), p.ConsoleSize)
		if err != nil {
			return 0, fail("tty", err)
		}
		defer slave.Close()
		fd := int(slave.Fd())
		fds = [3]int{fd, fd, fd}
	}
	// The init's security steps and chdir (compilePlan), the command
	// found as the init's exec finds it, then the init's last steps.
	r := goRun{}
	pl := &plan{bpf: cfg.SeccompBPF}
	cerr := pl.security(s)
	if cerr == nil {
		pl.step(opStage, "workdir")
		pl.step(opChdir, p.Cwd, "chdir "+p.Cwd)
	}
	if err := r.runPlan(pl, cerr); err != nil {
		return 0, err
	}
	ex := &plan{}
	ex.exec(p)
	steps, _ := decodePlan(ex.b)
	if len(p.Args) == 0 {
		return 0, worded(steps, 1, failAt(failNoCommand, 0, nil))
	}
	path, err := lookPath(p.Args[0], getEnv(p.Env, "PATH"))
	if err != nil {
		return 0, worded(steps, 1, err)
	}
	last := &plan{bpf: cfg.SeccompBPF}
	cerr = last.beforeExec(s)
	if err := r.runPlan(last, cerr); err != nil {
		return 0, err
	}
	// The command is in the container's pid namespace from the fork on,
	// before it drops what it inherits: it must not inherit the pipes to
	// hull (the config pipe is closed already). EOF on the status pipe
	// tells the parent the command runs; should the exec fail, the
	// command's stderr says why.
	status.Close()
	pid, err := forkExec(path, p.Args, p.Env, fds, p.Terminal)
	if err != nil {
		code := 126
		if errors.Is(err, unix.ENOENT) {
			code = 127
		}
		return 0, &stageError{stage: "exec", code: code, err: fmt.Errorf("exec %q: %w", p.Args[0], err)}
	}
	return pid, nil
}

// waitExit waits for the child pid and returns its exit code, 128+n for
// a child killed by signal n, as Docker reports it (a Go process cannot
// re-raise SIGSEGV and the like on itself: the runtime catches them).
func waitExit(pid int) int {
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGPIPE)
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err == nil {
			break
		}
		if err != syscall.EINTR {
			return 125
		}
	}
	if !ws.Signaled() {
		return ws.ExitStatus()
	}
	return 128 + int(ws.Signal())
}

// SetupConsole makes a pseudo-terminal in the container's /dev/pts (its
// own devpts instance, so that tty(1) names it), sends the master to the
// parent over sock with SCM_RIGHTS, and makes the slave this process's
// controlling terminal and stdin, stdout and stderr.
func SetupConsole(sock *os.File, size *specs.Box) error {
	slave, err := openConsole(sock, size)
	if err != nil {
		return err
	}
	if _, err := unix.Setsid(); err != nil {
		slave.Close()
		return fmt.Errorf("setsid: %w", err)
	}
	fd := int(slave.Fd())
	if err := unix.IoctlSetInt(fd, unix.TIOCSCTTY, 0); err != nil {
		slave.Close()
		return fmt.Errorf("set controlling tty: %w", err)
	}
	for i := 0; i <= 2; i++ {
		if i == fd {
			_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0) // stays, as stdio
			continue
		}
		if err := unix.Dup3(fd, i, 0); err != nil {
			return err
		}
	}
	if fd > 2 {
		slave.Close()
	}
	return nil
}

// openConsole makes a pseudo-terminal in the container's /dev/pts, sends
// its master to the parent over sock with SCM_RIGHTS and returns the
// slave (close-on-exec).
func openConsole(sock *os.File, size *specs.Box) (*os.File, error) {
	defer sock.Close()
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	defer unix.Close(master)
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return nil, fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetInt(master, unix.TIOCGPTN)
	if err != nil {
		return nil, fmt.Errorf("ptsname: %w", err)
	}
	if size != nil {
		ws := &unix.Winsize{Row: uint16(size.Height), Col: uint16(size.Width)}
		if err := unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, ws); err != nil {
			return nil, fmt.Errorf("set window size: %w", err)
		}
	}
	slave, err := unix.Open("/dev/pts/"+strconv.Itoa(n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open pty slave: %w", err)
	}
	if err := unix.Sendmsg(int(sock.Fd()), []byte{0}, unix.UnixRights(master), nil, 0); err != nil {
		unix.Close(slave)
		return nil, fmt.Errorf("send pty master: %w", err)
	}
	return os.NewFile(uintptr(slave), "pty-slave"), nil
}

// RecvConsole receives a pseudo-terminal master sent with SCM_RIGHTS
// (SetupConsole); io.EOF if the sender closed its end without one.
func RecvConsole(ctx context.Context, sock *os.File) (*os.File, error) {
	stop := context.AfterFunc(ctx, func() { _ = unix.Shutdown(int(sock.Fd()), unix.SHUT_RDWR) })
	defer stop()
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	rc, err := sock.SyscallConn()
	if err != nil {
		return nil, err
	}
	var n, oobn int
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, 0)
		return rerr != unix.EAGAIN
	}); err != nil {
		return nil, err
	}
	if rerr != nil {
		return nil, rerr
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if n == 0 && oobn == 0 {
		return nil, io.EOF
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, errors.New("no terminal received")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, errors.New("no terminal received")
	}
	unix.CloseOnExec(fds[0])
	// Non-blocking, so that the poller serves it and Close ends a Read.
	_ = unix.SetNonblock(fds[0], true)
	return os.NewFile(uintptr(fds[0]), "pty-master"), nil
}
