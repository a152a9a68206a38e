package hull

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hullbox/hull/internal/spawn"
	"golang.org/x/sys/unix"
)

// recoverContainers repairs what dead owners left: their live containers
// are killed (they are not Detached; pdeathsig normally did it already),
// cgroups removed, and state marked exited; a Detached one whose command
// runs is recorded running. It returns every container's state as it
// left it (read once: Open's other steps use it). Open calls it.
func (rt *Runtime) recoverContainers() ([]containerState, error) {
	// Half-removed directories.
	if olds, _ := filepath.Glob(filepath.Join(rt.containersDir(), ".removing-*")); len(olds) > 0 {
		for _, o := range olds {
			_ = os.RemoveAll(o)
		}
	}
	states, err := rt.scanStates()
	if err != nil {
		return nil, err
	}
	var errs []error
	for i := range states {
		errs = append(errs, rt.thawAbandoned(&states[i]))
	}
	for i := range states {
		st := &states[i]
		// A Detached one runs on, or its shim is recording its exit
		// (looked at once: PID 1 may be reaped between two looks, and
		// then exit.json is written: read again, which merges it).
		pending := st.Detached && (st.alive() || st.exitPending())
		if st.Detached && !pending && st.Status != StatusExited {
			if again, err := readState(rt.containerDir(st.ID)); err == nil {
				*st = again
			}
		}
		if pending && st.Status == StatusCreated && !st.ownerAlive() && st.alive() && execd(st.Pid) {
			// Its creator died between Start's go-ahead and the record:
			// the command runs. Without this, it would stay "created"
			// for good: hidden from ps, refused by Exec.
			if st.apply(actStart, nil) == nil {
				errs = append(errs, writeState(rt.containerDir(st.ID), st))
			}
		}
		if st.Status == StatusExited || st.ownerAlive() || pending {
			continue
		}
		if st.alive() {
			_ = unix.Kill(st.Pid, unix.SIGKILL)
			if st.Status == StatusPaused {
				rt.thawForKill(st.ID) // frozen tasks would not die
			}
			for i := 0; i < 200 && st.alive(); i++ {
				time.Sleep(5 * time.Millisecond)
			}
		}
		if cg := rt.loadCgroup(st.ID); cg != nil {
			// Killed tasks leave the cgroup a moment after the init dies.
			errs = append(errs, cg.RemoveSettled())
		}
		_ = st.apply(actExit, nil) // killed: 137
		errs = append(errs, writeState(rt.containerDir(st.ID), st))
	}
	return states, errors.Join(errs...)
}

// scanStates reads every container's state once, under the containers
// lock: it removes the containers whose state a machine crash destroyed
// (errStateLost: their processes died with the machine, and without the
// state nothing else could ever remove them), puts back the image holds
// such a crash lost (Create writes them without fsync) and drops those
// of containers that are gone.
func (rt *Runtime) scanStates() ([]containerState, error) {
	unlock, err := rt.lockContainers()
	if err != nil {
		return nil, err
	}
	defer unlock()
	states, err := rt.walkStates(func(id string) {
		gone := filepath.Join(rt.containersDir(), ".removing-"+id)
		if os.Rename(rt.containerDir(id), gone) == nil {
			_ = os.RemoveAll(gone)
			_ = rt.store.DeleteHold(id)
		}
	})
	if err != nil {
		return nil, err
	}
	var errs []error
	for i := range states {
		errs = append(errs, rt.store.RepairHold(holdFor(&states[i])))
	}
	ids, err := rt.store.HoldIDs()
	for _, id := range ids {
		if _, serr := os.Stat(rt.containerDir(id)); errors.Is(serr, fs.ErrNotExist) {
			errs = append(errs, rt.store.DeleteHold(id))
		}
	}
	return states, errors.Join(append(errs, err)...)
}

// execd reports whether process pid has exec'd something other than a
// container init (the sealed copy of this program, internal/spawn.Exe): a
// Detached container's PID 1 is its command once started.
func execd(pid int) bool {
	sealed, known := spawn.RunsExe(pid)
	return known && !sealed
}
