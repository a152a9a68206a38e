package hull

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const cgroupRoot = "/sys/fs/cgroup"

// cgroup is a container's control group, on cgroup v1 (one directory per
// controller, "/hull/<id>" in each) or v2 (one directory).
type cgroup struct {
	path string // "/hull/<id>"
	v1   cgroup1.Cgroup
	v2   *cgroup2.Manager
}

func cgroupPath(id string) string { return "/hull/" + id }

// v1Hierarchy is the controllers a container gets on cgroup v1: only those
// hull sets or reads, so that creating a cgroup stays cheap.
func v1Hierarchy() ([]cgroup1.Subsystem, error) {
	return []cgroup1.Subsystem{
		cgroup1.NewMemory(cgroupRoot),
		cgroup1.NewPids(cgroupRoot),
		cgroup1.NewCpu(cgroupRoot),
		cgroup1.NewCpuacct(cgroupRoot),
		cgroup1.NewFreezer(cgroupRoot),
		cgroup1.NewBlkio(cgroupRoot),
		cgroup1.NewCpuset(cgroupRoot),
	}, nil
}

// newCgroup creates the container's cgroup with its memory limit. The pids
// limit is applied later (setPidsLimit), once hull's own init has its
// threads and before the user's process runs: the Go runtime in the init
// must be able to start threads.
func newCgroup(id string, memory, pids int64) (*cgroup, error) {
	cg := &cgroup{path: cgroupPath(id)}
	switch cgroups.Mode() {
	case cgroups.Unified:
		res := &cgroup2.Resources{}
		if memory > 0 {
			res.Memory = &cgroup2.Memory{Max: &memory}
		}
		m, err := cgroup2.NewManager(cgroupRoot, cg.path, res)
		if err != nil {
			return nil, fmt.Errorf("create cgroup: %w", err)
		}
		cg.v2 = m
		if pids > 0 {
			// The limit itself comes later (setPidsLimit); the controller
			// must be enabled in the parents now.
			if err := m.ToggleControllers([]string{"pids"}, cgroup2.Enable); err != nil {
				return nil, errors.Join(fmt.Errorf("create cgroup: enable pids controller: %w", err), m.Delete())
			}
		}
	case cgroups.Legacy, cgroups.Hybrid:
		res := &specs.LinuxResources{}
		if memory > 0 {
			res.Memory = &specs.LinuxMemory{Limit: &memory}
		}
		c, err := cgroup1.New(cgroup1.StaticPath(cg.path), res, cgroup1.WithHierarchy(v1Hierarchy))
		if err != nil {
			return nil, fmt.Errorf("create cgroup: %w", err)
		}
		cg.v1 = c
	default:
		return nil, fmt.Errorf("create cgroup: %w: no cgroup filesystem", ErrUnsupported)
	}
	return cg, nil
}

// loadCgroup opens an existing container cgroup, or returns nil if there
// is none.
func loadCgroup(id string) *cgroup {
	cg := &cgroup{path: cgroupPath(id)}
	switch cgroups.Mode() {
	case cgroups.Unified:
		m, err := cgroup2.Load(cg.path, cgroup2.WithMountpoint(cgroupRoot))
		if err != nil {
			return nil
		}
		cg.v2 = m
	case cgroups.Legacy, cgroups.Hybrid:
		c, err := cgroup1.Load(cgroup1.StaticPath(cg.path), cgroup1.WithHierarchy(v1Hierarchy))
		if err != nil {
			return nil
		}
		cg.v1 = c
	default:
		return nil
	}
	return cg
}

// dirFD opens the v2 cgroup directory, for clone3 CLONE_INTO_CGROUP; it
// returns nil on v1.
func (cg *cgroup) dirFD() (*os.File, error) {
	if cg.v2 == nil {
		return nil, nil
	}
	return os.Open(filepath.Join(cgroupRoot, cg.path))
}

// add moves pid into the cgroup (v1; on v2 the process is born there).
func (cg *cgroup) add(pid int) error {
	if cg.v1 != nil {
		return cg.v1.Add(cgroup1.Process{Pid: pid})
	}
	return nil
}

// moveIn moves a running process into the cgroup on v1 and v2 alike: a
// warm init (warm_linux.go) was not born in it.
func (cg *cgroup) moveIn(pid int) error {
	if cg.v2 != nil {
		return cg.v2.AddProc(uint64(pid))
	}
	return cg.add(pid)
}

func (cg *cgroup) setPidsLimit(n int64) error {
	if n <= 0 {
		return nil
	}
	if cg.v2 != nil {
		return cg.v2.Update(&cgroup2.Resources{Pids: &cgroup2.Pids{Max: n}})
	}
	p := filepath.Join(cgroupRoot, "pids", cg.path, "pids.max")
	return os.WriteFile(p, []byte(strconv.FormatInt(n, 10)), 0)
}

// oomKilled reports whether the kernel's OOM killer killed a process of
// the cgroup.
func (cg *cgroup) oomKilled() bool {
	if cg.v2 != nil {
		return readKV(filepath.Join(cgroupRoot, cg.path, "memory.events"), "oom_kill") > 0
	}
	p := filepath.Join(cgroupRoot, "memory", cg.path)
	if n := readKV(filepath.Join(p, "memory.oom_control"), "oom_kill"); n > 0 {
		return true
	}
	return false
}

// kill SIGKILLs every process in the cgroup.
func (cg *cgroup) kill() error {
	if cg.v2 != nil {
		return cg.v2.Kill()
	}
	procs, err := cg.v1.Processes(cgroup1.Pids, true)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, p := range procs {
		_ = unix.Kill(p.Pid, unix.SIGKILL)
	}
	return nil
}

// remove deletes the cgroup; a missing one is not an error.
func (cg *cgroup) remove() error {
	var err error
	if cg.v2 != nil {
		err = cg.v2.Delete()
	} else {
		err = cg.v1.Delete()
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, cgroup1.ErrCgroupDeleted) {
		return fmt.Errorf("remove cgroup %s: %w", cg.path, err)
	}
	return nil
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
