package initproc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// VolatileMarker is the directory, relative to the overlay's workdir, in
// which the kernel marks an upper directory mounted volatile.
const VolatileMarker = "work/incompat"

// VolatileOverlay tells whether the kernel knows overlayfs's "volatile"
// option (Linux 5.10), which Config.Volatile asks for.
var VolatileOverlay = sync.OnceValue(func() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 5 || major == 5 && minor >= 10
})

// overlayOptions are the mount options of the container's root overlay,
// its lowerdirs relative to LowerRoot.
func (cfg *Config) overlayOptions() string {
	data := "lowerdir=" + strings.Join(cfg.Lowers, ":") + ",upperdir=" + cfg.Upper + ",workdir=" + cfg.Work
	if cfg.Volatile {
		data += ",volatile"
	}
	return data
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
// creating an empty file there first if needed, and returns where.
// Failures are goBindAt's (stepFailure).
func bindFile(rootfs, src, dst string) (string, error) {
	target, err := secureDest(rootfs, dst)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(target), 0o755)
	}
	if err == nil {
		if _, lerr := os.Lstat(target); errors.Is(lerr, fs.ErrNotExist) {
			var f *os.File
			if f, err = os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				f.Close()
			}
		}
	}
	if err != nil {
		return "", walkFailure(err)
	}
	return target, call(unix.Mount(src, target, "", unix.MS_BIND, ""))
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

var rlimitNames = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC,
	"RLIMIT_RSS": unix.RLIMIT_RSS, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_STACK": unix.RLIMIT_STACK,
}

type cgroupMount struct{ name, fstype, data string }

// cgroupControllers are the v1 mount options that name a hierarchy.
var cgroupControllers = map[string]bool{
	"cpu": true, "cpuacct": true, "cpuset": true, "memory": true, "devices": true,
	"freezer": true, "net_cls": true, "net_prio": true, "blkio": true, "perf_event": true,
	"hugetlb": true, "pids": true, "rdma": true, "misc": true,
}

// hostCgroupMounts lists the cgroup hierarchies mounted directly under
// /sys/fs/cgroup, with the options that select each one. The parent
// reads its own mountinfo (planCgroupMounts), as does a Go init before it
// mounts anything: the host's, not one an image made.
func hostCgroupMounts() ([]cgroupMount, error) {
	infos, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return filepath.Dir(m.Mountpoint) != cgroupRoot, false
	})
	if err != nil {
		return nil, err
	}
	var out []cgroupMount
	seen := map[string]bool{}
	for _, m := range infos {
		name := filepath.Base(m.Mountpoint)
		if seen[name] {
			continue
		}
		switch m.FSType {
		case "cgroup2":
			out = append(out, cgroupMount{name: name, fstype: "cgroup2"})
		case "cgroup":
			var opts []string
			for _, o := range strings.Split(m.VFSOptions, ",") {
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
