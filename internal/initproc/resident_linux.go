package initproc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hullbox/hull/internal/attach"
	"github.com/hullbox/hull/internal/logfile"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ExitName is the file a resident init writes in the container's
// directory when the user's process ends.
const ExitName = "exit.json"

// Exit is the content of exit.json.
type Exit struct {
	Code       int       `json:"exitCode"`
	Signal     int       `json:"signal,omitempty"`
	OOMKilled  bool      `json:"oomKilled,omitempty"`
	FinishedAt time.Time `json:"finishedAt"`
}

// resident is what a resident init (Config.Resident) keeps from the host
// before pivot_root: the container's directory, and for a detached
// container its log.
type resident struct {
	dir   int // O_PATH fd of the container's directory
	log   *logfile.Writer
	srv   *attach.Server // a detached container's attach socket
	evDir int            // O_PATH fd of the events log's directory, or -1
	dns   *dnsService    // the resolver, if any: it collects once the command runs
}

// openResident opens the host files a resident init needs. The init is
// not dumpable, so its fds cannot be reached through /proc/1/fd from
// inside the container.
func openResident(cfg *Config) (*resident, error) {
	fd, err := unix.Open(cfg.Dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", cfg.Dir, err)
	}
	r := &resident{dir: fd, evDir: -1}
	if cfg.Detached && cfg.EventsLog != "" {
		if r.evDir, err = unix.Open(filepath.Dir(cfg.EventsLog), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			r.evDir = -1 // no event then; not a reason to fail
		}
	}
	if cfg.Detached {
		if r.log, err = logfile.Create(filepath.Join(cfg.Dir, cfg.LogName)); err != nil {
			unix.Close(fd)
			return nil, err
		}
		// Bound now, while the host's directory is reachable by path;
		// served from the container's side of pivot_root through the fd.
		if r.srv, err = attach.ListenFD(fd); err != nil {
			r.log.Close()
			unix.Close(fd)
			return nil, err
		}
	}
	return r, nil
}

// runResident starts the user's process as a child of this init (PID 1)
// instead of exec'ing it, then stays: it forwards signals to it, reaps
// every orphan, copies the output of a detached container into its log,
// and when the child ends writes exit.json and exits with its code.
func runResident(cfg *Config, r *resident, status *os.File) int {
	p := cfg.Spec.Process
	// no_new_privs and seccomp on this thread: the child, forked from it,
	// inherits them. (Capabilities: the child as root gets the bounding
	// set; a non-root child gets none. TODO: capabilities granted to a
	// non-root user need ambient caps here.)
	Trace("C resident start")
	if err := applySecurity(cfg.Spec, beforeExec); err != nil {
		return report(status, err)
	}
	Trace("C resident security done")
	if len(p.Args) == 0 {
		return report(status, fail("exec", errors.New("no command specified")))
	}
	path, err := lookPath(p.Args[0], getEnv(p.Env, "PATH"))
	if err != nil {
		return report(status, err)
	}
	files := []uintptr{0, 1, 2}
	var copiers sync.WaitGroup
	var childEnds []*os.File // closed once the child has them
	defer func() {
		for _, f := range childEnds {
			f.Close()
		}
	}()
	var sys syscall.SysProcAttr
	if r.log != nil {
		ends, err := r.detachedStdio(cfg, files, &sys, &copiers)
		childEnds = append(childEnds, ends...)
		if err != nil {
			return report(status, fail("stdio", err))
		}
	}
	groups := make([]uint32, len(p.User.AdditionalGids))
	copy(groups, p.User.AdditionalGids)
	sys.Credential = &syscall.Credential{Uid: p.User.UID, Gid: p.User.GID, Groups: groups}
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs)
	Trace("C resident fork")
	pid, err := syscall.ForkExec(path, p.Args, &syscall.ProcAttr{
		Dir: p.Cwd, Env: p.Env, Files: files,
		Sys: &sys,
	})
	if err != nil {
		code := 126
		if errors.Is(err, unix.ENOENT) {
			code = 127
		}
		return report(status, &stageError{stage: "exec", code: code, err: fmt.Errorf("exec %q: %w", p.Args[0], err)})
	}
	// The command was forked with the init's oom_score_adj; now make the
	// init itself the memory cgroup's last choice, or an OOM kill could
	// take it and lose the exit status (as containerd protects its shims).
	// Lowering it needs CAP_SYS_RESOURCE: where hull runs without it, a
	// tight memory limit can still make the init the victim (its score
	// counts the pages of hull's binary it maps).
	_ = os.WriteFile("/proc/self/oom_score_adj", []byte("-999"), 0)
	status.Close() // EOF: the parent knows the command runs
	Trace("C resident forked")
	r.dns.collect()
	for _, f := range childEnds {
		f.Close() // the child's now: the copiers see EOF when it is done
	}
	childEnds = nil
	ws := r.wait(pid, sigs, cfg.ForwardAll)
	Trace("C resident child exited")
	if r.log != nil {
		done := make(chan struct{})
		go func() { copiers.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Second):
		}
		_ = r.log.Close()
		_ = r.srv.Close() // attached clients get the last output, then EOF
	}
	ex := Exit{Code: ws.ExitStatus(), FinishedAt: time.Now().UTC()}
	if ws.Signaled() {
		ex.Signal = int(ws.Signal())
		ex.Code = 128 + ex.Signal
	}
	ex.OOMKilled = ws.Signaled() && ws.Signal() == syscall.SIGKILL && oomKilled()
	if r.writeExit(ex, cfg.Detached) == nil {
		r.writeDieEvent(cfg, ex) // after exit.json: see hull's reap
	}
	Trace("C resident exit written")
	return ex.Code
}

// wait forwards signals to pid and reaps children until pid has exited.
// Unless all, a signal pid does not handle is dropped, as the kernel does
// for a PID 1: so `docker stop` of a command that ignores SIGTERM ends in
// SIGKILL (137) with hull as with Docker.
func (r *resident) wait(pid int, sigs chan os.Signal, all bool) syscall.WaitStatus {
	for {
		for {
			var ws syscall.WaitStatus
			wpid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if wpid == pid {
				return ws
			}
			if wpid <= 0 || err != nil {
				break
			}
		}
		s := (<-sigs).(syscall.Signal)
		switch s {
		case syscall.SIGCHLD, syscall.SIGURG, syscall.SIGPIPE:
		default:
			if all || handles(pid, s) {
				_ = syscall.Kill(pid, s)
			}
		}
	}
}

// writeExit writes exit.json atomically in the container's directory,
// synced if durable. Only a Detached container's needs to survive a crash
// of the host: an owned container's owner reaps the init and records the
// exit itself (and after a crash, recovery marks it exited); its exit.json
// only tells other processes sooner.
func (r *resident) writeExit(ex Exit, durable bool) error {
	data, err := json.Marshal(ex)
	if err != nil {
		return err
	}
	tmp := ".tmp-" + ExitName + "-" + strconv.Itoa(os.Getpid())
	fd, err := unix.Openat(r.dir, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.Write(data)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(r.dir, tmp, r.dir, ExitName)
	}
	return err
}

// detachedStdio wires a detached container's child: its output goes to
// the log and to attached clients; its input comes from attached clients
// when the container keeps stdin open (Config.OpenStdin), else
// /dev/null; with a terminal, the init keeps the master and the child
// gets the slave as its controlling terminal. It fills files[0:3] and sys
// and returns the child's ends, to close once it runs.
func (r *resident) detachedStdio(cfg *Config, files []uintptr, sys *syscall.SysProcAttr, copiers *sync.WaitGroup) ([]*os.File, error) {
	var ends []*os.File
	copyOut := func(name string, typ byte, src *os.File) {
		w := r.log.Stream(name, r.srv.Writer(typ))
		copiers.Add(1)
		go func() {
			defer copiers.Done()
			_, _ = io.Copy(w, src)
		}()
	}
	if cfg.Spec.Process.Terminal {
		master, slave, err := openPty(cfg.Spec.Process.ConsoleSize)
		if err != nil {
			return nil, err
		}
		ends = append(ends, slave)
		files[0], files[1], files[2] = slave.Fd(), slave.Fd(), slave.Fd()
		sys.Setsid, sys.Setctty, sys.Ctty = true, true, 0
		copyOut("stdout", attach.FrameStdout, master)
		if cfg.OpenStdin {
			r.srv.SetStdin(nopCloser{master})
		}
		r.srv.SetResize(func(rows, cols uint16) {
			if rc, err := master.SyscallConn(); err == nil {
				_ = rc.Control(func(fd uintptr) {
					_ = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
				})
			}
		})
		return ends, nil
	}
	if cfg.OpenStdin {
		pr, pw, err := os.Pipe()
		if err != nil {
			return ends, err
		}
		ends = append(ends, pr)
		files[0] = pr.Fd()
		r.srv.SetStdin(pw)
	} else {
		null, err := os.Open("/dev/null")
		if err != nil {
			return ends, err
		}
		ends = append(ends, null)
		files[0] = null.Fd()
	}
	for i, name := range []string{"stdout", "stderr"} {
		pr, pw, err := os.Pipe()
		if err != nil {
			return ends, err
		}
		ends = append(ends, pw)
		files[i+1] = pw.Fd()
		copyOut(name, byte(i+1), pr)
	}
	return ends, nil
}

// nopCloser keeps a terminal master open when a client closes its input.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// openPty makes a pseudo-terminal in the container's /dev/pts and returns
// its master (non-blocking) and slave.
func openPty(size *specs.Box) (master, slave *os.File, err error) {
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(m)
		return nil, nil, fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetInt(m, unix.TIOCGPTN)
	if err != nil {
		unix.Close(m)
		return nil, nil, fmt.Errorf("ptsname: %w", err)
	}
	if size != nil {
		_ = unix.IoctlSetWinsize(m, unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(size.Height), Col: uint16(size.Width)})
	}
	s, err := unix.Open("/dev/pts/"+strconv.Itoa(n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(m)
		return nil, nil, fmt.Errorf("open pty slave: %w", err)
	}
	return os.NewFile(uintptr(m), "pty-master"), os.NewFile(uintptr(s), "pty-slave"), nil
}

// writeDieEvent appends the container's "oom" (if the OOM killer ended
// it) and "die" events to the root's events log, in hull's format (one
// write on an O_APPEND file).
func (r *resident) writeDieEvent(cfg *Config, ex Exit) {
	if r.evDir < 0 {
		return
	}
	attrs := map[string]string{"exitCode": strconv.Itoa(ex.Code)}
	for k, v := range cfg.EventAttrs {
		attrs[k] = v
	}
	if ex.Signal != 0 {
		attrs["signal"] = strconv.Itoa(ex.Signal)
	}
	var lines []byte
	for _, action := range []string{"oom", "die"} {
		if action == "oom" && !ex.OOMKilled {
			continue
		}
		a := attrs
		if action == "oom" {
			a = map[string]string{"name": cfg.EventAttrs["name"], "image": cfg.EventAttrs["image"]}
		}
		data, err := json.Marshal(map[string]any{
			"time": ex.FinishedAt, "type": "container", "action": action, "id": cfg.ID,
			"name": cfg.EventAttrs["name"], "attributes": a,
		})
		if err != nil {
			return
		}
		lines = append(append(lines, data...), '\n')
	}
	fd, err := unix.Openat(r.evDir, filepath.Base(cfg.EventsLog), unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return
	}
	_, _ = unix.Write(fd, lines)
	unix.Close(fd)
}

// oomKilled reports whether the kernel's OOM killer killed a process of
// the container's cgroup, as the container sees it (cgroup namespace):
// memory.oom_control on v1, memory.events on v2.
func oomKilled() bool {
	for _, f := range []string{"/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
				return strings.TrimSpace(v) != "0"
			}
		}
	}
	return false
}

// handles reports whether process pid has a handler for sig (SigCgt in
// /proc/<pid>/status), or true if that cannot be read.
func handles(pid int, sig syscall.Signal) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return true
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "SigCgt:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err != nil || mask&(1<<(uint(sig)-1)) != 0
		}
	}
	return true
}
