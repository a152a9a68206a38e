package hull

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/hullbox/hull/internal/hostobj"
)

// hostObjects is this Runtime's entry in the host's registry of which
// root owns which cgroup, bridge and rule (internal/hostobj): what lets
// any Open, or Sweep, remove them once this root is deleted. nil root:
// the registry could not be written (no /run/hull: not root), and
// nothing is recorded.
type hostObjects struct {
	root *hostobj.Root

	mu     sync.Mutex
	opened hostobj.Report // what Open's sweep removed, until the first Sweep reports it
}

// hostRegistry is the host's registry of objects.
var hostRegistry = hostobj.At(hostobj.Dir)

// registerRoot enters the root in the host's registry. Open calls it
// before anything of the root is made; a registry that cannot be written
// leaves the Runtime without one.
func (rt *Runtime) registerRoot() {
	if o, err := hostRegistry.Register(rt.cfg.root); err == nil {
		rt.objs.root = o
	}
}

// sweepAtOpen removes the host objects of the roots that are gone (Open:
// "open another root, and nothing of the deleted one remains"). Its
// failures are not Open's: what it could not remove stays recorded for
// the next sweep. When no root is gone it costs a read of each recorded
// root's root.json and a stat of its path, and takes no lock; else it
// waits for a sweep under way, so that once Open returns the roots that
// were gone before it are swept.
func (rt *Runtime) sweepAtOpen() {
	rep, _ := hostRegistry.Sweep(hostobj.Options{Self: rt.objs.root})
	rt.objs.mu.Lock()
	rt.objs.opened = rep
	rt.objs.mu.Unlock()
}

// Sweep removes what hull left on the host for roots that no longer
// exist: a root deleted while (or after) its owner was killed, as a
// test's temporary root is. For each such root it kills the processes of
// its containers, Detached ones included (without their root nothing can
// manage them any more), removes their cgroups, and deletes its
// published-port and network rules, host veths and bridges, and anything
// still mounted below its path. A root that exists is never touched,
// whether its owner runs or died: its own Open recovers it. Open runs the
// same sweep, so a user rarely needs Sweep; `hull system prune` calls
// it. The report of a Runtime's first Sweep includes what its Open
// removed: a program that opens a root to sweep learns what went.
//
// Sweep also removes cgroups that are clearly hull's ("/hull/<id>") but
// recorded by no root (a hull from before the record): only those with
// no process in them, made over a minute ago. docs/containers.md
// ("Roots that are gone") says how roots and objects are recorded.
func (rt *Runtime) Sweep(ctx context.Context) (SweepReport, error) {
	if err := rt.checkOpen(); err != nil {
		return SweepReport{}, err
	}
	if err := ctx.Err(); err != nil {
		return SweepReport{}, err
	}
	rep, err := hostRegistry.Sweep(hostobj.Options{Self: rt.objs.root, Unrecorded: true})
	rt.objs.mu.Lock()
	at := rt.objs.opened
	rt.objs.opened = hostobj.Report{}
	rt.objs.mu.Unlock()
	out := SweepReport{
		RootsSwept:        slices.Concat(at.Roots, rep.Roots),
		ContainersDeleted: slices.Concat(at.Containers, rep.Containers),
		BridgesDeleted:    slices.Concat(at.Bridges, rep.Bridges),
	}
	if err != nil {
		return out, fmt.Errorf("sweep: %w", err)
	}
	return out, nil
}
