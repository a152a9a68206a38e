package hull

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// ExecResult is how an exec'd process ended.
type ExecResult struct {
	// ExitCode is the process's exit code, Docker style: 128+signal when a
	// signal ended it, 126 when the command is not executable, 127 when it
	// does not exist, 125 when hull failed to set it up.
	ExitCode int
}

// ExecOption configures Container.Exec.
type ExecOption func(*execConfig) error

type execConfig struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	tty            bool
	rows, cols     uint16
	resize         <-chan [2]uint16
	env            []string
	user           string
	workdir        string
}

// WithExecStdin feeds r to the process's standard input; the input is
// closed when r ends. Default: no input (/dev/null).
func WithExecStdin(r io.Reader) ExecOption {
	return func(c *execConfig) error { c.stdin = r; return nil }
}

// WithExecStdout sends the process's standard output to w. Default:
// discarded. Exec returns after the output is copied.
func WithExecStdout(w io.Writer) ExecOption {
	return func(c *execConfig) error { c.stdout = w; return nil }
}

// WithExecStderr sends the process's standard error to w, and also the
// reason a command could not be run (exit codes 125-127). Default:
// discarded. With WithExecTTY, stderr goes to the terminal (stdout).
func WithExecStderr(w io.Writer) ExecOption {
	return func(c *execConfig) error { c.stderr = w; return nil }
}

// WithExecTTY gives the process a pseudo-terminal of rows x cols, made in
// the container's /dev/pts, as its controlling terminal, stdin, stdout and
// stderr (like docker exec -t). Default: no terminal, plain pipes.
func WithExecTTY(rows, cols uint16) ExecOption {
	return func(c *execConfig) error { c.tty, c.rows, c.cols = true, rows, cols; return nil }
}

// WithExecResize resizes the terminal of a WithExecTTY process to each
// {rows, cols} received on ch until the process exits. Default: the size
// given to WithExecTTY stays.
func WithExecResize(ch <-chan [2]uint16) ExecOption {
	return func(c *execConfig) error { c.resize = ch; return nil }
}

// WithExecEnv adds "KEY=value" variables to the container's environment
// for this process. Default: the container's environment.
func WithExecEnv(kv ...string) ExecOption {
	return func(c *execConfig) error {
		for _, e := range kv {
			if k, _, _ := strings.Cut(e, "="); k == "" {
				return fmt.Errorf("%w: env %q: want KEY=value", ErrInvalidArgument, e)
			}
		}
		c.env = append(c.env, kv...)
		return nil
	}
}

// WithExecUser runs the process as user ("name", "uid", "name:group",
// "uid:gid"), resolved in the running container's /etc/passwd and
// /etc/group. Default: the container's user.
func WithExecUser(user string) ExecOption {
	return func(c *execConfig) error {
		if user == "" {
			return fmt.Errorf("%w: empty exec user", ErrInvalidArgument)
		}
		c.user = user
		return nil
	}
}

// WithExecWorkdir runs the process in dir, which must exist. Default: the
// container's working directory.
func WithExecWorkdir(dir string) ExecOption {
	return func(c *execConfig) error {
		if !strings.HasPrefix(dir, "/") {
			return fmt.Errorf("%w: workdir %q is not absolute", ErrInvalidArgument, dir)
		}
		c.workdir = dir
		return nil
	}
}

// mergeEnv returns base with the variables of extra set (replacing
// those of the same name, keeping base's order).
func mergeEnv(base, extra []string) []string {
	out := slices.Clone(base)
	for _, e := range extra {
		k, _, _ := strings.Cut(e, "=")
		i := slices.IndexFunc(out, func(o string) bool { ok, _, _ := strings.Cut(o, "="); return ok == k })
		if i >= 0 {
			out[i] = e
		} else {
			out = append(out, e)
		}
	}
	return out
}
