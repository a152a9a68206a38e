package initproc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hullbox/hull/internal/attach"
	"github.com/hullbox/hull/internal/dns"
	"github.com/hullbox/hull/internal/fsutil"
	"github.com/hullbox/hull/internal/logfile"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Who stays with a container (docs/containers.md, "Who watches a
// container"): nothing of hull's that the container can see holds more
// than the container. A Detached container's PID 1 is its command, as
// with docker run -d, and its shim, a process of the host outside every
// namespace of the container, is that PID 1's parent: it keeps the log,
// the attach socket, the DNS and the events, and writes exit.json. A
// container run WithInit has for PID 1 a reaper in C (reaper.c) with
// the command's user and no capability.

// ShimMode is Env's value for a Detached container's shim.
const ShimMode = "shim"

// SuperviseMode is Env's value for the supervisor of a Detached
// container that has a health check or a restart policy: this package's
// init leaves that process to package hull's, which runs it (hull's
// restartpolicy_supervisor_linux.go).
const SuperviseMode = "supervise"

// ShimEnv holds the shim's ShimArgs, as JSON.
const ShimEnv = "_HULL_SHIM"

// ShimArgs is what a shim needs before the config: how to start the init.
// The shim gets the init's config pipe at fd 3, its status pipe at fd 4
// (on which it first sends a "pid" message, then leaves it to the init)
// and, if CgroupFD is not 0, the container's cgroup v2 directory there.
type ShimArgs struct {
	ID         string  `json:"id"` // the container's: the init's argv[1], for ps
	Cloneflags uintptr `json:"cloneflags"`
	CgroupFD   int     `json:"cgroupFD,omitempty"`
	TTY        bool    `json:"tty,omitempty"`
	OpenStdin  bool    `json:"openStdin,omitempty"`
	Reaper     bool    `json:"reaper,omitempty"` // WithInit: ReaperEnv
	// JoinTasks are the cgroup v1 tasks files the init joins by itself
	// (JoinEnv).
	JoinTasks []string `json:"joinTasks,omitempty"`
	// Plan: the owner sends what the shim needs of the config and a plan
	// (Compile's; WritePlan), and the shim clones a plan init from it
	// (SpawnTold) rather than starting the Go init. The init reads the
	// rest of the config pipe itself: the go-ahead, which the shim writes
	// on GoFD (the pipe's write end) once it serves the container, and
	// the owner's start byte. It reports to the owner directly.
	Plan bool `json:"plan,omitempty"`
	GoFD int  `json:"goFD,omitempty"`
}

// DNSConfig makes a Detached container's shim serve DNS on dns.Addr in
// the container's network namespace for its whole life (user-defined
// networks): the names of the containers that share a network with it,
// from the host's name table, and other names from the upstream
// resolvers.
type DNSConfig struct {
	Names     string   `json:"names"`               // the name table file (internal/dns)
	Self      string   `json:"self"`                // the container's id in the table
	Upstreams []string `json:"upstreams,omitempty"` // "ip" or "ip:port"; none: NXDOMAIN
}

// shim is a Detached container's watcher, on the host side.
type shim struct {
	proc    *os.Process             // the init, our child
	cfgW    *os.File                // the init's config pipe
	console *os.File                // our end of the init's console socket (TTY)
	master  atomic.Pointer[os.File] // the terminal's master, which the init sends on console
	started *ForkSlot               // a plan init's: 1 once it read its start byte (SpawnTold)
	outs    [2]*os.File             // the read ends of the init's stdout and stderr
	stdin   *os.File                // the write end of its stdin (OpenStdin)
	log     *logfile.Writer
	srv     *attach.Server
	dns     *dns.NetnsServer
	copiers sync.WaitGroup
}

// runShim starts the init as its child, passes the config on, serves the
// container's output, input and DNS while it runs, and records how it
// ended; then exits the same way.
func runShim() int {
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGPIPE)
	closeExecFrom(configFD)
	var args ShimArgs
	if err := json.Unmarshal([]byte(os.Getenv(ShimEnv)), &args); err != nil {
		return report(os.NewFile(statusFD, "status"), fail("shim", err))
	}
	code, _ := shimMain(args, os.NewFile(configFD, "config"), os.NewFile(statusFD, "status"))
	return code
}

// shimMain is a shim's work for one container once it has its arguments
// and its config and status pipes (runShim, or runWarmShim once
// assigned), up to the reaping of its init: it returns the shim's exit
// code, and clean when everything it served is closed and drained (a
// warm shim may then serve another).
func shimMain(args ShimArgs, cfgR, status *os.File) (code int, clean bool) {
	start := startGo
	if args.Plan {
		start = startPlan
	}
	s, cfg, code := start(args, cfgR, status)
	if s == nil {
		cfgR.Close()
		return code, false
	}
	// cfgR: closed once the start byte is read (the owner closes its end
	// then, or at its exit), by the goroutine below.
	defer s.release()
	s.serve(cfg, args)
	var started func() bool
	if args.Plan {
		// The init reads its go-ahead and its start byte from cfgR
		// itself, and tells us it read the start byte.
		started = s.goAhead(args)
	} else {
		// The start byte, whenever it comes; marked before it is
		// passed on, so that a command that ran is always seen to have
		// started.
		var read atomic.Bool
		started = read.Load
		go func() {
			var b [1]byte
			if n, _ := cfgR.Read(b[:]); n == 1 {
				read.Store(true)
				_, _ = s.cfgW.Write(b[:])
			}
			s.cfgW.Close()
			cfgR.Close()
		}()
	}
	// Not reaped yet: until exit.json is written, PID 1 must still
	// exist for whoever looks (a zombie), or it would look lost.
	ws, err := waitNoReap(s.proc.Pid)
	Trace("C shim: init exited")
	if err != nil {
		if ps, _ := s.proc.Wait(); ps != nil {
			ws = ps.Sys().(syscall.WaitStatus)
		}
	}
	clean = s.close()
	ex := Exit{Code: ws.ExitStatus(), FinishedAt: time.Now().UTC()}
	if ws.Signaled() {
		ex.Signal = int(ws.Signal())
		ex.Code = 128 + ex.Signal
	}
	ex.OOMKilled = ws.Signaled() && ws.Signal() == syscall.SIGKILL && readKV(cfg.OOMFile, "oom_kill") > 0
	// Before the exit is recorded: until then no Start can make the
	// next run's cgroup at the same path.
	removeCgroup(cfg.CgroupDirs)
	// An init that never got the start byte (its creator went away
	// before Start) ran nothing: no exit to record, and a late exit.json
	// would pass for that of the run a later Start makes.
	Trace("C shim: output drained")
	if started() && writeExit(cfg.Dir, ex) == nil {
		Trace("C shim: exit.json written")
		writeDieEvent(cfg, ex) // after exit.json: see hull's reap
	}
	_, _ = s.proc.Wait()
	// 128+n for signal n: a Go process cannot die by most signals it
	// sends itself (the runtime catches SIGSEGV and the like). The owner
	// reads the signal from exit.json.
	return ex.Code, clean
}

// startGo starts the Go init, tells our parent its pid and passes the
// config on. On failure, s is nil and code the shim's exit code.
func startGo(args ShimArgs, cfgR, status *os.File) (s *shim, cfg *Config, code int) {
	s, err := startInit(args, status)
	if err != nil {
		return nil, nil, report(status, fail("shim", err))
	}
	// The init's from now on: EOF for our parent when it execs.
	err = sendMessage(status, Message{Type: "pid", Pid: s.proc.Pid})
	status.Close()
	if err != nil {
		_ = s.proc.Kill()
	}
	cfg, err = readConfig(cfgR)
	if err == nil {
		err = WriteConfig(s.cfgW, cfg)
	}
	if err != nil {
		_ = s.proc.Kill() // our parent failed: it removes the rest
		_, _ = s.proc.Wait()
		return nil, nil, 125
	}
	return s, cfg, 0
}

// startInit starts the Go init with the pipes the shim keeps the other
// ends of, in the namespaces and cgroup of args.
func startInit(args ShimArgs, status *os.File) (*shim, error) {
	s := &shim{}
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer cfgR.Close()
	s.cfgW = cfgW
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe", // the sealed copy we run from
		Args:       []string{"hull-init", args.ID},
		Env:        []string{Env + "=1", "GOMAXPROCS=1", "GOGC=off"},
		ExtraFiles: []*os.File{cfgR, status},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags:  args.Cloneflags,
			UseCgroupFD: args.CgroupFD != 0,
			CgroupFD:    args.CgroupFD,
		},
	}
	if args.Reaper {
		cmd.Env = append(cmd.Env, ReaperEnv+"=1")
	}
	if len(args.JoinTasks) > 0 {
		cmd.Env = append(cmd.Env, JoinEnv+"="+JoinEnvValue(args.JoinTasks))
	}
	ends, err := s.pipes(args)
	defer ends.close()
	if err != nil {
		return nil, err
	}
	if ends.console != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, ends.console) // ConsoleFD
	}
	if in := ends.stdio[0]; in != nil {
		cmd.Stdin = in
	}
	if out := ends.stdio[1]; out != nil {
		cmd.Stdout, cmd.Stderr = out, ends.stdio[2]
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s.proc = cmd.Process
	if args.CgroupFD != 0 {
		unix.Close(args.CgroupFD)
	}
	return s, nil
}

// initEnds are the init's ends of the pipes and socket the shim keeps
// the other ends of: stdin (OpenStdin), stdout and stderr, or the
// console socket (TTY); nil where there is none.
type initEnds struct {
	stdio   [3]*os.File
	console *os.File
}

// pipes makes the init's streams as args asks: the console socket with a
// terminal, else pipes for stdout and stderr (and stdin with OpenStdin).
// s keeps its ends; the init's are returned, for the caller to close
// once the init holds its copies.
func (s *shim) pipes(args ShimArgs) (ends initEnds, err error) {
	if args.TTY {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return ends, err
		}
		s.console = os.NewFile(uintptr(fds[0]), "console")
		ends.console = os.NewFile(uintptr(fds[1]), "console-child")
		return ends, nil
	}
	for i := range s.outs {
		r, w, err := os.Pipe()
		if err != nil {
			return ends, err
		}
		s.outs[i], ends.stdio[1+i] = r, w
	}
	if args.OpenStdin {
		r, w, err := os.Pipe()
		if err != nil {
			return ends, err
		}
		s.stdin, ends.stdio[0] = w, r
	}
	return ends, nil
}

func (e initEnds) close() {
	for _, f := range append(e.stdio[:], e.console) {
		if f != nil {
			f.Close()
		}
	}
}

// serve opens the log and the attach socket in the container's
// directory, copies the init's output to them (from its terminal once it
// has sent it) and starts the DNS, all before the init may exec.
func (s *shim) serve(cfg *Config, args ShimArgs) {
	var err error
	if s.log, err = logfile.Create(filepath.Join(cfg.Dir, cfg.LogName), cfg.Log); err != nil {
		fmt.Fprintf(os.Stderr, "hull shim: log: %v\n", err)
	}
	if s.srv, err = attach.Listen(cfg.Dir); err != nil {
		fmt.Fprintf(os.Stderr, "hull shim: attach: %v\n", err)
	}
	copyOut := func(name string, typ byte, src *os.File) {
		var w io.Writer = io.Discard
		if s.log != nil && s.srv != nil {
			w = s.log.Stream(name, s.srv.Writer(typ))
		}
		s.copiers.Add(1)
		go func() {
			defer s.copiers.Done()
			_, _ = io.Copy(w, src)
		}()
	}
	if s.console != nil {
		// Sent during the init's setup; EOF if it failed before.
		recv := func() {
			if master, err := RecvConsole(context.Background(), s.console); err == nil {
				s.master.Store(master)
				copyOut("stdout", attach.FrameStdout, master)
				if s.srv != nil {
					s.srv.SetTerminal(master, args.OpenStdin)
				}
			}
		}
		if args.Plan { // the setup starts with our go-ahead, after this
			s.copiers.Add(1)
			go func() {
				defer s.copiers.Done()
				recv()
			}()
		} else {
			recv()
		}
	} else {
		copyOut("stdout", attach.FrameStdout, s.outs[0])
		copyOut("stderr", attach.FrameStderr, s.outs[1])
		if s.stdin != nil && s.srv != nil {
			s.srv.SetStdin(s.stdin)
		}
	}
	if cfg.DNS != nil {
		if s.dns, err = serveDNS(cfg, s.proc.Pid); err != nil {
			fmt.Fprintf(os.Stderr, "hull shim: dns: %v\n", err)
		}
		debug.SetGCPercent(25) // a server for the container's life
	}
}

// serveDNS serves cfg.DNS in the network namespace the init joins (its
// NetNS) or made.
func serveDNS(cfg *Config, pid int) (*dns.NetnsServer, error) {
	path := cfg.NetNS
	if path == "" {
		path = "/proc/" + strconv.Itoa(pid) + "/ns/net"
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(cfg.DNS.Names)
	if err != nil {
		ns.Close()
		return nil, err
	}
	return dns.ServeNetns(ns, dns.NewReader(f), cfg.DNS.Self, cfg.DNS.Upstreams)
}

// close drains the output (for at most a second: a process the command
// left may hold it open) and closes the log, the attach socket (clients
// get the last output, then EOF) and the DNS.
func (s *shim) close() (drained bool) {
	done := make(chan struct{})
	go func() { s.copiers.Wait(); close(done) }()
	select {
	case <-done:
		drained = true
	case <-time.After(time.Second):
	}
	defer func() {
		if m := s.master.Load(); m != nil {
			m.Close()
		}
	}()
	if s.log != nil {
		_ = s.log.Close()
	}
	if s.srv != nil {
		_ = s.srv.Close()
	}
	if s.dns != nil {
		s.dns.Stop()
	}
	return drained
}

// release closes the shim's ends of the init's streams and console
// socket (the copies of the output have ended, or been given up).
func (s *shim) release() {
	for _, f := range []*os.File{s.console, s.outs[0], s.outs[1], s.stdin} {
		if f != nil {
			f.Close()
		}
	}
	if s.started != nil {
		s.started.Free()
	}
}

// writeExit writes exit.json atomically and durably in dir: a Detached
// container's must survive a crash of the host.
func writeExit(dir string, ex Exit) error {
	data, err := json.Marshal(ex)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(dir, ExitName), data, 0o600, fsutil.Sync())
}

// writeDieEvent appends the container's "oom" (if the OOM killer ended
// it) and "die" events to the root's events log, in hull's format (one
// write on an O_APPEND file).
func writeDieEvent(cfg *Config, ex Exit) {
	if cfg.EventsLog == "" {
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
	f, err := os.OpenFile(cfg.EventsLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	_, _ = f.Write(lines)
	f.Close()
}

// removeCgroup removes an exited container's cgroup directories. PID 1
// has exited, so its pid namespace is empty and, nearly always, the
// cgroup with it; a process still in it (an Exec's helper that joined the
// cgroup but not yet the namespace) keeps it busy: it is given a moment,
// then left to Remove, which kills what is left.
func removeCgroup(dirs []string) {
	for i := len(dirs) - 1; i >= 0; i-- {
		for try := 0; ; try++ {
			err := unix.Rmdir(dirs[i])
			if err != unix.EBUSY || try == 20 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// readKV returns the value of key in a file of "key value" lines (a
// cgroup's memory.events or memory.oom_control), or 0.
func readKV(path, key string) int64 {
	if path == "" {
		return 0
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key+" "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// waitNoReap waits until child pid has exited and returns its status,
// leaving it a zombie (waitid WNOWAIT; the status from its stat).
func waitNoReap(pid int) (syscall.WaitStatus, error) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == nil {
			break
		}
		if err != unix.EINTR {
			return 0, err
		}
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// pid (comm) state ... exit_code: the 52nd field, the 50th after comm.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	if len(f) < 50 {
		return 0, fmt.Errorf("stat of %d: %d fields", pid, len(f))
	}
	code, err := strconv.Atoi(f[49])
	return syscall.WaitStatus(code), err
}
