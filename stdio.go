package hull

import (
	"io"
)

// stdioConfig is how a container's main process is wired: RunOptions
// WithStdin and WithTTY (WithStdout and WithStderr are in container.go).
type stdioConfig struct {
	stdin    io.Reader
	open     bool // WithOpenStdin
	tty      bool
	detached bool // WithDetached
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

// WithDetached makes the container outlive the process that creates it (like
// docker run -d). Its PID 1 is the command, as in Docker: it gets only the
// signals it handles (Stop of a command that ignores SIGTERM ends in
// SIGKILL, 137; add WithInit for an init that forwards every signal and
// reaps orphans). Its parent is a shim of hull's on the host, outside the
// container's namespaces and cgroup (like containerd's shim), which
// writes the output to the container's log, serves Attach (the terminal
// with WithTTY, the input with WithOpenStdin) and its DNS on user-defined
// networks, and records the exit status; no parent-death signal, and
// neither Runtime.Close nor a later Open's recovery kills them. Any
// process on the same root finds it with Runtime.Container and can Wait,
// Stop, Kill, Exec, read Logs and Remove it. WithStdout and WithStderr
// receive nothing: read Logs, or Attach. WithStdin cannot be combined with it (no one would be
// left to feed it). Default: the container belongs to its creator (see
// Container).
func WithDetached() RunOption {
	return func(c *runConfig) error {
		c.stdio.detached = true
		return nil
	}
}

// WithInit runs hull's init as the container's PID 1, reaping orphaned
// processes and forwarding every signal to the command, which runs as its
// child (like docker run --init). That init is a small C process with the
// command's user and no capability at all, holding nothing of the host's.
// Default: the command is PID 1.
func WithInit() RunOption {
	return func(c *runConfig) error {
		c.stdio.init = true
		return nil
	}
}
