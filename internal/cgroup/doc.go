// Package cgroup makes and drives the control groups of hull's
// containers, on cgroup v1 (one directory per controller hierarchy) and
// v2 (one directory), through containerd/cgroups/v3 where it has the
// conversion (limits, stats) and the cgroup files directly where one
// write is all it takes (cgroup.procs, cgroup.kill, the freezer).
//
// A container's cgroup is "/hull/<id>" (Path) in each hierarchy it joins.
// The package keeps no state between calls beyond the host's mounts,
// looked up once (Host): a Cgroup is its directories, so one process can
// Load a cgroup another made.
package cgroup

import "errors"

// ErrUnsupported is wrapped by the errors for what the host's cgroups
// cannot do: no cgroup filesystem, a controller not mounted (v1) or not
// offered (v2 cgroup.controllers).
var ErrUnsupported = errors.New("unsupported")
