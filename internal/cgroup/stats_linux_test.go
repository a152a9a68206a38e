package cgroup

import (
	"math"
	"testing"

	v1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
)

// TestUsageFromMetrics: both hierarchies' metrics give the same Usage:
// the inactive file cache out of the memory used, CPU time in
// nanoseconds, block I/O summed, an unlimited limit saturated.
func TestUsageFromMetrics(t *testing.T) {
	want := Usage{
		CPUTotalNs: 3000, CPUUserNs: 2000, CPUSystemNs: 1000,
		Memory: 700, MemoryCache: 300, MemoryLimit: math.MaxInt64,
		Pids: 4, PidsLimit: 100, ReadBytes: 10, WriteBytes: 20,
	}
	v1 := &v1stats.Metrics{
		CPU:    &v1stats.CPUStat{Usage: &v1stats.CPUUsage{Total: 3000, User: 2000, Kernel: 1000}},
		Memory: &v1stats.MemoryStat{TotalInactiveFile: 300, Usage: &v1stats.MemoryEntry{Usage: 1000, Limit: math.MaxUint64}},
		Pids:   &v1stats.PidsStat{Current: 4, Limit: 100},
		Blkio: &v1stats.BlkIOStat{IoServiceBytesRecursive: []*v1stats.BlkIOEntry{
			{Op: "Read", Value: 6}, {Op: "Write", Value: 20}, {Op: "read", Value: 4}, {Op: "Total", Value: 30},
		}},
	}
	if got := usageV1(v1); got != want {
		t.Errorf("usageV1 = %+v, want %+v", got, want)
	}
	v2 := &v2stats.Metrics{
		CPU:    &v2stats.CPUStat{UsageUsec: 3, UserUsec: 2, SystemUsec: 1},
		Memory: &v2stats.MemoryStat{InactiveFile: 300, Usage: 1000, UsageLimit: math.MaxUint64},
		Pids:   &v2stats.PidsStat{Current: 4, Limit: 100},
		Io:     &v2stats.IOStat{Usage: []*v2stats.IOEntry{{Rbytes: 6, Wbytes: 15}, {Rbytes: 4, Wbytes: 5}}},
	}
	if got := usageV2(v2); got != want {
		t.Errorf("usageV2 = %+v, want %+v", got, want)
	}
	if got := usageV1(&v1stats.Metrics{}); got != (Usage{}) {
		t.Errorf("usageV1(empty) = %+v", got)
	}
}
