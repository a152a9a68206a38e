package hull

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	v1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
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
				s.CPU.Percent = float64(s.CPU.TotalNs-prev.CPU.TotalNs) / float64(sys-prevSys) * float64(onlineCPUs()) * 100
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
	sys, err := systemCPUNs()
	if err != nil {
		return Stats{}, 0, fmt.Errorf("stats container %s: %w", shortContainerID(c.id), err)
	}
	v1, v2, err := cg.Stat()
	if err != nil {
		return Stats{}, 0, c.statsError(err)
	}
	var s Stats
	if v2 != nil {
		s = statsV2(v2)
	} else {
		s = statsV1(v1)
	}
	s.Time = time.Now()
	if total := i64(memTotal()); total > 0 && (s.Memory.Limit == 0 || s.Memory.Limit > total) {
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

func statsV1(m *v1stats.Metrics) Stats {
	var s Stats
	if cpu := m.GetCPU().GetUsage(); cpu != nil {
		s.CPU = CPUStats{TotalNs: i64(cpu.Total), UserNs: i64(cpu.User), SystemNs: i64(cpu.Kernel)}
	}
	if mem := m.GetMemory(); mem != nil {
		usage := mem.GetUsage().GetUsage()
		cache := min(mem.TotalInactiveFile, usage)
		s.Memory.Cache, s.Memory.Usage = i64(cache), i64(usage-cache)
		s.Memory.Limit = i64(mem.GetUsage().GetLimit())
	}
	if p := m.GetPids(); p != nil {
		s.Pids = PidsStats{Current: i64(p.Current), Limit: i64(p.Limit)}
	}
	for _, e := range m.GetBlkio().GetIoServiceBytesRecursive() {
		switch strings.ToLower(e.Op) {
		case "read":
			s.IO.ReadBytes += i64(e.Value)
		case "write":
			s.IO.WriteBytes += i64(e.Value)
		}
	}
	return s
}

func statsV2(m *v2stats.Metrics) Stats {
	var s Stats
	if cpu := m.GetCPU(); cpu != nil {
		s.CPU = CPUStats{TotalNs: i64(cpu.UsageUsec) * 1000, UserNs: i64(cpu.UserUsec) * 1000, SystemNs: i64(cpu.SystemUsec) * 1000}
	}
	if mem := m.GetMemory(); mem != nil {
		cache := min(mem.InactiveFile, mem.Usage)
		s.Memory.Cache, s.Memory.Usage = i64(cache), i64(mem.Usage-cache)
		s.Memory.Limit = i64(mem.UsageLimit)
	}
	if p := m.GetPids(); p != nil {
		s.Pids = PidsStats{Current: i64(p.Current), Limit: i64(p.Limit)}
	}
	for _, e := range m.GetIo().GetUsage() {
		s.IO.ReadBytes += i64(e.Rbytes)
		s.IO.WriteBytes += i64(e.Wbytes)
	}
	return s
}

// i64 converts a cgroup counter to the API's int64, saturating: an
// unlimited limit reads as the largest uint64.
func i64(u uint64) int64 { return int64(min(u, math.MaxInt64)) }

// clockTick is USER_HZ, the unit of /proc/stat and /proc/<pid>/stat
// times: 100 on every Linux architecture hull runs on.
const clockTick = 100

// systemCPUNs returns the host's total CPU time (all states but guest,
// which is already in user) from /proc/stat, in nanoseconds.
func systemCPUNs() (uint64, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || fields[0] != "cpu" {
			continue
		}
		var ticks uint64
		for _, v := range fields[1:8] { // user nice system idle iowait irq softirq
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/stat: %w", err)
			}
			ticks += n
		}
		return ticks * (1e9 / clockTick), nil
	}
	return 0, fmt.Errorf("/proc/stat: no cpu line")
}

// onlineCPUs counts the "cpuN" lines of /proc/stat: the online CPUs.
func onlineCPUs() int {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 1
	}
	n := 0
	for line := range bytes.Lines(data) {
		if len(line) > 3 && bytes.HasPrefix(line, []byte("cpu")) && line[3] >= '0' && line[3] <= '9' {
			n++
		}
	}
	return max(n, 1)
}

// memTotal returns the host's memory in bytes, or 0.
func memTotal() uint64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
