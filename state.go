package hull

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hullbox/hull/internal/fsutil"
	"github.com/hullbox/hull/internal/initproc"
	"github.com/hullbox/hull/internal/procfs"
	"github.com/hullbox/hull/internal/statedir"
	digest "github.com/opencontainers/go-digest"
)

// containerState is containers/<id>/state.json: what any process needs to
// find, inspect and clean up a container. It is replaced atomically.
type containerState struct {
	ID          string        `json:"id"`
	Name        string        `json:"name"`
	Image       string        `json:"image"`
	ImageDigest digest.Digest `json:"imageDigest"`
	// ImageID is the image's ID (Image.ID) when created; empty in the
	// states of older hulls, which Inspect looks up by ImageDigest.
	ImageID     string          `json:"imageID,omitempty"`
	ChainIDs    []digest.Digest `json:"chainIDs"`
	Created     time.Time       `json:"created"`
	Hostname    string          `json:"hostname"`
	Args        []string        `json:"args"`
	Env         []string        `json:"env"`
	Workdir     string          `json:"workdir"`
	User        string          `json:"user,omitempty"`
	Memory      int64           `json:"memory,omitempty"`
	PidsLimit   int64           `json:"pidsLimit,omitempty"`
	StopSignal  int             `json:"stopSignal,omitempty"`
	StopTimeout *time.Duration  `json:"stopTimeout,omitempty"` // nil: 10s
	AutoRemove  bool            `json:"autoRemove,omitempty"`
	Detached    bool            `json:"detached,omitempty"` // outlives its owner: stdio.go
	// NetworkMode is bridge, none, host or container:<id>; Networks are
	// the endpoints of bridge mode and Ports the published ports
	// (network.go).
	NetworkMode NetworkMode     `json:"networkMode,omitempty"`
	Networks    []endpointState `json:"networks,omitempty"`
	Ports       []PortBinding   `json:"ports,omitempty"`
	Publish     []string        `json:"publish,omitempty"`   // WithPublish's specs, for a restart: publish.go
	OpenStdin   bool            `json:"openStdin,omitempty"` // Attach may send input: attach.go
	TTY         bool            `json:"tty,omitempty"`
	// Entrypoint and Cmd are the run configuration's (image's or
	// WithEntrypoint/WithCmd): Commit starts from them, as Docker.
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`

	// Labels are the image's, then WithLabels', for WithFilterLabel.
	Labels map[string]string `json:"labels,omitempty"`
	Mounts []MountPoint      `json:"mounts,omitempty"` // volumes, binds, tmpfs: mounts.go

	// Healthcheck is the check the container runs (the image's merged
	// with WithHealthcheck), nil for none; Health its results: health.go.
	Healthcheck *Healthcheck `json:"healthcheck,omitempty"`
	Health      *HealthState `json:"health,omitempty"`
	// RestartPolicy, the restarts it made since the last Start, and
	// whether its owner is to restart it after a backoff: restartpolicy.go.
	RestartPolicy RestartPolicy `json:"restartPolicy,omitzero"`
	RestartCount  int           `json:"restartCount,omitempty"`
	Restarting    bool          `json:"restarting,omitempty"`

	Status     Status    `json:"status"`
	Pid        int       `json:"pid,omitempty"`
	PidStart   uint64    `json:"pidStart,omitempty"` // /proc/<pid>/stat starttime: guards against PID reuse
	Owner      int       `json:"owner,omitempty"`
	OwnerStart uint64    `json:"ownerStart,omitempty"`
	Cgroup     string    `json:"cgroup,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	ExitCode   int       `json:"exitCode"`
	ExitSignal int       `json:"exitSignal,omitempty"` // the signal that ended PID 1, or 0
	// PausedBy and PausedByStart name the process that froze the
	// container for its own work (Commit), recorded before it freezes:
	// if it dies before it thaws, the next Open thaws the container.
	PausedBy      int    `json:"pausedBy,omitempty"`
	PausedByStart uint64 `json:"pausedByStart,omitempty"`
	OOMKilled     bool   `json:"oomKilled,omitempty"`
	Error         string `json:"error,omitempty"`
}

// alive reports whether the container's init process still exists (same
// PID and start time).
func (st *containerState) alive() bool {
	if st.Pid <= 0 || st.PidStart == 0 {
		return false
	}
	start, exited := procfs.Stat(st.Pid)
	// A Detached PID 1 that exited is running still, as Docker reports
	// it, until its shim has recorded the exit and reaped it: readers
	// that took it for gone would miss exit.json (exitPending).
	return start == st.PidStart && (!exited || st.Detached)
}

// unstarted reports whether the container is created and no init was
// ever launched for it: Create makes none, Start does (launchCreated).
// Its status stays created, whoever created it and whether or not that
// process lives.
func (st *containerState) unstarted() bool { return st.Status == StatusCreated && st.Pid == 0 }

// view is the status a reader that does not own the container reports:
// the recorded one, or exited if its init is gone. A view, not a
// transition: its owner (or the next Open's recovery) records the exit.
func (st *containerState) view() Status {
	if st.Status != StatusExited && !st.alive() && !st.unstarted() {
		return StatusExited
	}
	return st.Status
}

// exitPending reports whether a Detached container's PID 1 has exited
// and its shim has not reaped it yet: it does so once exit.json is
// written, so the exit status is on its way.
func (st *containerState) exitPending() bool {
	if !st.Detached || st.Pid <= 0 || st.PidStart == 0 {
		return false
	}
	start, exited := procfs.Stat(st.Pid)
	return exited && start == st.PidStart
}

// ownerAlive reports whether the process that owns the container exists.
func (st *containerState) ownerAlive() bool {
	return st.Owner > 0 && procStartTime(st.Owner) == st.OwnerStart && st.OwnerStart != 0
}

func (rt *Runtime) containersDir() string { return filepath.Join(rt.cfg.root, "containers") }

func (rt *Runtime) containerDir(id string) string { return filepath.Join(rt.containersDir(), id) }

// recoveryDirName is containers/.recovery, what Open's recovery keeps:
// the unsettled list (internal/statedir), and boot, the boot ID of the
// last Open that read every state (recovery_linux.go).
const recoveryDirName = statedir.RecoveryDir

// settled reports whether nothing is left to do for the container whose
// state st is: it exited, its exit is recorded, its init is gone, and no
// one has to remove it (WithAutoRemove). Open's recovery looks at the
// containers that are not settled only, so every state that is not
// settled must be listed (markUnsettled) before it is written.
func (st *containerState) settled() bool {
	return st.Status == StatusExited && !st.AutoRemove && !st.alive()
}

// markUnsettled lists container id as not settled (statedir.MarkUnsettled).
// writeState calls it before and after every write, so a crash between
// the two leaves the container listed, never unlisted; only Open's
// recovery unlists a container (settle), under the containers lock, and
// Create and respawn, the only changes from settled (or nothing) to not
// settled, write their state under that lock.
func markUnsettled(containersDir, id string) error { return statedir.MarkUnsettled(containersDir, id) }

// unmarkUnsettled drops container id from the list; it was not listed is
// not an error.
func unmarkUnsettled(containersDir, id string) error {
	return statedir.UnmarkUnsettled(containersDir, id)
}

// unsettledIDs lists the containers markUnsettled listed.
func (rt *Runtime) unsettledIDs() ([]string, error) { return statedir.Unsettled(rt.containersDir()) }

// readUnsettled is walkStates over the unsettled containers only: a
// superset of those that are running, paused or created, or have an init
// alive, or must be removed; cheap when most containers have exited.
func (rt *Runtime) readUnsettled(lost func(id string)) ([]containerState, error) {
	ids, err := rt.unsettledIDs()
	if err != nil {
		return nil, err
	}
	return rt.readStatesOf(ids, lost)
}

// readStates reads every container's state file, through the listing
// cache (statedir.ReadStates) for the exited ones. Directories without
// one (a Create under way or a Remove half done) are skipped. stamps
// holds, by ID, the stamp of each exited state's file (see
// Container.refresh). locked says the caller holds the containers lock
// (lockContainers): the listing must not take it again (flock locks of
// two descriptors exclude each other, in one process too).
func (rt *Runtime) readStates(locked bool) (_ []containerState, stamps map[string]statedir.Stamp, _ error) {
	// The directory first: a container made after this read is not
	// listed, one removed after it is skipped (its state is gone); the
	// view only has to come before the states.
	ids, removing, err := statedir.Scan(rt.containersDir())
	if err != nil {
		return nil, nil, err
	}
	for _, dir := range removing {
		_ = os.RemoveAll(dir) // a Remove that died half done: recoverContainers
	}
	if len(ids) == 0 {
		return nil, nil, nil
	}
	view, err := rt.listingView(locked)
	if err != nil {
		return nil, nil, err
	}
	states, stamped, errs := statedir.ReadStates(rt.containersDir(), ids, view, func(id string, data []byte) (containerState, bool, error) {
		st, _, err := parseState(rt.containerDir(id), data)
		// An exit changes only when state.json does: a recorded one
		// is the file's, and one merged from a Detached container's
		// exit.json (mergeExit) is there only once its PID 1 is gone
		// and reaped, after which the shim never writes exit.json
		// again and only a new start (which writes state.json)
		// changes anything. AutoRemove ones are on their way out.
		return st, err == nil && st.Status == StatusExited && !st.AutoRemove, err
	})
	stamps = make(map[string]statedir.Stamp)
	for i, s := range stamped {
		if s != (statedir.Stamp{}) && errs[i] == nil {
			stamps[ids[i]] = s
		}
	}
	out, err := keepStates(ids, states, errs, nil)
	return out, stamps, err
}

// containersLockName is the file of the containers lock in the
// containers directory (lockContainers, container_linux.go).
const containersLockName = ".lock"

// listingView reads, under the containers lock (shared: listings do not
// wait for each other; or the caller's, if locked), the settle generation
// and the unsettled list for statedir.ReadStates, before it reads any
// state.
func (rt *Runtime) listingView(locked bool) (statedir.View, error) {
	dir := rt.containersDir()
	if !locked {
		l, err := fsutil.LockFile(filepath.Join(dir, containersLockName), fsutil.Shared|fsutil.CreateDir)
		if err != nil {
			return statedir.View{}, err
		}
		defer l.Unlock()
	}
	gen, err := statedir.Gen(dir)
	if err != nil {
		return statedir.View{}, err
	}
	if gen == "" {
		// A root no recovery has bumped the generation of yet: a
		// first one, made before any state is read (making it drops
		// nothing from the list, so the shared lock will do).
		if err := statedir.BumpGen(dir); err != nil {
			return statedir.View{}, err
		}
		if gen, err = statedir.Gen(dir); err != nil {
			return statedir.View{}, err
		}
	}
	ids, err := statedir.Unsettled(dir)
	if err != nil {
		return statedir.View{}, err
	}
	view := statedir.View{Gen: gen, Unsettled: make(map[string]bool, len(ids))}
	for _, id := range ids {
		view.Unsettled[id] = true
	}
	return view, nil
}

// walkStates is readStates, calling lost (if not nil) with the ID of each
// container whose state.json is lost (errStateLost), which it skips too.
func (rt *Runtime) walkStates(lost func(id string)) ([]containerState, error) {
	ids, err := statedir.IDs(rt.containersDir())
	if err != nil {
		return nil, err
	}
	return rt.readStatesOf(ids, lost)
}

// readStatesOf is walkStates over the containers ids, read on every CPU
// when they are many (statedir.ReadAll).
func (rt *Runtime) readStatesOf(ids []string, lost func(id string)) ([]containerState, error) {
	states, errs := statedir.ReadAll(ids, func(id string) (containerState, error) { return readState(rt.containerDir(id)) })
	return keepStates(ids, states, errs, lost)
}

// keepStates returns the states read without error, in order, calling lost
// (if not nil) with the ID of each whose state is lost; missing and lost
// states are skipped, and any other error is returned.
func keepStates(ids []string, states []containerState, errs []error, lost func(id string)) ([]containerState, error) {
	out := states[:0]
	for i, id := range ids {
		err := errs[i]
		if errors.Is(err, errStateLost) && lost != nil {
			lost(id)
		}
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errStateLost) {
			continue // a Create under way, a Remove half done; a lost one: Open's recovery removes it
		}
		if err != nil {
			return nil, err
		}
		out = append(out, states[i])
	}
	return out, nil
}

// namedState returns the state of the container named name, found by the
// name index (statedir.NameOwner), or nil if there is none: no link, or a
// stale one (its container gone, its state lost, or named otherwise now).
func (rt *Runtime) namedState(name string) (*containerState, error) {
	id, err := statedir.NameOwner(rt.containersDir(), name)
	if err != nil || id == "" {
		return nil, err
	}
	st, err := readState(rt.containerDir(id))
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, errStateLost):
		return nil, nil
	case err != nil:
		return nil, err
	case st.Name != name:
		return nil, nil
	}
	return &st, nil
}

// errStateLost marks a state.json that does not parse. state.json is
// replaced by rename without fsync (writeState), so only a machine crash
// leaves one empty or torn, and then none of its processes survived:
// readers skip it and Open's recovery removes the container.
var errStateLost = errors.New("state lost in a crash")

func readState(dir string) (containerState, error) {
	data, err := fsutil.ReadSmallFile(filepath.Join(dir, statedir.StateFile))
	if err != nil {
		return containerState{}, err
	}
	st, _, err := parseState(dir, data)
	return st, err
}

// parseState is readState of the state file's content data; recorded is
// the status the file records, before mergeExit.
func parseState(dir string, data []byte) (st containerState, recorded Status, err error) {
	if err := json.Unmarshal(data, &st); err != nil {
		return st, "", fmt.Errorf("container state %s: %w: %w", dir, errStateLost, err)
	}
	recorded = st.Status
	mergeExit(dir, &st)
	return st, recorded, nil
}

// writeState replaces the container's state.json atomically but does not
// sync it: a container does not survive a reboot, and the three or four
// fsyncs of every start cost milliseconds (bench/run_test.go).
// fsutil.Exchange spares it the flush ext4 starts when a rename replaces
// a file.
//
// It lists the container as unsettled before the write (a crash between
// the two leaves it listed, never unlisted) and again after it (Open's
// recovery may have dropped it from the list meanwhile): a listing takes
// the cached state of a container that is not listed without a look at
// its file (statedir.View), so every write must leave it listed until a
// recovery has read what it wrote. Both are one symlink(2), which finds
// the link there already but for the first write after a recovery.
func writeState(dir string, st *containerState) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	containers := filepath.Dir(dir)
	if err := markUnsettled(containers, st.ID); err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, "state.json"), data, 0o600, fsutil.Exchange()); err != nil {
		return err
	}
	return markUnsettled(containers, st.ID)
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return data
}

// procStartTime is procfs.StartTime: the start time of a running pid, or 0.
func procStartTime(pid int) uint64 { return procfs.StartTime(pid) }

// mergeExit applies a shim's exit.json to a state that does not
// know yet that the container exited (its owner is gone, or is slower).
func mergeExit(dir string, st *containerState) {
	// Only once the init is gone: until then the container still holds
	// its cgroup.
	if !allowed(actExit, st.Status) || st.unstarted() || st.alive() || st.exitPending() {
		return
	}
	data, err := os.ReadFile(filepath.Join(dir, initproc.ExitName))
	if errors.Is(err, fs.ErrNotExist) && st.Detached && st.Pid != 0 &&
		(st.Status == StatusRunning || st.Status == StatusPaused) && !st.ownerAlive() {
		// A detached PID 1 that ran and is gone (reaped) without its
		// shim writing exit.json lost its shim (killed): how it ended
		// is not known; 137, as for a PID 1 Docker lost track of.
		// (The shim writes exit.json before it reaps PID 1, and a
		// live creator records the real status itself.)
		_ = st.apply(actExit, &exitRecord{code: 137, signal: 9, at: st.FinishedAt})
		return
	}
	if err != nil {
		return
	}
	var ex initproc.Exit
	if json.Unmarshal(data, &ex) != nil {
		return
	}
	_ = st.apply(actExit, &exitRecord{code: ex.Code, signal: ex.Signal, oomKilled: ex.OOMKilled, at: ex.FinishedAt})
}
