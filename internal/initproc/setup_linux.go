package initproc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullbox/hull/internal/netsetup"
)

// setupContainer runs in the container's init, in its new namespaces, and
// turns the host's view into the container's: everything up to, but not
// including, the execve of the user's process.
func setupContainer(cfg *Config) error {
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return fail("cgroup namespace", err)
	}
	// Nothing we mount may propagate back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|rootPropagation(cfg.Spec.Mounts), ""); err != nil {
		return fail("mount", fmt.Errorf("make / rprivate: %w", err))
	}
	rootfs := cfg.Spec.Root.Path
	if err := mountOverlay(cfg, rootfs); err != nil {
		return fail("mount", err)
	}
	for _, m := range cfg.Spec.Mounts {
		done, err := mountVolume(rootfs, &m) // copy-up, directory binds: volumes_linux.go
		if err == nil && !done {
			err = mountInto(rootfs, m)
		}
		if err != nil {
			return fail("mount", fmt.Errorf("%s: %w", m.Destination, err))
		}
	}
	Trace("C mounts done")
	if err := setupDev(rootfs, cfg.Spec.Linux); err != nil {
		return fail("devices", err)
	}
	if err := pivotRoot(rootfs); err != nil {
		return fail("pivot_root", err)
	}
	if l := cfg.Spec.Linux; l != nil {
		if err := setSysctls(l.Sysctl); err != nil {
			return fail("sysctl", err)
		}
		if err := maskPaths(l.MaskedPaths, l.ReadonlyPaths); err != nil {
			return fail("mount", err)
		}
	}
	Trace("C pivot and masks done")
	if err := unix.Sethostname([]byte(cfg.Spec.Hostname)); err != nil {
		return fail("hostname", err)
	}
	if err := netsetup.LoopbackUp(); err != nil {
		return fail("network", err)
	}
	p := cfg.Spec.Process
	if p.Cwd != "" {
		if err := os.MkdirAll(p.Cwd, 0o755); err != nil {
			return fail("workdir", err)
		}
	}
	if cfg.Spec.Root.Readonly {
		if err := remountReadonly(); err != nil {
			return fail("mount", err)
		}
	}
	if p.Capabilities != nil {
		if err := dropBounding(p.Capabilities.Bounding); err != nil {
			return fail("capabilities", err)
		}
	}
	if err := setRlimits(p.Rlimits); err != nil {
		return fail("rlimits", err)
	}
	if err := applySecurity(cfg.Spec, beforeUser); err != nil {
		return err
	}
	if err := setUser(p); err != nil {
		return err
	}
	if err := applySecurity(cfg.Spec, afterUser); err != nil {
		return err
	}
	if err := unix.Chdir(p.Cwd); err != nil {
		return fail("workdir", fmt.Errorf("chdir %s: %w", p.Cwd, err))
	}
	return nil
}

// VolatileMarker is the directory, relative to the overlay's workdir, in
// which the kernel marks an upper directory mounted volatile.
const VolatileMarker = "work/incompat"

// overlayOptions are the mount options of the container's root overlay,
// its lowerdirs relative to LowerRoot.
func (cfg *Config) overlayOptions() string {
	data := "lowerdir=" + strings.Join(cfg.Lowers, ":") + ",upperdir=" + cfg.Upper + ",workdir=" + cfg.Work
	if cfg.Volatile {
		data += ",volatile"
	}
	return data
}

func mountOverlay(cfg *Config, rootfs string) error {
	// Relative lowerdirs from LowerRoot keep the options short.
	if err := unix.Chdir(cfg.LowerRoot); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	data := cfg.overlayOptions()
	if len(data) >= os.Getpagesize() {
		return fmt.Errorf("overlay: options too long (%d bytes, %d layers)", len(data), len(cfg.Lowers))
	}
	if err := unix.Mount("overlay", rootfs, "overlay", 0, data); err != nil {
		return fmt.Errorf("overlay on %s: %w", rootfs, err)
	}
	return nil
}

var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
	"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
	"strictatime": {false, unix.MS_STRICTATIME}, "relatime": {false, unix.MS_RELATIME},
	"noatime": {false, unix.MS_NOATIME}, "bind": {false, unix.MS_BIND},
	"rbind":   {false, unix.MS_BIND | unix.MS_REC},
	"private": {false, unix.MS_PRIVATE}, "rprivate": {false, unix.MS_PRIVATE | unix.MS_REC},
	"slave": {false, unix.MS_SLAVE}, "rslave": {false, unix.MS_SLAVE | unix.MS_REC},
	"shared": {false, unix.MS_SHARED}, "rshared": {false, unix.MS_SHARED | unix.MS_REC},
}

func parseMountOptions(opts []string) (flags uintptr, data string) {
	var extra []string
	for _, o := range opts {
		f, ok := mountFlags[o]
		switch {
		case !ok:
			extra = append(extra, o)
		case f.clear:
			flags &^= f.flag
		default:
			flags |= f.flag
		}
	}
	return flags, strings.Join(extra, ",")
}

// mountInto mounts m at its destination inside rootfs, resolved so that a
// symlink in the image cannot send it outside.
func mountInto(rootfs string, m specs.Mount) error {
	dst, err := secureDest(rootfs, m.Destination)
	if err != nil {
		return err
	}
	flags, data := parseMountOptions(m.Options)
	if m.Type == "cgroup" {
		return mountCgroupfs(dst, flags)
	}
	if flags&unix.MS_BIND != 0 {
		if fi, err := os.Stat(m.Source); err == nil && !fi.IsDir() {
			if err := bindFile(rootfs, m.Source, m.Destination); err != nil {
				return err
			}
			return remountBind(dst, flags) // volumes_linux.go
		}
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	propagation := flags & (unix.MS_PRIVATE | unix.MS_SHARED | unix.MS_SLAVE | unix.MS_UNBINDABLE)
	flags &^= propagation
	if flags&unix.MS_BIND != 0 {
		if err := unix.Mount(m.Source, dst, "", flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
			return err
		}
		if rest := flags &^ (unix.MS_BIND | unix.MS_REC); rest != 0 {
			if err := unix.Mount("", dst, "", rest|unix.MS_BIND|unix.MS_REMOUNT, ""); err != nil {
				return err
			}
		}
	} else if err := unix.Mount(m.Source, dst, m.Type, flags, data); err != nil {
		return err
	}
	if propagation != 0 {
		return unix.Mount("", dst, "", propagation|recursivePropagation(m.Options), "")
	}
	return nil
}

// errRootDest: a mount destination that the image's symlinks resolve to
// the root itself ("/vol" -> "/") would be mounted over the whole image
// and every mount made so far, and what follows would be made in the
// mounted tree (a host directory, for a bind). plan.c refuses it too.
var errRootDest = errors.New("destination resolves to the container's root")

// secureDest resolves a mount destination in rootfs (securejoin, but
// no symlink on procfs: noProcLinks) and refuses the root itself.
func secureDest(rootfs, dest string) (string, error) {
	dst, err := securejoin.SecureJoinVFS(rootfs, dest, noProcLinks{})
	if err == nil && dst == filepath.Clean(rootfs) {
		return "", errRootDest
	}
	return dst, err
}

// errProcLink: a mount destination resolved through a symlink on procfs
// (/proc/self/cwd, /proc/1/root...), whose target reads differently
// before pivot_root (the init's view of the host) and after it (the
// container's): sysfs mounted through "/sys -> /proc/self/cwd" would
// land where the masked paths, resolved after pivot_root, do not reach.
// plan.c refuses it too, as runc does a symlinked /proc.
var errProcLink = errors.New("resolves through a symbolic link in /proc")

// noProcLinks is securejoin's VFS (the os package's) but for errProcLink.
type noProcLinks struct{}

func (noProcLinks) Lstat(name string) (os.FileInfo, error) { return os.Lstat(name) }

func (noProcLinks) Readlink(name string) (string, error) {
	fd, err := unix.Open(name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &fs.PathError{Op: "open", Path: name, Err: err}
	}
	var st unix.Statfs_t
	err = unix.Fstatfs(fd, &st)
	unix.Close(fd)
	if err == nil && st.Type == unix.PROC_SUPER_MAGIC {
		return "", errProcLink
	}
	return os.Readlink(name)
}

// bindFile bind-mounts the host file src over path dst in rootfs,
// creating an empty file there first if needed.
func bindFile(rootfs, src, dst string) error {
	target, err := secureDest(rootfs, dst)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	if _, err := os.Lstat(target); errors.Is(err, fs.ErrNotExist) {
		f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		f.Close()
	}
	return unix.Mount(src, target, "", unix.MS_BIND, "")
}

// setupDev makes the spec's devices in /dev (a tmpfs by then) and adds
// the standard symlinks.
func setupDev(rootfs string, l *specs.Linux) error {
	if l != nil {
		for _, d := range l.Devices {
			if err := makeDevice(rootfs, d); err != nil {
				return fmt.Errorf("%s: %w", d.Path, err)
			}
		}
	}
	dev, err := securejoin.SecureJoinVFS(rootfs, "/dev", noProcLinks{})
	if err != nil {
		return err
	}
	for _, ln := range devLinks { // plan_linux.go
		if err := os.Symlink(ln[0], filepath.Join(dev, ln[1])); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return nil
}

// makeDevice makes the node for d inside rootfs with mknod, as runc does
// outside user namespaces: a node of the container's own, not a bind
// mount of the host's, so there is nothing to mount now or to unmount
// when the container ends. The device rules (cgroup) say what it may be
// used for.
func makeDevice(rootfs string, d specs.LinuxDevice) error {
	target, err := secureDest(rootfs, d.Path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	mode, dev, uid, gid, err := deviceNode(d)
	if err != nil {
		return err
	}
	if err := unix.Mknod(target, mode, int(dev)); err != nil {
		return err
	}
	if err := unix.Lchown(target, uid, gid); err != nil {
		return err
	}
	return unix.Chmod(target, mode&0o7777) // mknod's mode went through the umask
}

// deviceNode is what mknod and chown need for d.
func deviceNode(d specs.LinuxDevice) (mode uint32, dev uint64, uid, gid int, err error) {
	switch d.Type {
	case "c", "u":
		mode = unix.S_IFCHR
	case "b":
		mode = unix.S_IFBLK
	case "p":
		mode = unix.S_IFIFO
	default:
		return 0, 0, 0, 0, fmt.Errorf("device type %q", d.Type)
	}
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = uint32(d.FileMode.Perm())
	}
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	return mode | perm, unix.Mkdev(uint32(d.Major), uint32(d.Minor)), uid, gid, nil
}

// pivotRoot makes rootfs the root and detaches the host's.
func pivotRoot(rootfs string) error {
	if err := unix.Chdir(rootfs); err != nil {
		return err
	}
	// pivot_root(".", ".") stacks the old root under the new one; the
	// unmount then removes it without needing a directory for it.
	if err := unix.PivotRoot(".", "."); err != nil {
		return err
	}
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return err
	}
	return unix.Chdir("/")
}

// maskPaths hides masked paths (/dev/null over files, an empty read-only
// tmpfs over directories) and makes readonly paths read-only.
func maskPaths(masked, readonly []string) error {
	for _, p := range readonly {
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("%s: %w", p, err)
		}
		flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
		if err := unix.Mount("", p, "", flags, ""); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	for _, p := range masked {
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if fi.IsDir() {
			err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "size=0")
		} else {
			err = unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	return nil
}

// capNames maps the spec's capability names to numbers.
var capNames = map[string]int{
	"CAP_CHOWN": unix.CAP_CHOWN, "CAP_DAC_OVERRIDE": unix.CAP_DAC_OVERRIDE,
	"CAP_FSETID": unix.CAP_FSETID, "CAP_FOWNER": unix.CAP_FOWNER, "CAP_MKNOD": unix.CAP_MKNOD,
	"CAP_NET_RAW": unix.CAP_NET_RAW, "CAP_SETGID": unix.CAP_SETGID, "CAP_SETUID": unix.CAP_SETUID,
	"CAP_SETFCAP": unix.CAP_SETFCAP, "CAP_SETPCAP": unix.CAP_SETPCAP,
	"CAP_NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE, "CAP_SYS_CHROOT": unix.CAP_SYS_CHROOT,
	"CAP_KILL": unix.CAP_KILL, "CAP_AUDIT_WRITE": unix.CAP_AUDIT_WRITE,
	"CAP_SYS_ADMIN": unix.CAP_SYS_ADMIN, "CAP_NET_ADMIN": unix.CAP_NET_ADMIN,
	"CAP_SYS_PTRACE": unix.CAP_SYS_PTRACE, "CAP_SYS_MODULE": unix.CAP_SYS_MODULE,
	"CAP_SYS_RESOURCE": unix.CAP_SYS_RESOURCE, "CAP_SYS_TIME": unix.CAP_SYS_TIME,
	"CAP_IPC_LOCK": unix.CAP_IPC_LOCK, "CAP_SYS_NICE": unix.CAP_SYS_NICE,
	"CAP_DAC_READ_SEARCH": unix.CAP_DAC_READ_SEARCH, "CAP_LINUX_IMMUTABLE": unix.CAP_LINUX_IMMUTABLE,
	"CAP_NET_BROADCAST": unix.CAP_NET_BROADCAST, "CAP_IPC_OWNER": unix.CAP_IPC_OWNER,
	"CAP_SYS_RAWIO": unix.CAP_SYS_RAWIO, "CAP_SYS_PACCT": unix.CAP_SYS_PACCT,
	"CAP_SYS_BOOT": unix.CAP_SYS_BOOT, "CAP_SYS_TTY_CONFIG": unix.CAP_SYS_TTY_CONFIG,
	"CAP_LEASE": unix.CAP_LEASE, "CAP_AUDIT_CONTROL": unix.CAP_AUDIT_CONTROL,
	"CAP_MAC_OVERRIDE": unix.CAP_MAC_OVERRIDE, "CAP_MAC_ADMIN": unix.CAP_MAC_ADMIN,
	"CAP_SYSLOG": unix.CAP_SYSLOG, "CAP_WAKE_ALARM": unix.CAP_WAKE_ALARM,
	"CAP_BLOCK_SUSPEND": unix.CAP_BLOCK_SUSPEND, "CAP_AUDIT_READ": unix.CAP_AUDIT_READ,
	"CAP_PERFMON": unix.CAP_PERFMON, "CAP_BPF": unix.CAP_BPF, "CAP_CHECKPOINT_RESTORE": unix.CAP_CHECKPOINT_RESTORE,
}

// dropBounding removes from this thread's bounding set every capability
// not in keep. A root process exec'd afterwards gets exactly keep as its
// permitted and effective sets; a non-root one gets none.
// TODO(caps): also set the effective/permitted/inheritable/ambient sets
// from the spec (needed for non-root users granted capabilities).
func dropBounding(keep []string) error {
	want := map[int]bool{}
	for _, name := range keep {
		n, ok := capNames[name]
		if !ok {
			return fmt.Errorf("unknown capability %s", name)
		}
		want[n] = true
	}
	last := unix.CAP_LAST_CAP
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = n
		}
	}
	for c := 0; c <= last; c++ {
		if want[c] {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("drop capability %d: %w", c, err)
		}
	}
	return nil
}

// setUser switches to the spec's user (resolved by internal/spec from the
// image's /etc/passwd and /etc/group).
func setUser(p *specs.Process) error {
	uid, gid := int(p.User.UID), int(p.User.GID)
	groups := make([]int, 0, len(p.User.AdditionalGids))
	for _, g := range p.User.AdditionalGids {
		groups = append(groups, int(g))
	}
	// A credential change clears the parent-death signal (the owner's
	// SIGKILL when it dies): set it again after.
	var deathsig int32
	_ = unix.Prctl(unix.PR_GET_PDEATHSIG, uintptr(unsafe.Pointer(&deathsig)), 0, 0, 0)
	if err := unix.Setgroups(groups); err != nil {
		return fail("user", fmt.Errorf("setgroups: %w", err))
	}
	if err := unix.Setresgid(gid, gid, gid); err != nil {
		return fail("user", fmt.Errorf("setgid %d: %w", gid, err))
	}
	if err := unix.Setresuid(uid, uid, uid); err != nil {
		return fail("user", fmt.Errorf("setuid %d: %w", uid, err))
	}
	if deathsig != 0 {
		_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(deathsig), 0, 0, 0)
	}
	return nil
}

// setRlimits applies the spec's rlimits (already clamped to the host's).
func setRlimits(limits []specs.POSIXRlimit) error {
	for _, l := range limits {
		res, ok := rlimitNames[l.Type]
		if !ok {
			return fmt.Errorf("unknown rlimit %s", l.Type)
		}
		if err := unix.Prlimit(0, res, &unix.Rlimit{Cur: l.Soft, Max: l.Hard}, nil); err != nil {
			return fmt.Errorf("%s: %w", l.Type, err)
		}
	}
	return nil
}

var rlimitNames = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC,
	"RLIMIT_RSS": unix.RLIMIT_RSS, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_STACK": unix.RLIMIT_STACK,
}

// mountCgroupfs gives the container its own view of the cgroup
// filesystem, rooted at its cgroup namespace (so it sees its own cgroup as
// "/"), read-only unless the spec says rw. On cgroup v2 that is one
// cgroup2 mount; on v1 a tmpfs with each of the host's hierarchies mounted
// under the same name, as Docker does.
func mountCgroupfs(dst string, flags uintptr) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	flags |= unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil {
		return err
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return unix.Mount("cgroup2", dst, "cgroup2", flags, "")
	}
	hierarchies, err := hostCgroupMounts()
	if err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dst, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755"); err != nil {
		return err
	}
	for _, h := range hierarchies {
		target := filepath.Join(dst, h.name)
		if err := os.Mkdir(target, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(h.fstype, target, h.fstype, flags, h.data); err != nil {
			return fmt.Errorf("cgroup %s: %w", h.name, err)
		}
	}
	return unix.Mount("", dst, "", flags|unix.MS_REMOUNT|unix.MS_BIND, "")
}

type cgroupMount struct{ name, fstype, data string }

// cgroupControllers are the v1 mount options that name a hierarchy.
var cgroupControllers = map[string]bool{
	"cpu": true, "cpuacct": true, "cpuset": true, "memory": true, "devices": true,
	"freezer": true, "net_cls": true, "net_prio": true, "blkio": true, "perf_event": true,
	"hugetlb": true, "pids": true, "rdma": true, "misc": true,
}

// hostCgroupMounts lists the cgroup hierarchies mounted directly under
// /sys/fs/cgroup, with the options that select each one.
func hostCgroupMounts() ([]cgroupMount, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []cgroupMount
	seen := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 || filepath.Dir(f[4]) != cgroupRoot {
			continue
		}
		name := filepath.Base(f[4])
		if seen[name] {
			continue
		}
		switch g[0] {
		case "cgroup2":
			out = append(out, cgroupMount{name: name, fstype: "cgroup2"})
		case "cgroup":
			var opts []string
			for _, o := range strings.Split(g[2], ",") {
				if cgroupControllers[o] || strings.HasPrefix(o, "name=") {
					opts = append(opts, o)
				}
			}
			out = append(out, cgroupMount{name: name, fstype: "cgroup", data: strings.Join(opts, ",")})
		default:
			continue
		}
		seen[name] = true
	}
	return out, nil
}

func getEnv(env []string, key string) string {
	for _, e := range env {
		if k, v, _ := strings.Cut(e, "="); k == key {
			return v
		}
	}
	return ""
}

// execProcess replaces the init with the user's process. Docker's exit
// codes: 127 when the command does not exist, 126 when it cannot be run.
func execProcess(p *specs.Process) error {
	if len(p.Args) == 0 {
		return fail("exec", errors.New("no command specified"))
	}
	path, err := lookPath(p.Args[0], getEnv(p.Env, "PATH"))
	if err != nil {
		return err
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fail("no_new_privs", err)
		}
	}
	err = unix.Exec(path, p.Args, p.Env)
	code := 126
	if errors.Is(err, unix.ENOENT) {
		code = 127
	}
	return &stageError{stage: "exec", code: code, err: fmt.Errorf("exec %q: %w", p.Args[0], err)}
}

// lookPath finds name like execvp in the container's PATH.
func lookPath(name, pathEnv string) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return "", &stageError{stage: "exec", code: 127, err: fmt.Errorf("exec %q: %w", name, unix.ENOENT)}
		}
		return name, nil
	}
	var denied string
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() {
			continue
		}
		if fi.Mode()&0o111 != 0 {
			return p, nil
		}
		if denied == "" {
			denied = p
		}
	}
	if denied != "" {
		return "", &stageError{stage: "exec", code: 126, err: fmt.Errorf("exec %q: %w", denied, unix.EACCES)}
	}
	return "", &stageError{stage: "exec", code: 127, err: fmt.Errorf("exec %q: executable file not found in $PATH: %w", name, unix.ENOENT)}
}
