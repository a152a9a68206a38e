package hull

import "time"

// Stats is one sample of a container's resource usage, read from its
// cgroup (as `docker stats` shows it).
type Stats struct {
	Time   time.Time // when the sample was read
	CPU    CPUStats
	Memory MemoryStats
	Pids   PidsStats
	IO     IOStats
}

// CPUStats is the CPU time the container's processes used.
type CPUStats struct {
	TotalNs  int64 // user + system, nanoseconds since the container started
	UserNs   int64 // in user mode, nanoseconds
	SystemNs int64 // in the kernel, nanoseconds
	// Percent is the share of one CPU used, as Docker computes it: the
	// container's CPU time over the host's, times the online CPUs, times
	// 100 (so 2 busy CPUs is 200). Between two samples of StatsStream it
	// covers the interval; for Stats and the first sample of a stream,
	// the container's whole run.
	Percent float64
}

// MemoryStats is the container's memory use.
type MemoryStats struct {
	// Usage is the memory charged to the container minus its inactive
	// file cache (what `docker stats` shows as MEM USAGE).
	Usage int64
	// Limit is the container's memory limit, or the host's memory when
	// it has none.
	Limit int64
	// Cache is the inactive file cache not counted in Usage.
	Cache   int64
	Percent float64 // Usage / Limit * 100
}

// PidsStats counts the container's processes and threads.
type PidsStats struct {
	Current int64 // processes and threads now
	Limit   int64 // 0: unlimited
}

// IOStats is the bytes the container read and wrote on block devices.
type IOStats struct {
	ReadBytes  int64 // since the container started
	WriteBytes int64 // since the container started
}

// Process is one process of a container, as `docker top` lists it.
type Process struct {
	PID     int           // host PID
	PPID    int           // host PID of the parent
	UID     int           // real user ID (in the host's user namespace)
	User    string        // UID's name in the host's /etc/passwd, else the number
	CPU     int           // C: percent of CPU used over its lifetime
	Started time.Time     // when the process started
	TTY     string        // "?" when none
	Time    time.Duration // CPU time used
	Cmd     string        // command line, or [name] for a process without one
}
