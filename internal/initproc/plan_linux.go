package initproc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/hullbox/hull/internal/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A plan is a container's setup compiled in Go (compilePlan) into a list
// of steps, the only description of what an init does. Two executors run
// it: plan.c, in an init started by Spawn (a clone of this program that
// shares its memory until it execs the container's process, so it never
// execs this program nor starts a Go runtime), and the Go init
// (plan_exec_linux.go), which runs every container that plan.c cannot.
//
// Why two: a Go init pays for an exec of the program that linked hull,
// the runtime's start-up and every package initialiser (about 20 ms of
// CPU for hull's own CLI; more for a bigger program) on every container
// start. A plan init pays for a clone and the system calls. Every
// decision is taken here; the executors only walk paths inside the root
// filesystem, tell files from directories, make the system calls and
// report a failure as {step, at, n, errno}, which planWord words.
//
// Containers run WithInit (its reaper forks the Go init), or that copy a
// volume up (a Go-only step), get the Go init (Compile says so). A
// Detached container's shim clones a plan init as its owner would
// (shim_plan_linux.go), or starts the Go init where Compile says so. Builds without cgo have no
// plan.c (hull's Open refuses them).

// maxPlanArgs is plan.c's MAX_ARGS: the most arguments and environment
// entries, together, that a plan can exec with.
const maxPlanArgs = 4096

// maxPlanSize is readConfig's limit on a config: a bigger plan is left to
// the Go init, which refuses it as too big.
const maxPlanSize = 16 << 20

type plan struct {
	b   []byte
	bpf []byte // Config.SeccompBPF
	// goOnly: a step is one plan.c has no executor for.
	goOnly bool
	// nul: a string argument holds a NUL byte, which C would take for
	// its end (a path or argument cut short): the Go init gets the config
	// and fails on it as it would.
	nul bool
}

// step appends one step; args are strings, []byte, or integers.
func (p *plan) step(op uint32, args ...any) {
	p.goOnly = p.goOnly || planOps[op].goOnly
	p.b = binary.LittleEndian.AppendUint32(p.b, op)
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(args)))
	for _, a := range args {
		var data []byte
		switch v := a.(type) {
		case string:
			data = []byte(v)
			p.nul = p.nul || strings.IndexByte(v, 0) >= 0
		case []byte:
			data = v
		case uintptr:
			data = binary.LittleEndian.AppendUint64(nil, uint64(v))
		case uint64:
			data = binary.LittleEndian.AppendUint64(nil, v)
		case int:
			data = binary.LittleEndian.AppendUint64(nil, uint64(v))
		case uint32:
			data = binary.LittleEndian.AppendUint64(nil, uint64(v))
		default:
			panic(fmt.Sprintf("plan argument of type %T", a))
		}
		p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(data)))
		p.b = append(append(p.b, data...), 0)
	}
}

// Compile turns cfg into a plan for Spawn (see plan), or returns ok false
// when the config needs the Go init: then the parent starts that with
// WriteConfig, and the Go init runs the same plan (compilePlan) with the
// Go executors, and what no plan holds (the reaper of WithInit). A
// config whose plan fails to compile (an unknown capability, say) also
// gets ok false, so that the Go init runs the plan up to there and
// reports the error in its place. A Detached container's plan is its
// shim's to run (ShimArgs.Plan), not the caller's.
func Compile(cfg *Config) (data []byte, ok bool) {
	if !planAvailable || cfg.Reaper {
		return nil, false
	}
	p, err := compilePlan(cfg)
	if err != nil || p.nul || p.goOnly || len(p.b) > maxPlanSize {
		return nil, false
	}
	proc := cfg.Spec.Process
	if len(proc.Args) == 0 || len(proc.Args)+len(proc.Env) > maxPlanArgs {
		return nil, false
	}
	return p.b, true
}

// joinTasks is the steps that move the process into its cgroup on v1:
// 0 (itself) written to each of tasks (Config.JoinTasks).
func (p *plan) joinTasks(tasks []string) {
	if len(tasks) == 0 {
		return
	}
	p.step(opStage, "cgroup")
	for _, t := range tasks {
		p.step(opWrite, t, []byte("0"), "join cgroup "+t)
	}
}

// compilePlan compiles cfg's setup, from joining a network namespace to
// the exec of the container's process. When a step cannot be compiled,
// the plan stops short of it and err (a *stageError) says why: the Go
// init runs the steps before it, then reports err, as it would have
// failed there.
func compilePlan(cfg *Config) (*plan, error) {
	p := &plan{bpf: cfg.SeccompBPF}
	s := cfg.Spec
	if s == nil || s.Process == nil || s.Root == nil {
		return p, fail("config", errors.New("incomplete spec"))
	}
	proc := s.Process
	rootfs := s.Root.Path
	p.joinTasks(cfg.JoinTasks) // first: the cgroup namespace below is made from it
	if cfg.NetNS != "" {
		p.step(opStage, "network")
		p.step(opSetns, cfg.NetNS, uint64(unix.CLONE_NEWNET))
	}
	p.step(opStage, "cgroup namespace")
	p.step(opUnshare, uint64(unix.CLONE_NEWCGROUP))
	p.step(opStage, "mount")
	// Nothing we mount may propagate back to the host.
	p.step(opMount, "", "/", "", unix.MS_REC|rootPropagation(s.Mounts), "", "make / rprivate")
	// Relative lowerdirs from LowerRoot keep the options short.
	p.step(opChdir, cfg.LowerRoot, "overlay")
	data := cfg.overlayOptions()
	if len(data) >= os.Getpagesize() {
		return p, fail("mount", fmt.Errorf("overlay: options too long (%d bytes, %d layers)", len(data), len(cfg.Lowers)))
	}
	p.step(opMount, "overlay", rootfs, "overlay", uintptr(0), data, "overlay on "+rootfs)
	for _, m := range s.Mounts {
		if err := p.mountInto(rootfs, m); err != nil {
			return p, fail("mount", fmt.Errorf("%s: %w", m.Destination, err))
		}
	}
	p.step(opTrace, "C mounts done")
	// /dev (a tmpfs by then): the spec's devices and the standard links.
	p.step(opStage, "devices")
	if l := s.Linux; l != nil {
		for _, d := range l.Devices {
			mode, dev, uid, gid, err := deviceNode(d)
			if err != nil {
				return p, fail("devices", fmt.Errorf("%s: %w", d.Path, err))
			}
			p.step(opMknod, rootfs, d.Path, mode, dev, uid, gid)
		}
	}
	for _, ln := range devLinks {
		p.step(opSymlinkAt, rootfs, "/dev", ln[0], ln[1])
	}
	p.step(opStage, "pivot_root")
	p.step(opPivot, rootfs)
	if l := s.Linux; l != nil {
		// The spec only admits namespaced sysctls; written before
		// /proc/sys is made read-only.
		p.step(opStage, "sysctl")
		for _, k := range slices.Sorted(maps.Keys(l.Sysctl)) {
			path := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
			if !strings.HasPrefix(path, "/proc/sys/") || strings.Contains(k, "..") {
				return p, fail("sysctl", fmt.Errorf("sysctl %q", k))
			}
			p.step(opWrite, path, []byte(l.Sysctl[k]), "sysctl "+k)
		}
		p.step(opStage, "mount")
		for _, path := range l.ReadonlyPaths {
			p.step(opReadonly, path)
		}
		for _, path := range l.MaskedPaths {
			p.step(opMask, path)
		}
	}
	p.step(opTrace, "C pivot and masks done")
	p.step(opStage, "hostname")
	p.step(opHostname, []byte(s.Hostname))
	p.step(opStage, "network")
	p.step(opLoopback)
	if proc.Cwd != "" {
		p.step(opStage, "workdir")
		p.step(opMkdirAll, proc.Cwd)
	}
	if s.Root.Readonly {
		p.step(opStage, "mount")
		p.step(opRemountRootRO)
	}
	if err := p.security(s); err != nil {
		return p, err
	}
	p.step(opStage, "workdir")
	p.step(opChdir, proc.Cwd, "chdir "+proc.Cwd)
	if proc.Terminal {
		p.console(proc)
	}
	p.session(proc)
	p.step(opTrace, "C setup done")
	p.step(opReady)
	if err := p.beforeExec(s); err != nil {
		return p, err
	}
	p.step(opTrace, "C security done")
	p.exec(proc)
	return p, nil
}

// beforeExec is the last steps before the exec: no_new_privs, and then
// the seccomp filter, loaded last so that the setup's own system calls
// are not filtered (security loads it earlier without no_new_privs).
func (p *plan) beforeExec(s *specs.Spec) error {
	if !s.Process.NoNewPrivileges {
		return nil
	}
	p.step(opStage, "no_new_privs")
	p.step(opNoNewPrivs)
	return p.seccomp(s)
}

// exec is the exec of the container's process.
func (p *plan) exec(proc *specs.Process) {
	args := []any{getEnv(proc.Env, "PATH"), len(proc.Args)}
	for _, a := range proc.Args {
		args = append(args, a)
	}
	for _, e := range proc.Env {
		args = append(args, e)
	}
	p.step(opStage, "exec")
	p.step(opExec, args...)
}

func boolNum(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// security is the steps from the bounding set to the capabilities: the
// seccomp filter goes before the user change when no_new_privs is off
// (AllowNewPrivileges), since loading it then needs CAP_SYS_ADMIN; the
// permitted set is kept across the user change for the capset after it.
func (p *plan) security(s *specs.Spec) error {
	proc := s.Process
	if c := proc.Capabilities; c != nil {
		keep, err := capMask(c.Bounding)
		if err != nil {
			return fail("capabilities", err)
		}
		p.step(opStage, "capabilities")
		p.step(opCapBSet, keep)
	}
	p.step(opStage, "rlimits")
	for _, l := range proc.Rlimits {
		res, ok := rlimitNames[l.Type]
		if !ok {
			return fail("rlimits", fmt.Errorf("unknown rlimit %s", l.Type))
		}
		p.step(opRlimit, res, l.Soft, l.Hard, l.Type)
	}
	if c := proc.Capabilities; c != nil && proc.User.UID != 0 && len(c.Permitted) > 0 {
		p.step(opStage, "capabilities")
		p.step(opKeepCaps)
	}
	if !proc.NoNewPrivileges {
		if err := p.seccomp(s); err != nil {
			return err
		}
	}
	groups := make([]byte, 0, 4*len(proc.User.AdditionalGids))
	for _, g := range proc.User.AdditionalGids {
		groups = binary.LittleEndian.AppendUint32(groups, g)
	}
	p.step(opStage, "user")
	p.step(opUser, proc.User.UID, proc.User.GID, groups)
	if c := proc.Capabilities; c != nil {
		args := make([]any, 3, 3+2*len(c.Ambient))
		for i, set := range [][]string{c.Effective, c.Permitted, c.Inheritable} {
			m, err := capMask(set)
			if err != nil {
				return fail("capabilities", err)
			}
			args[i] = m
		}
		for _, name := range c.Ambient {
			n, ok := capNames[name]
			if !ok {
				return fail("capabilities", fmt.Errorf("unknown capability %s", name))
			}
			args = append(args, n, name)
		}
		p.step(opStage, "capabilities")
		p.step(opCaps, args...)
	}
	return nil
}

// seccomp loads the spec's filter: the one the parent compiled and sent
// (Config.SeccompBPF), or compiled here (seccomp.CompileCached).
func (p *plan) seccomp(s *specs.Spec) error {
	if s.Linux == nil || s.Linux.Seccomp == nil {
		return nil
	}
	prog := p.bpf
	if prog == nil {
		compiled, err := seccomp.CompileCached(s.Linux.Seccomp)
		if err != nil {
			return fail("seccomp", err)
		}
		prog = seccomp.Encode(compiled)
	}
	flags, err := seccomp.LoadFlags(s.Linux.Seccomp)
	if err != nil {
		return fail("seccomp", err)
	}
	p.step(opStage, "seccomp")
	p.step(opSeccomp, uint64(flags), prog)
	return nil
}

// mountInto is the plan of mounting m at its destination inside rootfs,
// resolved so that a symlink in the image cannot send it outside: a
// volume's copy-up first, if m asks for it.
func (p *plan) mountInto(rootfs string, m specs.Mount) error {
	if i := slices.Index(m.Options, CopyUpOption); i >= 0 {
		m.Options = slices.Delete(slices.Clone(m.Options), i, i+1)
		p.goOnly = true
		p.step(opCopyUp, rootfs, m.Destination, m.Source)
	}
	flags, data := parseMountOptions(m.Options)
	what := m.Destination
	if m.Type == "cgroup" {
		return p.cgroupfs(rootfs, m.Destination, flags)
	}
	propagation := flags & (unix.MS_PRIVATE | unix.MS_SHARED | unix.MS_SLAVE | unix.MS_UNBINDABLE)
	flags &^= propagation
	if flags&unix.MS_BIND != 0 {
		tree := 0
		if m.Type == "bind" {
			tree = 1
		}
		p.step(opBindAt, rootfs, m.Destination, m.Source, flags, propagation, recursivePropagation(m.Options), tree, what)
		return nil
	}
	p.step(opMountAt, rootfs, m.Destination, m.Source, m.Type, flags, data, what)
	if propagation != 0 {
		p.step(opRemountAt, rootfs, m.Destination, propagation|recursivePropagation(m.Options), what)
	}
	return nil
}

// cgroupfs gives the container its own view of the cgroup filesystem,
// rooted at its cgroup namespace (so it sees its own cgroup as "/"),
// read-only unless the spec says rw. On cgroup v2 that is one cgroup2
// mount; on v1 a tmpfs with each of the host's hierarchies mounted under
// the same name, as Docker does.
func (p *plan) cgroupfs(rootfs, dest string, flags uintptr) error {
	flags |= unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil {
		return err
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		p.step(opMountAt, rootfs, dest, "cgroup2", "cgroup2", flags, "", dest)
		return nil
	}
	hierarchies, err := planCgroupMounts()
	if err != nil {
		return err
	}
	p.step(opMountAt, rootfs, dest, "tmpfs", "tmpfs", uintptr(unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC), "mode=755", dest)
	for _, h := range hierarchies {
		p.step(opMountAt, rootfs, filepath.Join(dest, h.name), h.fstype, h.fstype, flags, h.data, "cgroup "+h.name)
	}
	p.step(opRemountAt, rootfs, dest, flags|unix.MS_REMOUNT|unix.MS_BIND, dest)
	return nil
}

// devLinks are the symlinks every /dev gets: target, name.
var devLinks = [][2]string{
	{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
	{"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"}, {"/proc/kcore", "core"},
}

func capMask(names []string) (uint64, error) {
	var m uint64
	for _, name := range names {
		n, ok := capNames[name]
		if !ok || n >= 64 {
			return 0, fmt.Errorf("unknown capability %s", name)
		}
		m |= 1 << n
	}
	return m, nil
}

// planCgroupMounts is hostCgroupMounts read once per process: the parent
// compiles a plan per container, and the host's hierarchies do not change
// under a running program (hull's own cgroup code reads them once too).
var planCgroupMounts = sync.OnceValues(hostCgroupMounts)
