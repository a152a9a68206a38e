package hull

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// stdioConfig is how a container's main process is wired: RunOptions
// WithStdin and WithTTY (WithStdout and WithStderr are in container.go).
type stdioConfig struct {
	stdin    io.Reader
	open     bool // WithOpenStdin
	tty      bool
	detached bool // Detached
	init     bool // WithInit
}

// WithStdin feeds r to the container's standard input; the input is
// closed when r ends (like docker run -i). Default: no input (/dev/null).
func WithStdin(r io.Reader) RunOption {
	return func(c *runConfig) error {
		c.stdio.stdin = r
		return nil
	}
}

// WithOpenStdin keeps the container's standard input open for clients of
// Container.Attach (like docker create -i / run -di): what they send is
// its input, and one that ends its input closes it. With WithStdin, r is
// written too and closes the input when it ends. Default: no input
// (/dev/null) unless WithStdin.
func WithOpenStdin() RunOption {
	return func(c *runConfig) error {
		c.stdio.open = true
		return nil
	}
}

// WithTTY gives the container's process a pseudo-terminal, made in the
// container's /dev/pts, as its controlling terminal, stdin, stdout and
// stderr, and sets TERM=xterm (like docker run -t). Its output, with
// "\r\n" line ends, goes to WithStdout and the log as stdout. Default: no
// terminal, plain pipes.
func WithTTY() RunOption {
	return func(c *runConfig) error {
		c.stdio.tty = true
		return nil
	}
}

// Detached makes the container outlive the process that creates it (like
// docker run -d): its PID 1 is hull's init, which stays resident, runs the
// command as its child, forwards it the signals it handles (those it does
// not handle are dropped, as the kernel does for a PID 1 in Docker: Stop
// of a command that ignores SIGTERM ends in SIGKILL, 137; WithInit
// forwards every signal, as docker --init), reaps orphans, writes the
// output to the container's log itself and records the exit status; no
// parent-death signal, and neither Runtime.Close nor a later Open's
// recovery kills it. Any process on the same root finds it with
// Runtime.Container and can Wait, Stop, Kill, Exec, read Logs and Remove
// it. WithStdout and WithStderr receive nothing: read Logs, or Attach,
// which the init serves (its terminal with WithTTY, its input with
// WithOpenStdin). WithStdin cannot be combined with it (no one would be
// left to feed it). Default: the container belongs to its creator (see
// Container).
func Detached() RunOption {
	return func(c *runConfig) error {
		c.stdio.detached = true
		return nil
	}
}

// WithInit runs hull's init as the container's PID 1, reaping orphaned
// processes and forwarding signals to the command, which runs as its
// child (like docker run --init). Default: the command is PID 1.
func WithInit() RunOption {
	return func(c *runConfig) error {
		c.stdio.init = true
		return nil
	}
}

// exitName is the file a resident init writes when the command ends
// (internal/initproc.ExitName).
const exitName = "exit.json"

// mergeExit applies a resident init's exit.json to a state that does not
// know yet that the container exited (its owner is gone, or is slower).
func mergeExit(dir string, st *containerState) {
	// Only once the init is gone: until then the container still holds
	// its cgroup.
	if st.Status == StatusExited || st.Status == "" || st.alive() {
		return
	}
	data, err := os.ReadFile(filepath.Join(dir, exitName))
	if errors.Is(err, fs.ErrNotExist) && st.Detached && st.Pid != 0 &&
		(st.Status == StatusRunning || st.Status == StatusPaused) && !st.ownerAlive() {
		// A detached init that ran its command and is gone without
		// writing exit.json was killed (SIGKILL: it handles the rest),
		// and its command with it, as Docker's PID 1 would be: 137.
		// (A live creator records the real status itself.)
		st.Status, st.ExitCode = StatusExited, 137
		return
	}
	if err != nil {
		return
	}
	var ex struct {
		Code       int       `json:"exitCode"`
		FinishedAt time.Time `json:"finishedAt"`
		OOMKilled  bool      `json:"oomKilled"`
	}
	if json.Unmarshal(data, &ex) != nil {
		return
	}
	st.Status, st.ExitCode, st.FinishedAt, st.OOMKilled = StatusExited, ex.Code, ex.FinishedAt, ex.OOMKilled
}
