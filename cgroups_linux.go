package hull

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
	"github.com/containerd/cgroups/v3/cgroup1"
	"golang.org/x/sys/unix"
)

// cgroupRoot is where the host mounts its cgroup filesystems.
const cgroupRoot = "/sys/fs/cgroup"

// cgroupFS is where containers' cgroups are made: the host's v1
// hierarchies (one directory per controller) or a cgroup2 mount (one
// directory).
type cgroupFS struct {
	root    string // the cgroup2 mountpoint, or the directory holding the v1 hierarchies
	unified bool
	v1      map[string]string // v1: controller -> its hierarchy's mountpoint
	err     error             // why there are no cgroups here
}

var (
	hostCgroupsOnce sync.Once
	hostCgroupsFS   *cgroupFS
)

// hostCgroups is the host's cgroup filesystem, looked up once.
func hostCgroups() *cgroupFS {
	hostCgroupsOnce.Do(func() {
		fs := &cgroupFS{root: cgroupRoot}
		switch cgroups.Mode() {
		case cgroups.Unified:
			fs.unified = true
		case cgroups.Legacy, cgroups.Hybrid:
			fs.v1, fs.err = v1Mounts(cgroupRoot)
		default:
			fs.err = fmt.Errorf("%w: no cgroup filesystem", ErrUnsupported)
		}
		hostCgroupsFS = fs
	})
	return hostCgroupsFS
}

// cgroups is where this Runtime's containers get their cgroups: the
// host's, unless a test put them on another cgroup2 mount
// (Runtime.cgroupMount).
func (rt *Runtime) cgroups() *cgroupFS {
	if rt.cgroupMount != "" {
		return &cgroupFS{root: rt.cgroupMount, unified: true}
	}
	return hostCgroups()
}

// v1Mounts maps each v1 controller mounted directly under root to its
// hierarchy's mountpoint (co-mounted controllers share one).
func v1Mounts(root string) (map[string]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 || g[0] != "cgroup" || filepath.Dir(f[4]) != root {
			continue
		}
		for _, o := range strings.Split(g[2], ",") {
			out[o] = f[4]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
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

// cgroup is a container's control group: on cgroup v1 one directory per
// hierarchy ("/hull/<id>" in each), on v2 one directory.
type cgroup struct {
	fs   *cgroupFS
	path string   // "/hull/<id>"
	dirs []string // the directories, absolute: v1 one per hierarchy joined
}

func cgroupPath(id string) string { return "/hull/" + id }

// v1Dirs returns the container's directories, in the order of
// v1Controllers, cpuset last if wanted; co-mounted controllers give one.
func (fs *cgroupFS) v1Dirs(path string, cpuset bool) []string {
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

// newCgroup creates the container's cgroup with its memory limit (v1: in
// the v1Controllers hierarchies; setResources adds cpuset if needed). The
// pids limit is applied later (setPidsLimit), once hull's own init has its
// threads and before the user's process runs: the Go runtime in the init
// must be able to start threads.
func (rt *Runtime) newCgroup(id string, memory, pids int64) (*cgroup, error) {
	fs := rt.cgroups()
	if fs.err != nil {
		return nil, fmt.Errorf("create cgroup: %w", fs.err)
	}
	cg := &cgroup{fs: fs, path: cgroupPath(id)}
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
			return nil, errors.Join(fmt.Errorf("create cgroup: %w", err), cg.remove())
		}
		cg.dirs = append(cg.dirs, d)
	}
	if memory > 0 {
		if err := cg.write("memory", "memory.limit_in_bytes", strconv.FormatInt(memory, 10)); err != nil {
			return nil, errors.Join(fmt.Errorf("create cgroup: memory limit: %w", err), cg.remove())
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
// cpuset cgroup without them admits no task. setResources then narrows
// them.
func (cg *cgroup) addCpuset() error {
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
	return writeCgroupFile(filepath.Join(dir, file), strings.TrimSpace(string(v)))
}

// loadCgroup opens an existing container cgroup, or returns nil if there
// is none.
func (rt *Runtime) loadCgroup(id string) *cgroup {
	fs := rt.cgroups()
	if fs.err != nil {
		return nil
	}
	cg := &cgroup{fs: fs, path: cgroupPath(id)}
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

// dir is the directory of the v1 hierarchy of controller, or the v2
// directory; "" if the cgroup is not in that hierarchy.
func (cg *cgroup) dir(controller string) string {
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

// write writes value to a file of controller's directory.
func (cg *cgroup) write(controller, file, value string) error {
	d := cg.dir(controller)
	if d == "" {
		return fmt.Errorf("%w: cgroup %s has no %s controller", ErrUnsupported, cg.path, controller)
	}
	return writeCgroupFile(filepath.Join(d, file), value)
}

// writeCgroupFile writes value to a cgroup file in one write(2), as the
// kernel wants it.
func writeCgroupFile(path, value string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(value)); err != nil {
		return &os.PathError{Op: "write " + strconv.Quote(value), Path: path, Err: err}
	}
	return nil
}

// dirFD opens the v2 cgroup directory, for clone3 CLONE_INTO_CGROUP; it
// returns nil on v1.
func (cg *cgroup) dirFD() (*os.File, error) {
	if !cg.fs.unified {
		return nil, nil
	}
	return os.Open(cg.dirs[0])
}

// add moves pid into the cgroup (v1; on v2 the process is born there).
func (cg *cgroup) add(pid int) error {
	if cg.fs.unified {
		return nil
	}
	return cg.join(pid)
}

// moveIn moves a running process into the cgroup on v1 and v2 alike: a
// warm init (warm_linux.go) was not born in it.
func (cg *cgroup) moveIn(pid int) error { return cg.join(pid) }

// join writes pid to cgroup.procs of every directory. A task the kernel
// has not finished forking (TASK_NEW) is refused with EINVAL for a moment.
func (cg *cgroup) join(pid int) error {
	s := strconv.Itoa(pid)
	for _, d := range cg.dirs {
		p := filepath.Join(d, "cgroup.procs")
		err := writeCgroupFile(p, s)
		for i := 0; errors.Is(err, unix.EINVAL) && i < 5; i++ {
			time.Sleep(time.Millisecond << i)
			err = writeCgroupFile(p, s)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (cg *cgroup) setPidsLimit(n int64) error {
	if n <= 0 {
		return nil
	}
	return cg.write("pids", "pids.max", strconv.FormatInt(n, 10))
}

// oomKilled reports whether the kernel's OOM killer killed a process of
// the cgroup.
func (cg *cgroup) oomKilled() bool {
	f := cg.oomFile()
	return f != "" && readKV(f, "oom_kill") > 0
}

// oomFile is the file whose oom_kill counts the cgroup's OOM kills, or ""
// without a memory controller.
func (cg *cgroup) oomFile() string {
	if cg.fs.unified {
		return filepath.Join(cg.dirs[0], "memory.events")
	}
	if d := cg.dir("memory"); d != "" {
		return filepath.Join(d, "memory.oom_control")
	}
	return ""
}

// procsDir is the directory whose cgroup.procs (and its children's) list
// the container's processes: on v1 the pids hierarchy's, or another.
func (cg *cgroup) procsDir() string {
	if d := cg.dir("pids"); d != "" {
		return d
	}
	return cg.dirs[0]
}

// kill SIGKILLs every process in the cgroup: on v2 with cgroup.kill
// (Linux 5.14), otherwise one by one, frozen (if it can be) so that none
// forks between the list and the kills; frozen tasks die once thawed.
func (cg *cgroup) kill() error {
	if cg.fs.unified {
		err := writeCgroupFile(filepath.Join(cg.dirs[0], "cgroup.kill"), "1")
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if cg.fs.unified || cg.dir("freezer") != "" {
		// Best effort: unfrozen, the kills still come, but a fork may
		// escape them (removeCgroupSettled tries again).
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = cg.setFrozen(ctx, true)
		cancel()
		defer func() { _ = cg.setFrozen(context.Background(), false) }()
	}
	pids, err := cg.procs()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, p := range pids {
		_ = unix.Kill(p, unix.SIGKILL)
	}
	return nil
}

// remove deletes the cgroup; a missing one is not an error, a busy one
// (processes left) is.
func (cg *cgroup) remove() error {
	var errs []error
	for i := len(cg.dirs) - 1; i >= 0; i-- {
		err := unix.Rmdir(cg.dirs[i])
		if err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", cg.dirs[i], err))
		}
	}
	return errors.Join(errs...)
}

// v1Cgroup is the cgroup as containerd's v1 package sees it, for Stats.
func (cg *cgroup) v1Cgroup() (cgroup1.Cgroup, error) {
	return cgroup1.Load(cgroup1.StaticPath(cg.path), cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) {
		// Each at root/<controller>: a co-mounted controller's name is a
		// link to its hierarchy. Load skips those the cgroup is not in.
		r := cg.fs.root
		return []cgroup1.Subsystem{cgroup1.NewMemory(r), cgroup1.NewPids(r), cgroup1.NewCpu(r), cgroup1.NewCpuacct(r), cgroup1.NewBlkio(r)}, nil
	}))
}

// readKV returns the value of key in a "key value" per line file, or 0.
func readKV(path, key string) uint64 {
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
