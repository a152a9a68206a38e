package hull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"time"

	"github.com/hullbox/hull/internal/attach"
)

// AttachOption configures Container.Attach.
type AttachOption func(*attachConfig) error

type attachConfig struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	resize         <-chan [2]uint16
	ready          func()
}

// WithAttachStdin sends r to the container's standard input; when r ends,
// the container's input is closed (a `cat` sees EOF), as docker run -i
// does. The container must have been created WithOpenStdin (or
// WithStdin), else Attach fails with ErrInvalidArgument. With WithTTY, r
// goes to the terminal and its end does not close it. Default: no input.
func WithAttachStdin(r io.Reader) AttachOption {
	return func(c *attachConfig) error { c.stdin = r; return nil }
}

// WithAttachStdout receives the container's standard output (with
// WithTTY, the terminal's output) from the moment of the attach. Default:
// dropped.
func WithAttachStdout(w io.Writer) AttachOption {
	return func(c *attachConfig) error { c.stdout = w; return nil }
}

// WithAttachStderr receives the container's standard error from the
// moment of the attach. Default: dropped.
func WithAttachStderr(w io.Writer) AttachOption {
	return func(c *attachConfig) error { c.stderr = w; return nil }
}

// WithAttachResize resizes the container's terminal (WithTTY) to each
// {rows, cols} received on ch. Default: the size stays.
func WithAttachResize(ch <-chan [2]uint16) AttachOption {
	return func(c *attachConfig) error { c.resize = ch; return nil }
}

// WithAttachReady calls fn once the attach is in place: output the
// container writes from then on reaches the writers. Default: none.
func WithAttachReady(fn func()) AttachOption {
	return func(c *attachConfig) error { c.ready = fn; return nil }
}

// Attach connects to the running container's standard streams, like
// `docker attach`: output produced from now on goes to the writers (the
// earlier output is in Logs), input to its stdin or terminal, from any
// process on the same root. Whoever holds the container's stdio serves
// it: the owning Runtime, or for a Detached container its shim,
// over containers/<id>/attach.sock. Several clients may attach at once; a
// client too slow to read is disconnected rather than block the
// container.
//
// Attach returns nil when the container's output has ended (it exited;
// Wait gives the status), and ctx's error when ctx ends first: that is a
// detach, the container keeps running. A created container may be
// attached before Start: its creator serves its streams from Create on,
// so the client sees all of its output; a Detached one's shim, or a
// Start in another process, serves them only from Start, and Attach
// waits for it. It fails with ErrConflict if the container has exited.
func (c *Container) Attach(ctx context.Context, opts ...AttachOption) error {
	var ac attachConfig
	for _, o := range opts {
		if err := o(&ac); err != nil {
			return fmt.Errorf("attach to container %s: %w", shortContainerID(c.id), err)
		}
	}
	dir := c.rt.containerDir(c.id)
	st, err := readState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("attach to container %s: %w", shortContainerID(c.id), ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("attach to container %s: %w", shortContainerID(c.id), err)
	}
	if ac.stdin != nil && !st.OpenStdin {
		return fmt.Errorf("attach to container %s: %w: its stdin is not open (create it WithOpenStdin)", shortContainerID(c.id), ErrInvalidArgument)
	}
	var conn net.Conn
	if st.unstarted() {
		if conn, err = attach.Dial(dir); errors.Is(err, attach.ErrNoServer) {
			st, err = waitLaunched(ctx, dir)
		}
		if err != nil {
			return fmt.Errorf("attach to container %s: %w", shortContainerID(c.id), err)
		}
	}
	if conn == nil {
		if st.view() == StatusExited {
			return &TransitionError{ID: c.id, Action: string(actAttach), Status: StatusExited}
		}
		conn, err = attach.Dial(dir)
	}
	if errors.Is(err, attach.ErrNoServer) {
		if st, rerr := readState(dir); rerr == nil && st.view() == StatusExited {
			return &TransitionError{ID: c.id, Action: string(actAttach), Status: StatusExited}
		}
		return fmt.Errorf("attach to container %s: %w: %w", shortContainerID(c.id), ErrConflict, err)
	}
	if err != nil {
		return fmt.Errorf("attach to container %s: %w", shortContainerID(c.id), err)
	}
	err = attach.Run(ctx, conn, attach.Options{
		Stdin: ac.stdin, CloseStdin: !st.TTY, Stdout: ac.stdout, Stderr: ac.stderr,
		Resize: ac.resize, Ready: ac.ready,
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("attach to container %s: %w", shortContainerID(c.id), err)
	}
	return err
}

// waitLaunched waits until a created container has an init (a Start
// launched it) and returns its state then.
func waitLaunched(ctx context.Context, dir string) (containerState, error) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return containerState{}, ctx.Err()
		}
		st, err := readState(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return st, ErrNotFound
		}
		if err != nil || !st.unstarted() {
			return st, err
		}
	}
}
