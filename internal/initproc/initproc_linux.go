package initproc

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"syscall"

	"github.com/hullbox/hull/internal/logfile"
	"github.com/hullbox/hull/internal/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Env marks the re-executed binary as a container's init ("_HULL_INIT=1").
// It is the only thing this package's init() looks at.
const Env = "_HULL_INIT"

// cgroupRoot is where the host mounts the cgroup filesystem.
const cgroupRoot = "/sys/fs/cgroup"

// Fds of the two pipes the parent passes in ExtraFiles.
const (
	configFD = 3 // parent -> init: config (length-prefixed JSON), then the start byte
	statusFD = 4 // init -> parent: one JSON message per line; EOF after exec
)

// Config is what the parent sends the init: the OCI spec plus where the
// root filesystem's overlay layers are.
type Config struct {
	ID   string      `json:"id"`
	Spec *specs.Spec `json:"spec"`
	// LowerRoot is the directory the Lowers are relative to: the overlay
	// is mounted from there, so that its options fit in a page however
	// many layers there are.
	LowerRoot string   `json:"lowerRoot"`
	Lowers    []string `json:"lowers"` // top first
	Upper     string   `json:"upper"`
	Work      string   `json:"work"`
	// Volatile mounts the overlay with "volatile" (Linux 5.10): nothing
	// syncs its upper directory, not even at unmount, where the kernel
	// would otherwise write out the whole upper filesystem (podman does
	// the same for --rm containers). The kernel then leaves
	// VolatileMarker under Work, and refuses the next mount of that
	// upper directory until it is removed.
	Volatile bool `json:"volatile,omitempty"`
	// JoinTasks are cgroup v1 "tasks" files (cgroup.Cgroup.TasksFiles):
	// a plan init joins its cgroup itself, writing 0 to each as its first
	// step. The kernel moves a thread that moves itself without taking
	// the global lock a move of another process takes, whose first use
	// after a quiet spell waits an RCU grace period (10-25 ms here).
	// Only a one-thread process may do that: a Go init gets them in
	// JoinEnv and joins in C before Go starts its threads; they are never
	// in the config sent to it.
	JoinTasks []string `json:"-"`
	// NetNS is a network namespace to join (/proc/<pid>/ns/net of
	// another container's init, for network mode container:<id>) before
	// anything else, instead of the new one the init was cloned into.
	NetNS string `json:"netns,omitempty"`
	// DNS makes a Detached container's shim serve DNS on dns.Addr.
	DNS *DNSConfig `json:"dns,omitempty"`
	// SeccompBPF is the spec's seccomp profile compiled by the parent
	// (seccomp.Encode), which then sends the profile without its rules:
	// the parent compiles each profile once, not every init.
	SeccompBPF []byte `json:"seccompBPF,omitempty"`
	// Reaper says the init runs under a reaper (WithInit: ReaperEnv),
	// which it confines before anything else.
	Reaper bool `json:"reaper,omitempty"`
	// Log bounds the container's log (WithLogMaxSize, WithLogMaxFiles),
	// for whoever writes it: the creator, or a Detached container's shim.
	Log logfile.Limits `json:"log,omitzero"`
	// The rest is for a Detached container's shim (shim_linux.go). Dir
	// is the container's directory, where it writes ExitName and the
	// output to LogName; OpenStdin gives the command a stdin pipe that
	// attached clients write to (else /dev/null); EventsLog is the
	// root's events log, where it appends the container's "die" event
	// with EventAttrs (name, image); OOMFile is the host's path of the
	// memory cgroup's memory.events (v2) or memory.oom_control (v1),
	// which tells whether the OOM killer ended the container;
	// CgroupDirs are the container's cgroup directories (one per v1
	// hierarchy, or its v2 one), which the shim removes once PID 1 has
	// exited and before it records the exit, as Docker's runtime deletes
	// an exited container's cgroup.
	Detached   bool              `json:"detached,omitempty"`
	Dir        string            `json:"dir,omitempty"`
	LogName    string            `json:"logName,omitempty"`
	OpenStdin  bool              `json:"openStdin,omitempty"`
	EventsLog  string            `json:"eventsLog,omitempty"`
	EventAttrs map[string]string `json:"eventAttrs,omitempty"`
	OOMFile    string            `json:"oomFile,omitempty"`
	CgroupDirs []string          `json:"cgroupDirs,omitempty"`
}

// Message is one report from the init on the status pipe.
type Message struct {
	Type    string `json:"type"` // "ready" or "error"
	Stage   string `json:"stage,omitempty"`
	Errno   int    `json:"errno,omitempty"`
	Message string `json:"message,omitempty"`
	Code    int    `json:"code,omitempty"` // exit code the failure stands for
	Pid     int    `json:"pid,omitempty"`  // a shim's "pid": its init's
	// A plan init's failure has no words (Word gives them): the step
	// (1-based; 0 is before the first), where in it (a fail constant)
	// and a number some of those need.
	Step int `json:"step,omitempty"`
	At   int `json:"at,omitempty"`
	N    int `json:"n,omitempty"`
}

func init() {
	Trace("C initproc init")
	Run()
}

// Run runs a container's init when this process was started as one, and
// then never returns; otherwise it does nothing. This package's init()
// calls it (see the package comment for why here).
func Run() {
	if os.Getenv(ReaperEnv) != "" { // reaper.c did not take it
		fmt.Fprintln(os.Stderr, "hull init:", errReaperNoCgo)
		os.Exit(125)
	}
	mode := os.Getenv(Env)
	if mode == "" {
		return
	}
	if secureExec() {
		fmt.Fprintln(os.Stderr, "hull init: refusing to run as a container init in secure-execution mode "+
			"(a setuid, setgid or file-capability program): its environment and descriptors are its caller's")
		os.Exit(125)
	}
	if os.Getenv(JoinEnv) != "" { // join.c did not take it: the init is not in its cgroup
		fmt.Fprintln(os.Stderr, "hull init: cgroup not joined")
		os.Exit(125)
	}
	switch mode {
	case SuperviseMode:
		return // package hull's init runs it
	case WarmMode:
		os.Exit(runWarm())
	case ShimMode:
		os.Exit(runShim())
	case ShimWarmMode:
		os.Exit(runWarmShim())
	}
	os.Exit(runInit())
}

// stageError is a setup failure, reported to the parent with its stage.
type stageError struct {
	stage string
	code  int
	err   error
}

func (e *stageError) Error() string { return e.stage + ": " + e.err.Error() }

func (e *stageError) Unwrap() error { return e.err }

func fail(stage string, err error) error { return &stageError{stage: stage, code: 125, err: err} }

func runInit() int {
	// Namespace and capability changes below are per thread: everything,
	// up to the execve, happens on this one.
	runtime.LockOSThread()
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	closeExecFrom(configFD) // the config and status pipes too
	cfgR := os.NewFile(configFD, "config")
	status := os.NewFile(statusFD, "status")

	cfg, err := readConfig(cfgR)
	if err != nil {
		return report(status, fail("config", err))
	}
	Trace("C config read")
	if cfg.Reaper {
		if err := confineReaper(cfg.Spec); err != nil {
			return report(status, fail("init", err))
		}
	}
	// The plan Compile would give plan.c, run by the Go executors.
	p, cerr := compilePlan(cfg)
	r := goRun{status: status, config: cfgR}
	err = r.runInitPlan(p, cerr)
	if errors.Is(err, errQuit) {
		return 125
	}
	return report(status, err)
}

func readConfig(r io.Reader) (*Config, error) {
	var n uint32
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
		return nil, err
	}
	if n > 16<<20 {
		return nil, fmt.Errorf("config of %d bytes", n)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, err
	}
	var cfg Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, err
	}
	if cfg.Spec == nil || cfg.Spec.Process == nil || cfg.Spec.Root == nil {
		return nil, errors.New("incomplete spec")
	}
	if cfg.SeccompBPF != nil {
		prog, err := seccomp.Decode(cfg.SeccompBPF)
		if err != nil {
			return nil, err
		}
		seccompProg = prog
	}
	return &cfg, nil
}

// WriteConfig sends cfg to the init, length-prefixed. The seccomp profile
// goes compiled (Config.SeccompBPF), unless it does not compile: then the
// init compiles it and reports the error as any other setup failure.
func WriteConfig(w io.Writer, cfg *Config) error {
	if l := cfg.Spec.Linux; l != nil && l.Seccomp != nil && cfg.SeccompBPF == nil {
		if prog, err := seccomp.CompileCached(l.Seccomp); err == nil {
			c, spec, linux, sc := *cfg, *cfg.Spec, *l, *l.Seccomp
			sc.Syscalls = nil
			linux.Seccomp, spec.Linux, c.Spec = &sc, &linux, &spec
			c.SeccompBPF = seccomp.Encode(prog)
			cfg = &c
		}
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	buf := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+len(data)), uint32(len(data)))
	_, err = w.Write(append(buf, data...))
	return err
}

func sendMessage(w io.Writer, m Message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// report sends err (if any) to the parent and returns the exit code.
func report(status io.Writer, err error) int {
	if err == nil {
		return 0
	}
	m := Message{Type: "error", Stage: "setup", Message: err.Error(), Code: 125}
	var se *stageError
	if errors.As(err, &se) {
		m.Stage, m.Code, m.Message = se.stage, se.code, se.err.Error()
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		m.Errno = int(errno)
	}
	_ = sendMessage(status, m)
	return m.Code
}

// ReadMessage reads the init's next report; io.EOF means the init exec'd
// the user's process (or died without a word).
func ReadMessage(r *bufio.Reader) (Message, error) {
	var m Message
	line, err := r.ReadBytes('\n')
	if err != nil {
		if len(line) == 0 {
			return m, err
		}
	}
	if err := json.Unmarshal(line, &m); err != nil {
		return m, fmt.Errorf("bad message from container init: %q", line)
	}
	return m, nil
}

// closeExecFrom marks every descriptor from fd up close-on-exec: the
// program that started the init may hold some without O_CLOEXEC (a C
// library's, say), and no process in the container may inherit them (a
// directory's would lead outside its root). plan.c does the same.
func closeExecFrom(from int) {
	if unix.CloseRange(uint(from), ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= from {
			unix.CloseOnExec(fd)
		}
	}
}
