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

// A plan is runInit's setup compiled by the parent (Compile) into a list
// of system calls, which plan.c carries out in an init started by Spawn:
// a clone of this program that shares its memory until it execs the
// container's process, so it never execs this program nor starts a Go
// runtime.
//
// Why: a Go init pays for an exec of the program that linked hull, the
// runtime's start-up and every package initialiser (about 20 ms of CPU for
// hull's own CLI; more for a bigger program) on every container start. A
// plan init pays for a clone and the system calls. Everything that needs
// decisions is taken here, in Go, by the same code paths as the Go init's;
// plan.c only walks paths inside the root filesystem (openat per
// component, never leaving it), tells files from directories and reports
// errors in the Go init's words.
//
// Containers run WithInit (its reaper forks the Go init) or Detached
// (its shim starts the Go init), that copy a volume up or that have a
// terminal keep the Go init (Compile says so), as do builds without cgo.

// Plan steps, in plan.c's numbering. Arguments are strings (paths, names)
// or 8-byte little-endian integers; "what" is the prefix of the error
// message when the step fails, in the stage last set by opStage.
const (
	opStage         = iota + 1 // name: the stage of the errors that follow
	opTrace                    // phase: a HULL_TRACE line
	opUnshare                  // flags
	opSetns                    // path, nstype
	opChdir                    // path, what
	opMount                    // source, target, fstype, flags, data, what: mount(2) as is
	opMountAt                  // rootfs, dest, source, fstype, flags, data, what: on dest made a directory inside rootfs
	opRemountAt                // rootfs, dest, flags, what: mount("", dest, "", flags) inside rootfs
	opBindAt                   // rootfs, dest, source, flags, propagation, MS_REC or 0, use open_tree, what: mountInto for a bind
	opSymlinkAt                // rootfs, dir, target, name: a symlink in dir inside rootfs (EEXIST is fine)
	opPivot                    // rootfs
	opWrite                    // path, data, what
	opReadonly                 // path: maskPaths' read-only bind (absent paths skipped)
	opMask                     // path: maskPaths' mask (absent paths skipped)
	opHostname                 // name
	opLoopback                 // (none)
	opMkdirAll                 // path
	opRemountRootRO            // (none)
	opCapBSet                  // mask to keep
	opRlimit                   // resource, soft, hard, what
	opKeepCaps                 // (none)
	opSeccomp                  // flags, program (seccomp.Encode)
	opUser                     // uid, gid, groups (4 bytes each)
	opCaps                     // effective, permitted, inheritable, then each ambient capability's number and name
	opReady                    // (none): report ready, wait for the start byte
	opNoNewPrivs               // (none)
	opExec                     // PATH, argc, args..., env...
	opMknod                    // rootfs, path, mode, dev, uid, gid: makeDevice
)

// maxPlanArgs is plan.c's MAX_ARGS: the most arguments and environment
// entries, together, that a plan can exec with.
const maxPlanArgs = 4096

// maxPlanSize is readConfig's limit on a config: a bigger plan is left to
// the Go init, which refuses it as too big.
const maxPlanSize = 16 << 20

type plan struct {
	b []byte
	// nul: a string argument holds a NUL byte, which C would take for
	// its end (a path or argument cut short): the Go init gets the config
	// and fails on it as it would.
	nul bool
}

// step appends one step; args are strings, []byte, or integers.
func (p *plan) step(op uint32, args ...any) {
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

// errNoPlan means the Go init must run this config.
var errNoPlan = errors.New("no plan")

// Compile turns cfg into a plan for Spawn (see plan), or returns ok false
// when the config needs the Go init:
// then the parent starts that with WriteConfig. A config the Go init
// would refuse (an unknown capability, say) also gets ok false, so that
// its error is the Go init's.
func Compile(cfg *Config) (data []byte, ok bool) {
	if !planAvailable {
		return nil, false
	}
	var p plan
	if err := p.compile(cfg); err != nil || p.nul || len(p.b) > maxPlanSize {
		return nil, false
	}
	return p.b, true
}

func (p *plan) compile(cfg *Config) error {
	s := cfg.Spec
	if s == nil || s.Process == nil || s.Root == nil || cfg.Reaper || cfg.Detached || cfg.DNS != nil || s.Process.Terminal {
		return errNoPlan
	}
	proc := s.Process
	if len(proc.Args) == 0 || len(proc.Args)+len(proc.Env) > maxPlanArgs {
		return errNoPlan
	}
	rootfs := s.Root.Path
	if cfg.NetNS != "" {
		p.step(opStage, "network")
		p.step(opSetns, cfg.NetNS, uint64(unix.CLONE_NEWNET))
	}
	// setupContainer, step by step.
	p.step(opStage, "cgroup namespace")
	p.step(opUnshare, uint64(unix.CLONE_NEWCGROUP))
	p.step(opStage, "mount")
	p.step(opMount, "", "/", "", unix.MS_REC|rootPropagation(s.Mounts), "", "make / rprivate")
	p.step(opChdir, cfg.LowerRoot, "overlay")
	data := cfg.overlayOptions()
	if len(data) >= os.Getpagesize() {
		return errNoPlan
	}
	p.step(opMount, "overlay", rootfs, "overlay", uintptr(0), data, "overlay on "+rootfs)
	for _, m := range s.Mounts {
		if slices.Contains(m.Options, CopyUpOption) {
			return errNoPlan
		}
		if err := p.mountInto(rootfs, m); err != nil {
			return err
		}
	}
	p.step(opTrace, "C mounts done")
	p.step(opStage, "devices")
	if l := s.Linux; l != nil {
		for _, d := range l.Devices {
			mode, dev, uid, gid, err := deviceNode(d)
			if err != nil {
				return errNoPlan
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
		p.step(opStage, "sysctl")
		for _, k := range slices.Sorted(maps.Keys(l.Sysctl)) {
			path := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
			if !strings.HasPrefix(path, "/proc/sys/") || strings.Contains(k, "..") {
				return errNoPlan
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
		return err
	}
	p.step(opStage, "workdir")
	p.step(opChdir, proc.Cwd, "chdir "+proc.Cwd)
	p.step(opTrace, "C setup done")
	p.step(opReady)
	// applySecurity(beforeExec), then execProcess.
	if proc.NoNewPrivileges {
		p.step(opStage, "no_new_privs")
		p.step(opNoNewPrivs)
		if err := p.seccomp(s); err != nil {
			return err
		}
	}
	p.step(opTrace, "C security done")
	args := []any{getEnv(proc.Env, "PATH"), len(proc.Args)}
	for _, a := range proc.Args {
		args = append(args, a)
	}
	for _, e := range proc.Env {
		args = append(args, e)
	}
	p.step(opExec, args...)
	return nil
}

// security is setupContainer's steps from the bounding set to the user
// change: applySecurity's beforeUser and afterUser phases around setUser.
func (p *plan) security(s *specs.Spec) error {
	proc := s.Process
	if c := proc.Capabilities; c != nil {
		keep, err := capMask(c.Bounding)
		if err != nil {
			return err
		}
		p.step(opStage, "capabilities")
		p.step(opCapBSet, keep)
	}
	p.step(opStage, "rlimits")
	for _, l := range proc.Rlimits {
		res, ok := rlimitNames[l.Type]
		if !ok {
			return errNoPlan
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
				return err
			}
			args[i] = m
		}
		for _, name := range c.Ambient {
			n, ok := capNames[name]
			if !ok {
				return errNoPlan
			}
			args = append(args, n, name)
		}
		p.step(opStage, "capabilities")
		p.step(opCaps, args...)
	}
	return nil
}

// seccomp loads the spec's filter, compiled here (seccomp.CompileCached).
func (p *plan) seccomp(s *specs.Spec) error {
	if s.Linux == nil || s.Linux.Seccomp == nil {
		return nil
	}
	prog, err := seccomp.CompileCached(s.Linux.Seccomp)
	if err != nil {
		return errNoPlan
	}
	flags, err := seccomp.LoadFlags(s.Linux.Seccomp)
	if err != nil {
		return errNoPlan
	}
	p.step(opStage, "seccomp")
	p.step(opSeccomp, uint64(flags), seccomp.Encode(prog))
	return nil
}

// mountInto is the plan of initproc's mountVolume and mountInto for m.
func (p *plan) mountInto(rootfs string, m specs.Mount) error {
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

// cgroupfs is the plan of mountCgroupfs.
func (p *plan) cgroupfs(rootfs, dest string, flags uintptr) error {
	flags |= unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil {
		return errNoPlan
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		p.step(opMountAt, rootfs, dest, "cgroup2", "cgroup2", flags, "", dest)
		return nil
	}
	hierarchies, err := planCgroupMounts()
	if err != nil {
		return errNoPlan
	}
	p.step(opMountAt, rootfs, dest, "tmpfs", "tmpfs", uintptr(unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC), "mode=755", dest)
	for _, h := range hierarchies {
		p.step(opMountAt, rootfs, filepath.Join(dest, h.name), h.fstype, h.fstype, flags, h.data, "cgroup "+h.name)
	}
	p.step(opRemountAt, rootfs, dest, flags|unix.MS_REMOUNT|unix.MS_BIND, dest)
	return nil
}

// devLinks are the symlinks setupDev adds to /dev: target, name.
var devLinks = [][2]string{
	{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
	{"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"}, {"/proc/kcore", "core"},
}

func capMask(names []string) (uint64, error) {
	var m uint64
	for _, name := range names {
		n, ok := capNames[name]
		if !ok || n >= 64 {
			return 0, errNoPlan
		}
		m |= 1 << n
	}
	return m, nil
}

// planCgroupMounts is hostCgroupMounts read once per process: the parent
// compiles a plan per container, and the host's hierarchies do not change
// under a running program (hull's own cgroup code reads them once too).
var planCgroupMounts = sync.OnceValues(hostCgroupMounts)
