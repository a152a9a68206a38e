package hull

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/hullbox/hull/internal/logfile"
)

// logName is the container's output log in its directory (logfile's
// format, Docker's json-file).
const logName = "container.log"

// LogsOption configures Container.Logs.
type LogsOption func(*logsConfig) error

type logsConfig struct {
	follow         bool
	since          time.Time
	tail           int // -1: all
	stdout, stderr io.Writer
}

// WithLogsStdout writes the container's standard output to w (with
// WithTTY, all its output). Default: dropped.
func WithLogsStdout(w io.Writer) LogsOption {
	return func(c *logsConfig) error { c.stdout = w; return nil }
}

// WithLogsStderr writes the container's standard error to w. Default:
// dropped.
func WithLogsStderr(w io.Writer) LogsOption {
	return func(c *logsConfig) error { c.stderr = w; return nil }
}

// WithLogsFollow keeps writing new output until the container exits or
// ctx ends, like docker logs -f. Default: only what is logged now.
func WithLogsFollow() LogsOption {
	return func(c *logsConfig) error { c.follow = true; return nil }
}

// WithLogsSince skips output logged before t. Default: from the start.
func WithLogsSince(t time.Time) LogsOption {
	return func(c *logsConfig) error { c.since = t; return nil }
}

// WithLogsTail starts with the last n lines (of both streams) only; 0
// skips all that is logged so far, as docker logs --tail 0. Default: all.
func WithLogsTail(n int) LogsOption {
	return func(c *logsConfig) error {
		if n < 0 {
			return fmt.Errorf("%w: WithLogsTail(%d): want 0 or more lines", ErrInvalidArgument, n)
		}
		c.tail = n
		return nil
	}
}

// Logs writes the container's output, as kept in containers/<id>/
// container.log by the process that ran it: it works from any process on
// the same root, and after the container (or its owner) exited. A line is
// written whole. Without WithLogsStdout or WithLogsStderr nothing is
// written. The log is bounded (WithLogMaxSize): Logs reads the files
// kept, oldest first, and WithLogsFollow goes on across rotations without
// losing or repeating a line, unless it fell behind by more than the kept
// files.
//
// While the container runs, a line it wrote is in the log as soon as the
// process that keeps the log (this program, or a Detached container's
// shim) has read it from the container's pipe or terminal: within
// milliseconds, and within a second on a loaded machine
// (TestLogsLiveDelay). A line without its newline waits for it, for 16
// KiB of it (then logged as a partial entry, as Docker does) or for the
// container's end. Once Wait has returned, the log holds everything.
func (c *Container) Logs(ctx context.Context, opts ...LogsOption) error {
	o := logsConfig{tail: -1}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return fmt.Errorf("logs of container %s: %w", shortContainerID(c.id), err)
		}
	}
	ro := logfile.ReadOptions{Since: o.since, Follow: o.follow, Done: c.logsDone}
	switch {
	case o.tail > 0:
		ro.Tail = o.tail
	case o.tail == 0 && !o.follow:
		return nil
	case o.tail == 0:
		if now := time.Now(); now.After(ro.Since) {
			ro.Since = now
		}
	}
	err := logfile.Read(ctx, filepath.Join(c.rt.containerDir(c.id), logName), ro, func(e logfile.Entry) error {
		w := o.stdout
		if e.Stream == "stderr" {
			w = o.stderr
		}
		if w == nil {
			return nil
		}
		_, err := io.WriteString(w, e.Log)
		return err
	})
	if err != nil {
		return fmt.Errorf("logs of container %s: %w", shortContainerID(c.id), err)
	}
	return nil
}
