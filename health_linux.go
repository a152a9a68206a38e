package hull

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// startHealth starts the container's health checks in this Runtime, for
// the run of lp that just started; they end with it (or with the
// Runtime). A container without a health check has none. A Detached
// container's checks and restarts are its supervisor's instead
// (restartpolicy_supervisor_linux.go): it outlives this process.
func (c *Container) startHealth(lp *liveProcess) {
	c.mu.Lock()
	h, started, detached := c.st.Healthcheck.clone(), c.st.StartedAt, c.st.Detached
	c.mu.Unlock()
	if detached {
		c.startSupervisor()
		return
	}
	if h != nil {
		go c.monitorHealth(lp.done, h, started, func(r HealthResult) { c.recordHealth(lp, h, r, started) })
	}
}

// monitorHealth runs the checks of a run until done is closed, as
// Docker's daemon does: the first after one interval, then one interval
// after each ends (the start interval while in the start period), and
// passes each result to record.
func (c *Container) monitorHealth(done <-chan struct{}, h *Healthcheck, started time.Time, record func(HealthResult)) {
	interval := orDefault(h.Interval, defaultHealthInterval)
	startInterval := orDefault(h.StartInterval, defaultHealthStartInterval)
	timeout := orDefault(h.Timeout, defaultHealthTimeout)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		wait := interval
		if h.StartPeriod > 0 && time.Since(started) < h.StartPeriod {
			wait = startInterval
		}
		t.Reset(wait)
		select {
		case <-done:
			return
		case <-t.C:
		}
		if c.rt.checkOpen() != nil {
			return
		}
		r, ok := c.probe(done, h, timeout)
		if !ok {
			continue // not running now (paused), or gone: done says which
		}
		record(r)
	}
}

// probe runs the check once as an Exec, killed after timeout or when the
// run ends (done). ok is false when there is no result to record: the
// container was not running (paused, exited).
func (c *Container) probe(done <-chan struct{}, h *Healthcheck, timeout time.Duration) (_ HealthResult, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-done:
			cancel()
		case <-finished:
		}
	}()
	out := &headBuffer{max: healthOutputMax}
	r := HealthResult{Start: time.Now().UTC()}
	res, err := c.Exec(ctx, h.command(), WithExecStdout(out), WithExecStderr(out))
	r.End = time.Now().UTC()
	var te *TransitionError
	switch {
	case err == nil:
		r.ExitCode, r.Output = res.ExitCode, out.String()
	case errors.As(err, &te), errors.Is(err, ErrClosed), errors.Is(err, ErrNotFound):
		return r, false
	case errors.Is(err, context.DeadlineExceeded):
		r.ExitCode, r.Output = -1, fmt.Sprintf("Health check exceeded timeout (%v)", timeout)
	case ctx.Err() != nil:
		return r, false // the run ended
	default:
		r.ExitCode, r.Output = -1, err.Error()
	}
	return r, true
}

// recordHealth adds r to the run's health state, writes it and emits
// "health_status: <status>" when the status changed.
func (c *Container) recordHealth(lp *liveProcess, h *Healthcheck, r HealthResult, started time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lp != lp || c.st.Status != StatusRunning {
		return // it ended meanwhile
	}
	if c.st.recordHealth(h, r, started) {
		c.eventLocked("health_status: "+string(c.st.Health.Status), nil)
	}
	_ = writeState(c.rt.containerDir(c.id), &c.st) // the next result writes it again
}

// recordHealth adds r to st's health and reports whether its status
// changed.
func (st *containerState) recordHealth(h *Healthcheck, r HealthResult, started time.Time) bool {
	hs := st.Health.clone()
	if hs == nil {
		hs = &HealthState{Status: HealthStarting}
	}
	inStart := h.StartPeriod > 0 && time.Now().Before(started.Add(h.StartPeriod))
	changed := hs.record(h, r, inStart)
	st.Health = hs
	return changed
}

// headBuffer keeps the first max bytes written to it, from any goroutine.
type headBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *headBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := w.max - len(w.b); n > 0 {
		w.b = append(w.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

func (w *headBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}
