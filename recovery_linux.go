package hull

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hullbox/hull/internal/fsutil"
	"github.com/hullbox/hull/internal/spawn"
	"github.com/hullbox/hull/internal/statedir"
	"golang.org/x/sys/unix"
)

// recover repairs what dead owners and a machine crash left in the root:
// containers, then networks, then the auto-removed containers nobody
// removes. Open calls it.
//
// Its cost grows with the containers that are not settled (containerState.
// settled), not with all of them: within one boot, only those can need
// work, and the root lists them (unsettledDir). A machine crash is what
// can tear a state or lose a hold (both written without fsync), and it
// changes the boot ID: the first Open of each boot (and of a root that has
// no record of one) reads every state, as recovery did before the list
// existed, and puts the list right.
func (rt *Runtime) recover() error {
	rt.registerRoot()
	rt.sweepAtOpen() // roots that are gone: hostobj_linux.go
	// A root without a name index was last used by a hull that kept
	// none: read every state, and make it (repairNames).
	full := !rt.sameBoot() || !statedir.HasNames(rt.containersDir())
	if full {
		// A machine crash may have torn or rolled back states that
		// listings cached: they trust no entry of the generation
		// before (statedir.View).
		if err := statedir.BumpGen(rt.containersDir()); err != nil {
			return fmt.Errorf("recover containers: %w", err)
		}
	}
	states, err := rt.recoverContainers(full)
	if err != nil {
		return fmt.Errorf("recover containers: %w", err)
	}
	if err := rt.recoverNetworks(states); err != nil {
		return fmt.Errorf("recover networks: %w", err)
	}
	rt.removeAutoRemoved(states) // run -d --rm whose creator is gone: lifecycle_linux.go
	if err := rt.settle(states); err != nil {
		return fmt.Errorf("recover containers: %w", err)
	}
	if full {
		return rt.recordBoot()
	}
	return nil
}

// recoverContainers repairs what dead owners left: their live containers
// are killed (they are not Detached; pdeathsig normally did it already),
// cgroups removed, and state marked exited; a Detached one whose command
// runs is recorded running; a created one never started stays so. It
// returns the state of every container it looked at (all of them if
// full, else the unsettled ones) as it left it (read once: Open's other
// steps use it).
func (rt *Runtime) recoverContainers(full bool) ([]containerState, error) {
	// Half-removed directories: a full recovery looks for them all; else
	// settle deletes those of Removes that died (they stay unsettled
	// until their files are gone: cleanup), and the next listing
	// (readStates) any other in the read of the directory it makes
	// anyway, rather than every Open reading it once more.
	if full {
		olds, _ := filepath.Glob(filepath.Join(rt.containersDir(), statedir.RemovingPrefix+"*"))
		for _, o := range olds {
			_ = os.RemoveAll(o)
		}
	}
	states, err := rt.scanStates(full)
	if err != nil {
		return nil, err
	}
	var errs []error
	for i := range states {
		errs = append(errs, rt.thawAbandoned(&states[i]))
	}
	for i := range states {
		errs = append(errs, rt.recoverContainer(&states[i]))
	}
	return states, errors.Join(errs...)
}

// recoverContainer is recoverContainers' work on one container.
func (rt *Runtime) recoverContainer(st *containerState) error {
	if st.Detached && st.Status == StatusCreated && st.Pid != 0 && !st.ownerAlive() {
		// Its creator died during a Start: in a moment the init execs
		// the command (the go-ahead was sent) or exits (it was not,
		// and its shim read EOF). Wait for either, briefly, rather
		// than record a guess: an init caught before its exec would
		// stay "created" with a running command, a ghost.
		for i := 0; i < 200 && st.alive() && !execd(st.Pid); i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
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
			return writeState(rt.containerDir(st.ID), st)
		}
	}
	// A created one that was never launched has no process to kill:
	// it stays created, for any process to start.
	if st.Status == StatusExited || st.ownerAlive() || pending || st.unstarted() {
		return nil
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
	var errs []error
	if cg := rt.loadCgroup(st.ID); cg != nil {
		// Killed tasks leave the cgroup a moment after the init dies.
		errs = append(errs, cg.RemoveSettled())
	}
	_ = st.apply(actExit, nil) // killed: 137
	return errors.Join(append(errs, writeState(rt.containerDir(st.ID), st))...)
}

// scanStates reads the states recovery looks at, under the containers
// lock: every container's if full, else the unsettled ones'. It removes
// the containers whose state a machine crash destroyed (errStateLost:
// their processes died with the machine, and without the state nothing
// else could ever remove them). If full, it also puts back the image
// holds such a crash lost (Create writes them without fsync), drops those
// of containers that are gone and lists every container that is not
// settled (a root that a hull without the list used).
func (rt *Runtime) scanStates(full bool) ([]containerState, error) {
	unlock, err := rt.lockContainers()
	if err != nil {
		return nil, err
	}
	defer unlock()
	lost := func(id string) {
		gone := filepath.Join(rt.containersDir(), ".removing-"+id)
		if os.Rename(rt.containerDir(id), gone) == nil {
			_ = os.RemoveAll(gone)
			_ = rt.store.DeleteHold(id)
			_ = rt.objs.root.ForgetContainer(id)
		}
	}
	if !full {
		return rt.readUnsettled(lost)
	}
	states, err := rt.walkStates(lost)
	if err != nil {
		return nil, err
	}
	var errs []error
	for i := range states {
		st := &states[i]
		errs = append(errs, rt.store.RepairHold(holdFor(st)))
		if !st.settled() {
			errs = append(errs, markUnsettled(rt.containersDir(), st.ID))
		}
	}
	ids, err := rt.store.HoldIDs()
	for _, id := range ids {
		if _, serr := os.Stat(rt.containerDir(id)); errors.Is(serr, fs.ErrNotExist) {
			errs = append(errs, rt.store.DeleteHold(id))
		}
	}
	errs = append(errs, rt.repairNames(states))
	return states, errors.Join(append(errs, err)...)
}

// repairNames makes the name index (statedir.LinkName) say what states,
// every container's, say: a link for each container's name, none for a
// name no container has. Links are made without fsync, and a root may
// come from a hull that kept none. The caller holds the containers lock.
func (rt *Runtime) repairNames(states []containerState) error {
	dir := rt.containersDir()
	links, err := statedir.Names(dir)
	if err != nil {
		return err
	}
	if err := statedir.MkdirNames(dir); err != nil {
		return err
	}
	want := make(map[string]string, len(states))
	for i := range states {
		want[states[i].Name] = states[i].ID
	}
	var errs []error
	for name, id := range links {
		if want[name] != id {
			errs = append(errs, statedir.UnlinkNameAny(dir, name))
		}
	}
	for name, id := range want {
		if links[name] != id {
			errs = append(errs, statedir.LinkName(dir, name, id))
		}
	}
	return errors.Join(errs...)
}

// settle drops from the unsettled list the containers of states (read by
// this Open's recovery) that are settled now, or gone. It holds the
// containers lock and reads each state again first: only Create and the
// respawn of Start make a settled container unsettled, and both hold that
// lock while they do.
//
// Listings take the cached state of a container that is not listed
// without a look at its file (statedir.View): so before it drops any, it
// bumps the settle generation, and after it dropped one, it stats its
// state file again and lists it again if a write came in between (the
// writer's own listing after its write may have come before the drop).
func (rt *Runtime) settle(states []containerState) error {
	listed, err := rt.unsettledIDs()
	if err != nil || len(listed) == 0 {
		return err
	}
	unsettled := map[string]bool{}
	for i := range states {
		unsettled[states[i].ID] = !states[i].settled()
	}
	listed = slices.DeleteFunc(listed, func(id string) bool { return unsettled[id] })
	if len(listed) == 0 {
		return nil
	}
	unlock, err := rt.lockContainers()
	if err != nil {
		return err
	}
	defer unlock()
	type drop struct {
		id    string
		stamp statedir.Stamp // of the state read; zero: the container is gone
	}
	var drops []drop
	for _, id := range listed {
		path := filepath.Join(rt.containerDir(id), statedir.StateFile)
		stamp, _ := statedir.Stat(path)
		st, err := readState(rt.containerDir(id))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Removed (a Remove that died before it unlisted it: its
			// files may be left, cleanup), or not written yet: Create
			// lists it first.
			if _, serr := os.Lstat(rt.containerDir(id)); !errors.Is(serr, fs.ErrNotExist) {
				continue
			}
			_ = os.RemoveAll(filepath.Join(rt.containersDir(), statedir.RemovingPrefix+id))
			stamp = statedir.Stamp{}
		case err != nil || !st.settled() || stamp == (statedir.Stamp{}):
			continue
		}
		drops = append(drops, drop{id, stamp})
	}
	if len(drops) == 0 {
		return nil
	}
	if err := statedir.BumpGen(rt.containersDir()); err != nil {
		return err
	}
	var errs []error
	for _, d := range drops {
		if err := unmarkUnsettled(rt.containersDir(), d.id); err != nil {
			errs = append(errs, err)
			continue
		}
		if d.stamp == (statedir.Stamp{}) {
			continue // gone for good: IDs are never reused
		}
		if now, err := statedir.Stat(filepath.Join(rt.containerDir(d.id), statedir.StateFile)); err != nil || now != d.stamp {
			errs = append(errs, markUnsettled(rt.containersDir(), d.id))
		}
	}
	return errors.Join(errs...)
}

// bootIDPath is the file where the kernel gives the ID of this boot.
const bootIDPath = "/proc/sys/kernel/random/boot_id"

func (rt *Runtime) bootRecordPath() string {
	return filepath.Join(rt.containersDir(), recoveryDirName, "boot")
}

// sameBoot reports whether the last Open that read every state
// (recordBoot) ran in this boot of the machine.
func (rt *Runtime) sameBoot() bool {
	now, err := os.ReadFile(bootIDPath)
	if err != nil || len(bytes.TrimSpace(now)) == 0 {
		return false
	}
	rec, err := os.ReadFile(rt.bootRecordPath())
	return err == nil && bytes.Equal(bytes.TrimSpace(now), bytes.TrimSpace(rec))
}

// recordBoot records this boot's ID: the Opens that follow in it need not
// read every state. It is not synced: if a crash loses it, the machine
// booted again, and the next Open reads every state anyway.
func (rt *Runtime) recordBoot() error {
	id, err := os.ReadFile(bootIDPath)
	if err != nil {
		return nil // no boot ID: every Open reads every state
	}
	path := rt.bootRecordPath()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, bytes.TrimSpace(id), 0o600)
}

// execd reports whether process pid has exec'd something other than a
// container init (the sealed copy of this program, internal/spawn.Exe): a
// Detached container's PID 1 is its command once started.
func execd(pid int) bool {
	sealed, known := spawn.RunsExe(pid)
	return known && !sealed
}
