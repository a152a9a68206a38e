package cgroup

import (
	"math"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup1"
	v1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	"github.com/containerd/cgroups/v3/cgroup2"
	v2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
)

// Usage is what a cgroup's processes used, in the units `docker stats`
// shows. Counters saturate at math.MaxInt64: an unlimited limit reads so.
type Usage struct {
	CPUTotalNs, CPUUserNs, CPUSystemNs int64 // CPU time since the cgroup was made
	// Memory is the memory charged minus the inactive file cache, which
	// is MemoryCache.
	Memory, MemoryCache, MemoryLimit int64
	Pids, PidsLimit                  int64 // PidsLimit 0: unlimited
	ReadBytes, WriteBytes            int64 // on block devices
}

// Usage reads the cgroup's usage, from the v1 or v2 files as the host has
// them. A cgroup removed meanwhile fails with cgroup1.ErrCgroupDeleted or
// fs.ErrNotExist.
func (cg *Cgroup) Usage() (Usage, error) {
	v1, v2, err := cg.stat()
	switch {
	case err != nil:
		return Usage{}, err
	case v2 != nil:
		return usageV2(v2), nil
	}
	return usageV1(v1), nil
}

// stat reads the cgroup's usage as containerd's cgroups package reports
// it: v1 metrics on cgroup v1 (v2 nil), v2 metrics on v2 (v1 nil).
func (cg *Cgroup) stat() (v1 *v1stats.Metrics, v2 *v2stats.Metrics, err error) {
	if cg.fs.unified {
		m, err := cgroup2.Load(cg.path, cgroup2.WithMountpoint(cg.fs.root))
		if err != nil {
			return nil, nil, err
		}
		v2, err = m.Stat()
		return nil, v2, err
	}
	c, err := cgroup1.Load(cgroup1.StaticPath(cg.path), cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) {
		// Each at root/<controller>: a co-mounted controller's name is a
		// link to its hierarchy. Load skips those the cgroup is not in.
		r := cg.fs.root
		return []cgroup1.Subsystem{cgroup1.NewMemory(r), cgroup1.NewPids(r), cgroup1.NewCpu(r), cgroup1.NewCpuacct(r), cgroup1.NewBlkio(r)}, nil
	}))
	if err != nil {
		return nil, nil, err
	}
	v1, err = c.Stat(cgroup1.IgnoreNotExist)
	return v1, nil, err
}

func usageV1(m *v1stats.Metrics) Usage {
	var u Usage
	if cpu := m.GetCPU().GetUsage(); cpu != nil {
		u.CPUTotalNs, u.CPUUserNs, u.CPUSystemNs = sat(cpu.Total), sat(cpu.User), sat(cpu.Kernel)
	}
	if mem := m.GetMemory(); mem != nil {
		usage := mem.GetUsage().GetUsage()
		cache := min(mem.TotalInactiveFile, usage)
		u.MemoryCache, u.Memory = sat(cache), sat(usage-cache)
		u.MemoryLimit = sat(mem.GetUsage().GetLimit())
	}
	if p := m.GetPids(); p != nil {
		u.Pids, u.PidsLimit = sat(p.Current), sat(p.Limit)
	}
	for _, e := range m.GetBlkio().GetIoServiceBytesRecursive() {
		switch strings.ToLower(e.Op) {
		case "read":
			u.ReadBytes += sat(e.Value)
		case "write":
			u.WriteBytes += sat(e.Value)
		}
	}
	return u
}

func usageV2(m *v2stats.Metrics) Usage {
	var u Usage
	if cpu := m.GetCPU(); cpu != nil {
		u.CPUTotalNs, u.CPUUserNs, u.CPUSystemNs = sat(cpu.UsageUsec)*1000, sat(cpu.UserUsec)*1000, sat(cpu.SystemUsec)*1000
	}
	if mem := m.GetMemory(); mem != nil {
		cache := min(mem.InactiveFile, mem.Usage)
		u.MemoryCache, u.Memory = sat(cache), sat(mem.Usage-cache)
		u.MemoryLimit = sat(mem.UsageLimit)
	}
	if p := m.GetPids(); p != nil {
		u.Pids, u.PidsLimit = sat(p.Current), sat(p.Limit)
	}
	for _, e := range m.GetIo().GetUsage() {
		u.ReadBytes += sat(e.Rbytes)
		u.WriteBytes += sat(e.Wbytes)
	}
	return u
}

// sat converts a cgroup counter to int64, saturating: an unlimited limit
// reads as the largest uint64.
func sat(u uint64) int64 { return int64(min(u, math.MaxInt64)) }
