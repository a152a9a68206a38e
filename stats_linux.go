package hull

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/hullbox/hull/internal/procfs"
)

// Stats returns one sample of the container's resource usage. It fails
// with ErrConflict if the container is not running (or paused).
func (c *Container) Stats(ctx context.Context) (Stats, error) {
	s, _, err := c.sampleStats()
	if err != nil {
		return Stats{}, err
	}
	c.mu.Lock()
	started := c.st.StartedAt
	c.mu.Unlock()
	if d := s.Time.Sub(started); !started.IsZero() && d > 0 {
		s.CPU.Percent = float64(s.CPU.TotalNs) / float64(d.Nanoseconds()) * 100
	}
	return s, nil
}

// StatsStream samples the container's usage every interval (1s if
// interval <= 0) and sends the samples on the returned channel, as Events
// streams: what fails before the first sample (the container is not
// running: a *TransitionError wrapping ErrConflict; its cgroup cannot be
// read) is returned at once; afterwards the channel is closed when ctx
// ends or the container stops. The first sample comes at once. The
// channel is unbuffered: a slow reader delays sampling.
func (c *Container) StatsStream(ctx context.Context, interval time.Duration) (<-chan Stats, error) {
	if interval <= 0 {
		interval = time.Second
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("stats container %s: %w", shortContainerID(c.id), err)
	}
	first, sys, err := c.sampleStats()
	if err != nil {
		return nil, err
	}
	if st, err := c.Stats(ctx); err == nil {
		first.CPU.Percent = st.CPU.Percent
	}
	ch := make(chan Stats)
	go func() {
		defer close(ch)
		t := time.NewTicker(interval)
		defer t.Stop()
		s, prev, prevSys := first, first, sys
		for {
			select {
			case ch <- s:
			case <-ctx.Done():
				return
			}
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
			var err error
			if s, sys, err = c.sampleStats(); err != nil {
				return
			}
			if sys > prevSys && s.CPU.TotalNs >= prev.CPU.TotalNs {
				s.CPU.Percent = float64(s.CPU.TotalNs-prev.CPU.TotalNs) / float64(sys-prevSys) * float64(procfs.OnlineCPUs()) * 100
			}
			prev, prevSys = s, sys
		}
	}()
	return ch, nil
}

// sampleStats reads the container's cgroup, and the host's CPU time in
// nanoseconds for Docker's CPU percentage.
func (c *Container) sampleStats() (Stats, uint64, error) {
	cg, err := c.liveCgroup("stats")
	if err != nil {
		return Stats{}, 0, err
	}
	sys, err := procfs.SystemCPUNs()
	if err != nil {
		return Stats{}, 0, fmt.Errorf("stats container %s: %w", shortContainerID(c.id), err)
	}
	u, err := cg.Usage()
	if err != nil {
		return Stats{}, 0, c.statsError(err)
	}
	s := Stats{
		Time:   time.Now(),
		CPU:    CPUStats{TotalNs: u.CPUTotalNs, UserNs: u.CPUUserNs, SystemNs: u.CPUSystemNs},
		Memory: MemoryStats{Usage: u.Memory, Limit: u.MemoryLimit, Cache: u.MemoryCache},
		Pids:   PidsStats{Current: u.Pids, Limit: u.PidsLimit},
		IO:     IOStats{ReadBytes: u.ReadBytes, WriteBytes: u.WriteBytes},
	}
	if total := procfs.MemTotal(); total > 0 && (s.Memory.Limit == 0 || s.Memory.Limit > total) {
		s.Memory.Limit = total
	}
	if s.Memory.Limit > 0 {
		s.Memory.Percent = float64(s.Memory.Usage) / float64(s.Memory.Limit) * 100
	}
	// The cgroup may outlive the process by a moment: no processes, no
	// container.
	if s.Pids.Current == 0 && !c.running() {
		return Stats{}, 0, c.gone(actStats)
	}
	return s, sys, nil
}

// statsError is err, or a *TransitionError if the container exited while
// its cgroup was read (the reaper removes the cgroup).
func (c *Container) statsError(err error) error {
	if errors.Is(err, cgroup1.ErrCgroupDeleted) || errors.Is(err, fs.ErrNotExist) {
		return &TransitionError{ID: c.id, Action: string(actStats), Status: StatusExited}
	}
	if !c.running() {
		return c.gone(actStats)
	}
	return fmt.Errorf("stats container %s: %w", shortContainerID(c.id), err)
}
