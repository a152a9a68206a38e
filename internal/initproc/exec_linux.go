package initproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// CgoBuilt reports whether this build has plan.c, which every Exec and
// most container starts need (without cgo, hull's Open refuses).
const CgoBuilt = planAvailable

// ConsoleFD is the unix socket a terminal's master is sent back on, for
// an init or exec whose spec has Process.Terminal: fd 5 of the child.
const ConsoleFD = 5

// execNamespaces are the namespaces an exec joins: all of the init's but
// its user namespace (hull makes none); the pid namespace for the
// children only (opFork's).
const execNamespaces = unix.CLONE_NEWCGROUP | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS |
	unix.CLONE_NEWNET | unix.CLONE_NEWPID | unix.CLONE_NEWNS

// CompileExec compiles the plan of an exec (Container.Exec) into the
// running container whose init has pid (as the host numbers it), for
// Spawn with no new namespaces and a pidfd of that init (nsfd) opened
// after checking its start time: join the init's namespaces through it
// (its pid cannot be reused meanwhile), take the process's credentials,
// make its terminal, go to its working directory, load no_new_privs and
// the seccomp filter, then fork (opFork) into the pid namespace, where
// the child alone starts its session and execs the command. No Go code
// runs in the container's namespaces, and nothing of the container can
// see a process of ours that holds more than it may.
func CompileExec(cfg *Config, pid int) ([]byte, error) {
	s := cfg.Spec
	if s == nil || s.Process == nil {
		return nil, errors.New("incomplete spec")
	}
	p := s.Process
	if len(p.Args) == 0 {
		return nil, errors.New("no command")
	}
	if len(p.Args)+len(p.Env) > maxPlanArgs {
		return nil, fmt.Errorf("more than %d arguments and environment variables", maxPlanArgs)
	}
	pl := &plan{bpf: cfg.SeccompBPF}
	pl.joinTasks(cfg.JoinTasks) // before its cgroup namespace
	pl.step(opStage, "setns")
	pl.step(opSetnsFD, uint64(execNamespaces), pid)
	if err := pl.security(s); err != nil {
		return nil, err
	}
	if p.Terminal {
		pl.console(p) // as the command's user, as Run's init does
	}
	pl.step(opStage, "workdir")
	pl.step(opChdir, p.Cwd, "chdir "+p.Cwd)
	// no_new_privs and the filter before the fork: the child is visible in
	// the container from its first instruction, and must never be seen
	// without them (the filter is inherited; the child's last calls, its
	// session and the exec, are ones every profile allows as Docker's).
	if err := pl.beforeExec(s); err != nil {
		return nil, err
	}
	pl.step(opTrace, "C exec setup done")
	pl.step(opFork)
	pl.step(opTrace, "C exec forked")
	pl.session(p)
	pl.exec(p)
	if pl.nul {
		return nil, errors.New("an argument, variable or path holds a NUL byte")
	}
	if len(pl.b) > maxPlanSize {
		return nil, errors.New("plan too big")
	}
	return pl.b, nil
}

// session is the steps that give the process its session: with a
// terminal, opConsole's as its controlling one (opCtty); without, a new
// session with none, so that it keeps no terminal of ours.
func (p *plan) session(proc *specs.Process) {
	if proc.Terminal {
		p.step(opStage, "tty")
		p.step(opCtty)
		return
	}
	p.step(opStage, "session")
	p.step(opSetsid)
}

// console is the steps of making the process's terminal (opConsole); its
// opCtty goes where the process's session begins.
func (p *plan) console(proc *specs.Process) {
	var w, h uint64
	if b := proc.ConsoleSize; b != nil {
		w, h = uint64(b.Width), uint64(b.Height)
	}
	p.step(opStage, "tty")
	p.step(opConsole, boolNum(proc.ConsoleSize != nil), w, h)
}

// goConsole makes the container's terminal (openConsole) and keeps its
// slave for opCtty; the parent receives the master on ConsoleFD.
func goConsole(r *goRun, s *step) error {
	var size *specs.Box
	if s.num(0) != 0 {
		size = &specs.Box{Width: uint(s.num(1)), Height: uint(s.num(2))}
	}
	unix.CloseOnExec(ConsoleFD)
	slave, err := openConsole(os.NewFile(ConsoleFD, "console"), size)
	if err != nil {
		return err
	}
	r.console = slave
	return nil
}

// goCtty makes opConsole's terminal the controlling terminal of a new
// session, and stdin, stdout and stderr.
func goCtty(r *goRun, _ *step) error {
	if r.console == nil {
		return failAt(failCtty, 1, unix.ENOTTY)
	}
	if _, err := unix.Setsid(); err != nil {
		return failAt(failCtty, 0, err)
	}
	fd := int(r.console.Fd())
	if err := unix.IoctlSetInt(fd, unix.TIOCSCTTY, 0); err != nil {
		return failAt(failCtty, 1, err)
	}
	for i := 0; i <= 2; i++ {
		if i == fd {
			continue
		}
		if err := unix.Dup3(fd, i, 0); err != nil {
			return failAt(failCtty, 2, err)
		}
	}
	if fd > 2 {
		r.console.Close()
	} else {
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0) // stays, as stdio
	}
	r.console = nil
	return nil
}

// openConsole makes a pseudo-terminal in the container's /dev/pts (its
// own devpts instance, so that tty(1) names it), sends its master to the
// parent over sock with SCM_RIGHTS and returns the slave (close-on-exec).
// Its failures are opConsole's (consoleCalls).
func openConsole(sock *os.File, size *specs.Box) (*os.File, error) {
	defer sock.Close()
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, failAt(failConsole, 0, err)
	}
	defer unix.Close(master)
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return nil, failAt(failConsole, 1, err)
	}
	n, err := unix.IoctlGetInt(master, unix.TIOCGPTN)
	if err != nil {
		return nil, failAt(failConsole, 2, err)
	}
	if size != nil {
		ws := &unix.Winsize{Row: uint16(size.Height), Col: uint16(size.Width)}
		if err := unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, ws); err != nil {
			return nil, failAt(failConsole, 3, err)
		}
	}
	slave, err := unix.Open("/dev/pts/"+strconv.Itoa(n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, failAt(failConsole, 4, err)
	}
	if err := unix.Sendmsg(int(sock.Fd()), []byte{0}, unix.UnixRights(master), nil, 0); err != nil {
		unix.Close(slave)
		return nil, failAt(failConsole, 5, err)
	}
	return os.NewFile(uintptr(slave), "pty-slave"), nil
}

// RecvConsole receives a pseudo-terminal master sent with SCM_RIGHTS
// (opConsole); io.EOF if the sender closed its end without one.
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
