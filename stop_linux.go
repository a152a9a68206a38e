package hull

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// defaultStopTimeout is how long Stop waits before SIGKILL when neither
// the caller nor WithStopTimeout says (Docker's 10 seconds).
const defaultStopTimeout = 10 * time.Second

func (st *containerState) stopTimeout() time.Duration {
	if st.StopTimeout != nil {
		return *st.StopTimeout
	}
	return defaultStopTimeout
}

// autoRemove removes an exited container made WithAutoRemove. The reaper
// calls it once the exit is recorded.
func (c *Container) autoRemove() {
	c.mu.Lock()
	auto := c.st.AutoRemove && c.st.Status != ""
	c.mu.Unlock()
	if auto {
		_ = c.Remove(context.Background(), WithRemoveVolumes()) // docker run --rm removes them too
	}
}

// Kill sends sig to the container's main process. It fails with
// ErrConflict if the container is not running. As in Docker, a PID 1 that
// has no handler for sig ignores it (SIGKILL always works). A SIGKILL is
// a stop for the restart policy (see Stop); other signals are not.
func (c *Container) Kill(ctx context.Context, sig syscall.Signal) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("kill container %s: %w", shortContainerID(c.id), err)
	}
	if sig == syscall.SIGKILL {
		c.markStopped() // its restart policy does not undo it: restartpolicy_linux.go
	}
	if err := c.signal(sig); err != nil {
		return fmt.Errorf("kill container %s: %w", shortContainerID(c.id), err)
	}
	return nil
}

// signal is Kill, its error not wrapped and without a context: Stop
// and Remove must still kill when their context has ended.
func (c *Container) signal(sig syscall.Signal) error {
	if !c.running() {
		return fmt.Errorf("%w: container is not running", ErrConflict)
	}
	var err error
	if lp := c.live(); lp != nil {
		err = lp.proc.Signal(sig)
	} else {
		c.mu.Lock()
		pid := c.st.Pid
		c.mu.Unlock()
		err = unix.Kill(pid, sig)
	}
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	if sig == syscall.SIGKILL {
		c.thawAfterKill()
	}
	c.event("kill", map[string]string{"signal": strconv.Itoa(int(sig))})
	return nil
}

// Stop sends the stop signal (WithStopSignal, else the image's STOPSIGNAL,
// else SIGTERM), waits up to timeout for the container to exit, then sends
// SIGKILL. A negative timeout means the container's WithStopTimeout, else
// 10 seconds. Stopping a container that is not running does nothing.
// The container's restart policy does not undo a Stop, whichever process
// applies it, and a restart waiting out its backoff is called off; the
// next Start ends that.
func (c *Container) Stop(ctx context.Context, timeout time.Duration) error {
	c.markStopped() // its restart policy does not undo it: restartpolicy_linux.go
	sig := syscall.SIGTERM
	c.mu.Lock()
	if c.st.StopSignal != 0 {
		sig = syscall.Signal(c.st.StopSignal)
	}
	if timeout < 0 {
		timeout = c.st.stopTimeout()
	}
	c.mu.Unlock()
	if err := c.signal(sig); err != nil {
		if !c.running() {
			return nil
		}
		return fmt.Errorf("stop container %s: %w", shortContainerID(c.id), err)
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	_, err := c.Wait(tctx)
	cancel()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := c.signal(syscall.SIGKILL); err != nil && c.running() {
		return fmt.Errorf("stop container %s: %w", shortContainerID(c.id), err)
	}
	_, err = c.Wait(ctx)
	return err
}

func parseSignal(s string) syscall.Signal {
	if n, err := strconv.Atoi(s); err == nil {
		return syscall.Signal(n)
	}
	if len(s) < 3 || s[:3] != "SIG" {
		s = "SIG" + s
	}
	return unix.SignalNum(s)
}
