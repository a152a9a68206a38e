package hull

import "github.com/hullbox/hull/internal/cgroup"

// cgroups is where this Runtime's containers get their cgroups: the
// host's, unless a test put them on another cgroup2 mount
// (Runtime.cgroupMount).
func (rt *Runtime) cgroups() *cgroup.FS {
	if rt.cgroupMount != "" {
		return cgroup.V2(rt.cgroupMount)
	}
	return cgroup.Host()
}

// newCgroup creates container id's cgroup with its memory limit, after
// recording it as this root's; the pids limit waits for SetPidsLimit
// (internal/cgroup says why).
func (rt *Runtime) newCgroup(id string, memory, pids int64) (*cgroup.Cgroup, error) {
	// Recorded first: a crash between the two leaves a record, not an
	// orphan (internal/hostobj).
	if err := rt.objs.root.Container(id); err != nil {
		return nil, err
	}
	cg, err := rt.cgroups().New(id, memory, pids)
	return cg, cgroupErr(err)
}

// loadCgroup opens container id's existing cgroup, or returns nil if
// there is none.
func (rt *Runtime) loadCgroup(id string) *cgroup.Cgroup { return rt.cgroups().Load(id) }

// cgroupErr makes an error of internal/cgroup that wraps its
// ErrUnsupported wrap hull's ErrUnsupported too.
func cgroupErr(err error) error { return alsoIs(err, cgroup.ErrUnsupported, ErrUnsupported) }
