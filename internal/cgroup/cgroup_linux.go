package cgroup

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Root is where the host mounts its cgroup filesystems.
const Root = "/sys/fs/cgroup"

// FS is where containers' cgroups are made: the host's v1 hierarchies
// (one directory per controller) or a cgroup2 mount (one directory).
type FS struct {
	root    string // the cgroup2 mountpoint, or the directory holding the v1 hierarchies
	unified bool
	v1      map[string]string // v1: controller -> its hierarchy's mountpoint
	err     error             // why there are no cgroups here
}

var (
	hostOnce sync.Once
	hostFS   *FS
)

// Host is the host's cgroup filesystem under Root, looked up once.
func Host() *FS {
	hostOnce.Do(func() {
		fs := &FS{root: Root}
		switch cgroups.Mode() {
		case cgroups.Unified:
			fs.unified = true
		case cgroups.Legacy, cgroups.Hybrid:
			fs.v1, fs.err = v1Mounts(Root)
		default:
			fs.err = fmt.Errorf("%w: no cgroup filesystem", ErrUnsupported)
		}
		hostFS = fs
	})
	return hostFS
}

// V2 is the cgroup2 filesystem mounted at mountpoint (tests put
// containers on one other than the host's).
func V2(mountpoint string) *FS { return &FS{root: mountpoint, unified: true} }

// Unified reports whether fs is cgroup v2.
func (fs *FS) Unified() bool { return fs.unified }

// v1Mounts maps each v1 controller mounted directly under root to its
// hierarchy's mountpoint (co-mounted controllers share one).
func v1Mounts(root string) (map[string]string, error) {
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return m.FSType != "cgroup" || filepath.Dir(m.Mountpoint) != root, false
	})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range mounts {
		for _, o := range strings.Split(m.VFSOptions, ",") {
			out[o] = m.Mountpoint
		}
	}
	return out, nil
}

// v1Controllers are the v1 hierarchies a container joins: those hull sets
// or reads. memory: limit, OOM detection, stats; pids: limit, Top, Kill's
// process list; cpu: shares and quota (and its own CPU scheduling group,
// as in Docker); cpuacct and blkio: stats; freezer: Pause. cpuset is
// joined only when the container has a cpuset (addCpuset): without one
// it would only copy its parent's.
var v1Controllers = []string{"memory", "pids", "cpu", "cpuacct", "freezer", "blkio", "devices"}

// Cgroup is a container's control group: on cgroup v1 one directory per
// hierarchy ("/hull/<id>" in each), on v2 one directory.
type Cgroup struct {
	fs   *FS
	path string   // "/hull/<id>"
	dirs []string // the directories, absolute: v1 one per hierarchy joined
}

// Path is the cgroup path of container id, as in the OCI spec's
// cgroupsPath and /proc/<pid>/cgroup.
func Path(id string) string { return "/hull/" + id }

// v1Dirs returns the container's directories, in the order of
// v1Controllers, cpuset last if wanted; co-mounted controllers give one.
func (fs *FS) v1Dirs(path string, cpuset bool) []string {
	var dirs []string
	add := func(ctrl string) {
		if mnt, ok := fs.v1[ctrl]; ok {
			d := mnt + path
			for _, have := range dirs {
				if have == d {
					return
				}
			}
			dirs = append(dirs, d)
		}
	}
	for _, c := range v1Controllers {
		add(c)
	}
	if cpuset {
		add("cpuset")
	}
	return dirs
}

// New creates container id's cgroup with its memory limit (v1: in the
// v1Controllers hierarchies; SetResources adds cpuset if needed). The
// pids limit is applied later (SetPidsLimit), once hull's own init has
// its threads and before the user's process runs: the Go runtime in the
// init must be able to start threads.
func (fs *FS) New(id string, memory, pids int64) (*Cgroup, error) {
	if fs.err != nil {
		return nil, fmt.Errorf("create cgroup: %w", fs.err)
	}
	cg := &Cgroup{fs: fs, path: Path(id)}
	if fs.unified {
		if err := cg.newV2(memory, pids); err != nil {
			return nil, err
		}
		return cg, nil
	}
	if memory > 0 && fs.v1["memory"] == "" {
		return nil, fmt.Errorf("create cgroup: memory limit: %w: no memory cgroup hierarchy", ErrUnsupported)
	}
	if pids > 0 && fs.v1["pids"] == "" {
		return nil, fmt.Errorf("create cgroup: pids limit: %w: no pids cgroup hierarchy", ErrUnsupported)
	}
	dirs := fs.v1Dirs(cg.path, false)
	if len(dirs) == 0 {
		return nil, fmt.Errorf("create cgroup: %w: no cgroup v1 hierarchy of %s under %s", ErrUnsupported, strings.Join(v1Controllers, ", "), fs.root)
	}
	for _, d := range dirs {
		if err := mkdirCgroup(d); err != nil {
			return nil, errors.Join(fmt.Errorf("create cgroup: %w", err), cg.Remove())
		}
		cg.dirs = append(cg.dirs, d)
	}
	if memory > 0 {
		if err := cg.write("memory", "memory.limit_in_bytes", strconv.FormatInt(memory, 10)); err != nil {
			return nil, errors.Join(fmt.Errorf("create cgroup: memory limit: %w", err), cg.Remove())
		}
	}
	return cg, nil
}

// mkdirCgroup makes dir, and its parent ("/hull") the first time; a
// leftover dir (a cgroup a dead owner left) is reused, as before.
func mkdirCgroup(dir string) error {
	err := unix.Mkdir(dir, 0o755)
	if errors.Is(err, unix.ENOENT) {
		if err = unix.Mkdir(filepath.Dir(dir), 0o755); err == nil || errors.Is(err, unix.EEXIST) {
			err = unix.Mkdir(dir, 0o755)
		}
	}
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return &os.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	return nil
}

// addCpuset puts a v1 cgroup in the cpuset hierarchy too, with its
// parent's cpus and mems (and "/hull" gets the root's the first time): a
// cpuset cgroup without them admits no task. SetResources then narrows
// them.
func (cg *Cgroup) addCpuset() error {
	mnt := cg.fs.v1["cpuset"]
	if mnt == "" {
		return fmt.Errorf("%w: no cpuset cgroup hierarchy", ErrUnsupported)
	}
	dir := mnt + cg.path
	if cg.dir("cpuset") == "" {
		if err := mkdirCgroup(dir); err != nil {
			return err
		}
		cg.dirs = append(cg.dirs, dir)
	}
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		if err := copyCpuset(filepath.Dir(dir), f); err != nil {
			return err
		}
		if err := copyCpuset(dir, f); err != nil {
			return err
		}
	}
	return nil
}

// copyCpuset copies file from dir's parent into dir if dir's is empty.
func copyCpuset(dir, file string) error {
	cur, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil || len(strings.TrimSpace(string(cur))) > 0 {
		return err
	}
	v, err := os.ReadFile(filepath.Join(filepath.Dir(dir), file))
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, file), strings.TrimSpace(string(v)))
}

// Load opens container id's existing cgroup, or returns nil if there is
// none.
func (fs *FS) Load(id string) *Cgroup {
	if fs.err != nil {
		return nil
	}
	cg := &Cgroup{fs: fs, path: Path(id)}
	cands := []string{filepath.Join(fs.root, cg.path)}
	if !fs.unified {
		cands = fs.v1Dirs(cg.path, true)
	}
	for _, d := range cands {
		if _, err := os.Lstat(d); err == nil {
			cg.dirs = append(cg.dirs, d)
		}
	}
	if len(cg.dirs) == 0 {
		return nil
	}
	return cg
}

// Dirs are the cgroup's directories, absolute: one on v2, one per
// hierarchy joined on v1.
func (cg *Cgroup) Dirs() []string { return cg.dirs }

// dir is the directory of the v1 hierarchy of controller, or the v2
// directory; "" if the cgroup is not in that hierarchy.
func (cg *Cgroup) dir(controller string) string {
	if cg.fs.unified {
		return cg.dirs[0]
	}
	mnt, ok := cg.fs.v1[controller]
	if !ok {
		return ""
	}
	d := mnt + cg.path
	for _, have := range cg.dirs {
		if have == d {
			return d
		}
	}
	return ""
}

// write writes each value to a file of controller's directory.
func (cg *Cgroup) write(controller, file string, values ...string) error {
	d := cg.dir(controller)
	if d == "" {
		return fmt.Errorf("%w: cgroup %s has no %s controller", ErrUnsupported, cg.path, controller)
	}
	return writeFile(filepath.Join(d, file), values...)
}

// writeFile writes each value to a cgroup file in one write(2) of its
// own, as the kernel wants them, through one descriptor.
func writeFile(path string, values ...string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	for _, v := range values {
		if _, err := unix.Write(fd, []byte(v)); err != nil {
			return &os.PathError{Op: "write " + strconv.Quote(v), Path: path, Err: err}
		}
	}
	return nil
}

// DirFD opens the v2 cgroup directory, for clone3 CLONE_INTO_CGROUP; it
// returns nil on v1.
func (cg *Cgroup) DirFD() (*os.File, error) {
	if !cg.fs.unified {
		return nil, nil
	}
	return os.Open(cg.dirs[0])
}

// TasksFiles are, on v1, the "tasks" files of the cgroup's directories,
// where a one-thread process joins it by writing 0 (itself): the kernel
// then skips the global lock that moving another process takes, and the
// RCU grace period its first taking after a quiet spell costs. nil on
// v2, where a process is born in its cgroup (DirFD) or moved (MoveIn).
func (cg *Cgroup) TasksFiles() []string {
	if cg.fs.unified {
		return nil
	}
	files := make([]string, len(cg.dirs))
	for i, d := range cg.dirs {
		files[i] = filepath.Join(d, "tasks")
	}
	return files
}

// Add moves pid into the cgroup on v1; on v2 the process is born there
// (DirFD) and Add does nothing.
func (cg *Cgroup) Add(pid int) error {
	if cg.fs.unified {
		return nil
	}
	return cg.join(pid)
}

// MoveIn moves a running process into the cgroup on v1 and v2 alike: a
// warm init was not born in it.
func (cg *Cgroup) MoveIn(pid int) error { return cg.join(pid) }

// join writes pid to cgroup.procs of every directory. A task the kernel
// has not finished forking (TASK_NEW) is refused with EINVAL for a moment.
func (cg *Cgroup) join(pid int) error {
	s := strconv.Itoa(pid)
	for _, d := range cg.dirs {
		p := filepath.Join(d, "cgroup.procs")
		err := writeFile(p, s)
		for i := 0; errors.Is(err, unix.EINVAL) && i < 5; i++ {
			time.Sleep(time.Millisecond << i)
			err = writeFile(p, s)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// SetPidsLimit sets pids.max to n; n <= 0 leaves it unlimited.
func (cg *Cgroup) SetPidsLimit(n int64) error {
	if n <= 0 {
		return nil
	}
	return cg.write("pids", "pids.max", strconv.FormatInt(n, 10))
}

// OOMKilled reports whether the kernel's OOM killer killed a process of
// the cgroup.
func (cg *Cgroup) OOMKilled() bool {
	f := cg.OOMFile()
	return f != "" && ReadKV(f, "oom_kill") > 0
}

// OOMFile is the file whose oom_kill counts the cgroup's OOM kills, or ""
// without a memory controller.
func (cg *Cgroup) OOMFile() string {
	if cg.fs.unified {
		return filepath.Join(cg.dirs[0], "memory.events")
	}
	if d := cg.dir("memory"); d != "" {
		return filepath.Join(d, "memory.oom_control")
	}
	return ""
}

// Procs returns the PIDs in the cgroup and its children: on v1 those of
// the pids hierarchy, or another.
func (cg *Cgroup) Procs() ([]int, error) {
	root := cg.dirs[0]
	if d := cg.dir("pids"); d != "" {
		root = d
	}
	var pids []int
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil {
				pids = append(pids, n)
			}
		}
		return nil
	})
	return pids, err
}

// Kill SIGKILLs every process in the cgroup: on v2 with cgroup.kill
// (Linux 5.14), otherwise one by one, frozen (if it can be) so that none
// forks between the list and the kills; frozen tasks die once thawed.
func (cg *Cgroup) Kill() error {
	if cg.fs.unified {
		err := writeFile(filepath.Join(cg.dirs[0], "cgroup.kill"), "1")
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if cg.fs.unified || cg.dir("freezer") != "" {
		// Best effort: unfrozen, the kills still come, but a fork may
		// escape them (the caller's Remove fails and it tries again).
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = cg.SetFrozen(ctx, true)
		cancel()
		defer func() { _ = cg.SetFrozen(context.Background(), false) }()
	}
	pids, err := cg.Procs()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, p := range pids {
		_ = unix.Kill(p, unix.SIGKILL)
	}
	return nil
}

// Remove deletes the cgroup; a missing one is not an error, a busy one
// (processes left) is.
func (cg *Cgroup) Remove() error {
	var errs []error
	for i := len(cg.dirs) - 1; i >= 0; i-- {
		err := unix.Rmdir(cg.dirs[i])
		if err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", cg.dirs[i], err))
		}
	}
	return errors.Join(errs...)
}

// ReadKV returns the value of key in a "key value" per line file (such
// as memory.events or cgroup.events), or 0.
func ReadKV(path, key string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// RemoveSettled removes the cgroup, giving its last processes a moment to
// be reaped (killing them again meanwhile): a detached init is reaped by
// whoever inherited it, not by its owner, and the cgroup is busy until
// then.
func (c *Cgroup) RemoveSettled() error {
	err := c.Remove()
	for i := 0; err != nil && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
		_ = c.Kill()
		err = c.Remove()
	}
	return err
}

// IDs lists the containers that have a cgroup ("/hull/<id>", id 64 hex
// digits) in any hierarchy of fs.
func (fs *FS) IDs() []string {
	if fs.err != nil {
		return nil
	}
	parents := []string{filepath.Join(fs.root, "hull")}
	if !fs.unified {
		parents = parents[:0]
		for _, mnt := range fs.v1 {
			parents = append(parents, filepath.Join(mnt, "hull"))
		}
	}
	seen := map[string]bool{}
	var ids []string
	for _, p := range parents {
		entries, _ := os.ReadDir(p)
		for _, e := range entries {
			if n := e.Name(); e.IsDir() && len(n) == 64 && strings.Trim(n, "0123456789abcdef") == "" && !seen[n] {
				seen[n] = true
				ids = append(ids, n)
			}
		}
	}
	return ids
}

// Age is how long ago the cgroup's first directory was made (changed).
func (cg *Cgroup) Age() time.Duration {
	var st unix.Stat_t
	if unix.Stat(cg.dirs[0], &st) != nil {
		return 0
	}
	return time.Since(time.Unix(st.Ctim.Unix()))
}
