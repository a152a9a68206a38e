package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// SetResources applies the spec's device rules and cpu, cpuset and
// memory(+swap) limits to the cgroup before the container's process
// exists. The pids limit waits for SetPidsLimit (a Go init's runtime must
// start its threads first). The device rules are Docker's (internal/spec):
// the default capabilities include CAP_MKNOD, so they are what keeps a
// container from making a node for the host's disk and reading it
// (v1: the devices hierarchy; v2: an eBPF program on the cgroup).
func (cg *Cgroup) SetResources(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	res := &specs.LinuxResources{CPU: r.CPU, Memory: r.Memory, Devices: r.Devices}
	if m := r.Memory; m != nil && m.Swap != nil && !cg.fs.SwapAccounting() {
		mem := *m
		mem.Swap = nil // as Docker: no swap accounting, no swap limit
		res.Memory = &mem
	}
	if res.CPU == nil && res.Memory == nil && len(res.Devices) == 0 {
		return nil
	}
	if cg.fs.unified {
		return cg.setResourcesV2(res)
	}
	if err := cg.setV1(res); err != nil {
		return fmt.Errorf("cgroup limits: %w", err)
	}
	return nil
}

// setV1 writes the limits to the v1 hierarchies' files, as runc does:
// the memory limit before memory+swap (which may not be below it), the
// CFS period before its quota.
func (cg *Cgroup) setV1(r *specs.LinuxResources) error {
	type kv struct{ ctrl, file, value string }
	var w []kv
	i64 := func(ctrl, file string, v *int64) {
		if v != nil && *v != 0 {
			w = append(w, kv{ctrl, file, strconv.FormatInt(*v, 10)})
		}
	}
	u64 := func(ctrl, file string, v *uint64) {
		if v != nil && *v != 0 {
			w = append(w, kv{ctrl, file, strconv.FormatUint(*v, 10)})
		}
	}
	if m := r.Memory; m != nil {
		i64("memory", "memory.limit_in_bytes", m.Limit)
		i64("memory", "memory.memsw.limit_in_bytes", m.Swap)
		i64("memory", "memory.soft_limit_in_bytes", m.Reservation)
		if m.Swappiness != nil {
			w = append(w, kv{"memory", "memory.swappiness", strconv.FormatUint(*m.Swappiness, 10)})
		}
		if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
			w = append(w, kv{"memory", "memory.oom_control", "1"})
		}
	}
	if c := r.CPU; c != nil {
		u64("cpu", "cpu.shares", c.Shares)
		u64("cpu", "cpu.cfs_period_us", c.Period)
		i64("cpu", "cpu.cfs_quota_us", c.Quota)
		u64("cpu", "cpu.rt_period_us", c.RealtimePeriod)
		i64("cpu", "cpu.rt_runtime_us", c.RealtimeRuntime)
		if c.Cpus != "" || c.Mems != "" {
			if err := cg.addCpuset(); err != nil {
				return fmt.Errorf("cpuset: %w", err)
			}
		}
		if c.Cpus != "" {
			w = append(w, kv{"cpuset", "cpuset.cpus", c.Cpus})
		}
		if c.Mems != "" {
			w = append(w, kv{"cpuset", "cpuset.mems", c.Mems})
		}
	}
	for _, d := range r.Devices {
		file := "devices.deny"
		if d.Allow {
			file = "devices.allow"
		}
		w = append(w, kv{"devices", file, deviceRule(d)})
	}
	// One open per file: a run of writes to the same file (the device
	// rules, a dozen for Docker's default list; the kernel takes one
	// rule per write(2)) shares a descriptor.
	for i := 0; i < len(w); {
		j := i + 1
		for j < len(w) && w[j].ctrl == w[i].ctrl && w[j].file == w[i].file {
			j++
		}
		values := make([]string, 0, j-i)
		for _, x := range w[i:j] {
			values = append(values, x.value)
		}
		if err := cg.write(w[i].ctrl, w[i].file, values...); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// bpfDeviceRules spells rules as containerd's eBPF device filter wants
// them: type "a" and major or minor -1 for any.
func bpfDeviceRules(rules []specs.LinuxDeviceCgroup) []specs.LinuxDeviceCgroup {
	out := make([]specs.LinuxDeviceCgroup, len(rules))
	for i, d := range rules {
		out[i] = fullDeviceRule(d)
	}
	return out
}

// fullDeviceRule fills what d leaves out with its meaning: type "a",
// major and minor -1 (any), access "rwm".
func fullDeviceRule(d specs.LinuxDeviceCgroup) specs.LinuxDeviceCgroup {
	wild := int64(-1)
	if d.Type == "" {
		d.Type = "a"
	}
	if d.Major == nil {
		d.Major = &wild
	}
	if d.Minor == nil {
		d.Minor = &wild
	}
	if d.Access == "" {
		d.Access = "rwm"
	}
	return d
}

// deviceRule is d as v1's devices.allow and devices.deny take it:
// "type major:minor access", "*" for any.
func deviceRule(d specs.LinuxDeviceCgroup) string {
	d = fullDeviceRule(d)
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	return d.Type + " " + num(*d.Major) + ":" + num(*d.Minor) + " " + d.Access
}

// setResourcesV2 converts the limits to v2's files (containerd's
// conversion: shares to weight, memory+swap to swap) and writes them,
// after enabling their controllers from the root down.
func (cg *Cgroup) setResourcesV2(res *specs.LinuxResources) error {
	v2 := cgroup2.ToResources(res)
	v2.Devices = bpfDeviceRules(res.Devices) // an eBPF program, which ToResources leaves out
	if err := cg.fs.enable(v2.EnabledControllers()); err != nil {
		return fmt.Errorf("cgroup controllers: %w", err)
	}
	m, err := cgroup2.Load(cg.path, cgroup2.WithMountpoint(cg.fs.root))
	if err == nil {
		err = m.Update(v2)
	}
	if err != nil {
		return fmt.Errorf("cgroup limits: %w", err)
	}
	return nil
}

// newV2 makes the container's v2 directory. A memory or pids limit needs
// its controller, enabled from the mount's root down to "/hull": a mount
// that offers neither (cgroup.controllers) cannot limit them, and says so.
func (cg *Cgroup) newV2(memory, pids int64) error {
	var need []string
	if memory > 0 {
		need = append(need, "memory")
	}
	if pids > 0 {
		need = append(need, "pids")
	}
	if err := cg.fs.enable(need); err != nil {
		return fmt.Errorf("create cgroup: %w", err)
	}
	// Stats and Top read memory, pids and io of every container, limited
	// or not (v1 joins those hierarchies anyway): enable the ones the
	// mount offers, best effort, so that what a container reports does not
	// depend on whether an earlier one had a limit.
	for _, c := range []string{"memory", "pids", "io"} {
		if !slices.Contains(need, c) {
			_ = cg.fs.enable([]string{c})
		}
	}
	dir := filepath.Join(cg.fs.root, cg.path)
	if err := mkdirCgroup(dir); err != nil {
		return fmt.Errorf("create cgroup: %w", err)
	}
	cg.dirs = []string{dir}
	if memory > 0 {
		if err := cg.write("memory", "memory.max", strconv.FormatInt(memory, 10)); err != nil {
			return errors.Join(fmt.Errorf("create cgroup: memory limit: %w", err), cg.Remove())
		}
	}
	return nil
}

// enable makes the v2 controllers available to the containers' cgroups:
// "+name" in cgroup.subtree_control of the root and of "/hull" (made
// here if missing). A controller the root does not offer is
// ErrUnsupported.
func (fs *FS) enable(ctrls []string) error {
	if len(ctrls) == 0 {
		return nil
	}
	have, err := os.ReadFile(filepath.Join(fs.root, "cgroup.controllers"))
	if err != nil {
		return err
	}
	for _, c := range ctrls {
		if !slices.Contains(strings.Fields(string(have)), c) {
			return fmt.Errorf("%w: the %s controller is not available on cgroup v2 at %s (cgroup.controllers: %q)", ErrUnsupported, c, fs.root, strings.TrimSpace(string(have)))
		}
	}
	parent := filepath.Join(fs.root, "hull")
	if err := unix.Mkdir(parent, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return &os.PathError{Op: "mkdir", Path: parent, Err: err}
	}
	for _, dir := range []string{fs.root, parent} {
		on, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
		if err != nil {
			return err
		}
		for _, c := range ctrls {
			if slices.Contains(strings.Fields(string(on)), c) {
				continue
			}
			if err := writeFile(filepath.Join(dir, "cgroup.subtree_control"), "+"+c); err != nil {
				return fmt.Errorf("enable the %s controller: %w", c, err)
			}
		}
	}
	return nil
}

// SwapAccounting reports whether the kernel accounts swap per cgroup
// (v2: seen in the hull parent, which has memory.swap.max once made; the
// root has none).
func (fs *FS) SwapAccounting() bool {
	if !fs.unified {
		return fileExists(filepath.Join(fs.v1["memory"], "memory.memsw.limit_in_bytes"))
	}
	return fileExists(filepath.Join(fs.root, "hull", "memory.swap.max"))
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return !errors.Is(err, os.ErrNotExist)
}
