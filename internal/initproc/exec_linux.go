package initproc

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ExecMode is Env's value for a process exec'd into a running container
// (Container.Exec): internal/nsenter's constructor has already put it in
// the container's namespaces, and it only drops privileges and execs.
const ExecMode = "exec"

// ConsoleFD is the unix socket a terminal's master is sent back on, for
// an init or exec whose spec has Process.Terminal: fd 5 of the child.
const ConsoleFD = 5

// runExec is the Go side of an exec: the same steps as the init's after
// its mounts, with the spec that Exec derived from the container's.
func runExec() int {
	runtime.LockOSThread()
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	closeExecFrom(configFD)
	status := os.NewFile(statusFD, "status")
	cfg, err := readConfig(os.NewFile(configFD, "config"))
	if err != nil {
		return report(status, fail("config", err))
	}
	return report(status, execInContainer(cfg.Spec))
}

func execInContainer(s *specs.Spec) error {
	p := s.Process
	if p.Terminal {
		unix.CloseOnExec(ConsoleFD)
		if err := SetupConsole(os.NewFile(ConsoleFD, "console"), p.ConsoleSize); err != nil {
			return fail("tty", err)
		}
	}
	if p.Capabilities != nil {
		if err := dropBounding(p.Capabilities.Bounding); err != nil {
			return fail("capabilities", err)
		}
	}
	if err := setRlimits(p.Rlimits); err != nil {
		return fail("rlimits", err)
	}
	if err := applySecurity(s, beforeUser); err != nil {
		return err
	}
	if err := setUser(p); err != nil {
		return err
	}
	if err := applySecurity(s, afterUser); err != nil {
		return err
	}
	// A credential change clears the parent-death signal that the
	// nsenter constructor set: set it again.
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	if err := unix.Chdir(p.Cwd); err != nil {
		return fail("workdir", fmt.Errorf("chdir %s: %w", p.Cwd, err))
	}
	if err := applySecurity(s, beforeExec); err != nil {
		return err
	}
	return execProcess(p)
}

// SetupConsole makes a pseudo-terminal in the container's /dev/pts (its
// own devpts instance, so that tty(1) names it), sends the master to the
// parent over sock with SCM_RIGHTS, and makes the slave this process's
// controlling terminal and stdin, stdout and stderr.
func SetupConsole(sock *os.File, size *specs.Box) error {
	defer sock.Close()
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/ptmx: %w", err)
	}
	defer unix.Close(master)
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetInt(master, unix.TIOCGPTN)
	if err != nil {
		return fmt.Errorf("ptsname: %w", err)
	}
	if size != nil {
		ws := &unix.Winsize{Row: uint16(size.Height), Col: uint16(size.Width)}
		if err := unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, ws); err != nil {
			return fmt.Errorf("set window size: %w", err)
		}
	}
	slave, err := unix.Open("/dev/pts/"+strconv.Itoa(n), unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("open pty slave: %w", err)
	}
	if err := unix.Sendmsg(int(sock.Fd()), []byte{0}, unix.UnixRights(master), nil, 0); err != nil {
		unix.Close(slave)
		return fmt.Errorf("send pty master: %w", err)
	}
	if _, err := unix.Setsid(); err != nil {
		unix.Close(slave)
		return fmt.Errorf("setsid: %w", err)
	}
	if err := unix.IoctlSetInt(slave, unix.TIOCSCTTY, 0); err != nil {
		unix.Close(slave)
		return fmt.Errorf("set controlling tty: %w", err)
	}
	for fd := 0; fd <= 2; fd++ {
		if fd == slave {
			continue
		}
		if err := unix.Dup3(slave, fd, 0); err != nil {
			return err
		}
	}
	if slave > 2 {
		unix.Close(slave)
	}
	return nil
}
