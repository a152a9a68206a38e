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

// LogsOptions selects what Container.Logs writes.
type LogsOptions struct {
	// Follow keeps writing new output until the container exits or ctx
	// ends. Default: only what is logged now.
	Follow bool
	// Since skips output logged before it. Default: from the start.
	Since time.Time
	// Tail, when > 0, starts with the last Tail lines only. Default: all.
	Tail int
	// Stdout and Stderr receive the container's standard output and
	// error. A nil writer drops that stream.
	Stdout, Stderr io.Writer
}

// Logs writes the container's output, as kept in containers/<id>/
// container.log by the process that ran it: it works from any process on
// the same root, and after the container (or its owner) exited. A line is
// written whole; with WithTTY all output is Stdout.
func (c *Container) Logs(ctx context.Context, o LogsOptions) error {
	ro := logfile.ReadOptions{Since: o.Since, Tail: o.Tail, Follow: o.Follow, Done: c.logsDone}
	err := logfile.Read(ctx, filepath.Join(c.rt.containerDir(c.id), logName), ro, func(e logfile.Entry) error {
		w := o.Stdout
		if e.Stream == "stderr" {
			w = o.Stderr
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
