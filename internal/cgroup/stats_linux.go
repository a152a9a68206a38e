package cgroup

import (
	"github.com/containerd/cgroups/v3/cgroup1"
	v1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	"github.com/containerd/cgroups/v3/cgroup2"
	v2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
)

// Stat reads the cgroup's usage as containerd's cgroups package reports
// it: v1 metrics on cgroup v1 (v2 nil), v2 metrics on v2 (v1 nil). A
// cgroup removed meanwhile fails with cgroup1.ErrCgroupDeleted or
// fs.ErrNotExist.
func (cg *Cgroup) Stat() (v1 *v1stats.Metrics, v2 *v2stats.Metrics, err error) {
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
