package spec

import (
	"cmp"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// maskedPaths are Docker's: /proc and /sys files that leak host information or control
// host hardware. The runtime bind-mounts /dev/null (or an empty tmpfs) over them.
var maskedPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/sched_debug", "/proc/scsi", "/proc/timer_list", "/proc/timer_stats",
	"/sys/devices/virtual/powercap", "/sys/firmware",
}

// readonlyPaths are Docker's: /proc files that configure the host kernel.
var readonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// buildLinux returns the Linux section: namespaces, devices, resources, sysctls and, unless
// privileged, seccomp for the bounding capability set and the masked and read-only paths.
func buildLinux(o *Options, bounding []string) (*specs.Linux, error) {
	res, err := buildResources(o)
	if err != nil {
		return nil, err
	}
	sc, err := sysctls(o.Sysctls)
	if err != nil {
		return nil, err
	}
	l := &specs.Linux{
		Namespaces: []specs.LinuxNamespace{
			{Type: specs.PIDNamespace},
			{Type: specs.IPCNamespace},
			{Type: specs.UTSNamespace},
			{Type: specs.MountNamespace},
			{Type: specs.NetworkNamespace, Path: o.NetNSPath},
			{Type: specs.CgroupNamespace},
		},
		Devices:     defaultDevices(),
		Resources:   res,
		CgroupsPath: o.CgroupsPath,
		Sysctl:      sc,
	}
	if o.Privileged {
		l.Devices = hostDevices() // as docker --privileged
	}
	if !o.Privileged {
		l.Seccomp = seccompFor(goarch, bounding)
		l.MaskedPaths = slices.Clone(maskedPaths)
		l.ReadonlyPaths = slices.Clone(readonlyPaths)
	}
	return l, nil
}

// defaultDevices are the nodes every container's /dev has (the runtime-spec's list; the
// runtime links /dev/ptmx to pts/ptmx and adds /dev/console for a terminal).
func defaultDevices() []specs.LinuxDevice {
	type dev struct {
		name         string
		major, minor int64
	}
	devs := []dev{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}}
	out := make([]specs.LinuxDevice, 0, len(devs))
	for _, d := range devs {
		mode := os.FileMode(0o666)
		var root uint32
		out = append(out, specs.LinuxDevice{
			Path: "/dev/" + d.name, Type: "c", Major: d.major, Minor: d.minor,
			FileMode: &mode, UID: &root, GID: &root,
		})
	}
	return out
}

// hostDevices lists the host's device nodes under /dev, for a privileged
// container: Docker's --privileged gives it every one. Left out: what the
// runtime makes per container (ptmx, console, pts), the filesystems
// mounted under /dev (shm, mqueue) and symlinks.
func hostDevices() []specs.LinuxDevice {
	var out []specs.LinuxDevice
	_ = filepath.WalkDir("/dev", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable: skip it
		}
		if d.IsDir() {
			switch p {
			case "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/fd", "/dev/.lxc", "/dev/.udev":
				return fs.SkipDir
			}
			return nil
		}
		if d.Type()&fs.ModeDevice == 0 || p == "/dev/ptmx" || p == "/dev/console" {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		typ := "b"
		if d.Type()&fs.ModeCharDevice != 0 {
			typ = "c"
		}
		mode, uid, gid := info.Mode().Perm(), st.Uid, st.Gid
		out = append(out, specs.LinuxDevice{
			Path: p, Type: typ, Major: int64(unix.Major(uint64(st.Rdev))), Minor: int64(unix.Minor(uint64(st.Rdev))),
			FileMode: &mode, UID: &uid, GID: &gid,
		})
		return nil
	})
	if len(out) == 0 {
		return defaultDevices()
	}
	return out
}

// deviceRules is Docker's device cgroup: deny everything, then allow mknod of any node
// (creating one is harmless; using it is what the rules gate), the standard character
// devices, the container's ptys and /dev/net/tun. Privileged allows everything.
func deviceRules(privileged bool) []specs.LinuxDeviceCgroup {
	if privileged {
		return []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	}
	rule := func(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
		r := specs.LinuxDeviceCgroup{Allow: true, Type: typ, Access: access}
		if major >= 0 {
			r.Major = &major
		}
		if minor >= 0 {
			r.Minor = &minor
		}
		return r
	}
	const all = -1
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		rule("c", all, all, "m"),
		rule("b", all, all, "m"),
		rule("c", 1, 3, "rwm"),     // null
		rule("c", 1, 5, "rwm"),     // zero
		rule("c", 1, 7, "rwm"),     // full
		rule("c", 1, 8, "rwm"),     // random
		rule("c", 1, 9, "rwm"),     // urandom
		rule("c", 5, 0, "rwm"),     // tty
		rule("c", 5, 1, "rwm"),     // console
		rule("c", 5, 2, "rwm"),     // /dev/pts/ptmx
		rule("c", 136, all, "rwm"), // /dev/pts/*
		rule("c", 10, 200, "rwm"),  // /dev/net/tun
	}
}

// defaultMounts are Docker's, in mount order. Privileged makes /sys and the cgroup
// filesystem writable.
func defaultMounts(privileged bool) []specs.Mount {
	ro := "ro"
	if privileged {
		ro = "rw"
	}
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", ro}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", ro}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
	}
}

// buildMounts returns the default mounts, minus those a caller's mount replaces, then the
// caller's Tmpfs and Mounts. The caller's are ordered parents first (by path depth, stable,
// as Docker does), so a bind inside a tmpfs lands on top of it.
func buildMounts(o *Options) ([]specs.Mount, error) {
	user := make([]specs.Mount, 0, len(o.Tmpfs)+len(o.Mounts))
	for _, dst := range slices.Sorted(maps.Keys(o.Tmpfs)) {
		user = append(user, specs.Mount{
			Destination: dst, Type: "tmpfs", Source: "tmpfs", Options: tmpfsOptions(o.Tmpfs[dst]),
		})
	}
	for _, m := range o.Mounts {
		m.Options = slices.Clone(m.Options)
		user = append(user, m)
	}
	seen := make(map[string]bool, len(user))
	for i := range user {
		dst := user[i].Destination
		if !path.IsAbs(dst) || path.Clean(dst) == "/" {
			return nil, invalidf("mount destination %q is not an absolute path below /", dst)
		}
		dst = path.Clean(dst)
		if seen[dst] {
			return nil, invalidf("duplicate mount point %s", dst)
		}
		if err := checkProcMount(user[i], dst); err != nil {
			return nil, err
		}
		seen[dst], user[i].Destination = true, dst
	}
	slices.SortStableFunc(user, func(a, b specs.Mount) int {
		return cmp.Compare(depth(a.Destination), depth(b.Destination))
	})
	var out []specs.Mount
	for _, m := range defaultMounts(o.Privileged) {
		replaced := slices.ContainsFunc(user, func(u specs.Mount) bool { return within(m.Destination, u.Destination) })
		if !replaced {
			out = append(out, m)
		}
	}
	return append(out, user...), nil
}

// depth counts a clean absolute path's components ("/" is 0).
func depth(p string) int {
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// tmpfsFlags pairs each tmpfs flag with the flag it cancels.
var tmpfsFlags = map[string]string{
	"rw": "ro", "ro": "rw", "exec": "noexec", "noexec": "exec", "suid": "nosuid",
	"nosuid": "suid", "dev": "nodev", "nodev": "dev", "atime": "noatime", "noatime": "atime",
	"diratime": "nodiratime", "nodiratime": "diratime", "relatime": "norelatime",
	"norelatime": "relatime", "strictatime": "nostrictatime", "nostrictatime": "strictatime",
	"sync": "async", "async": "sync",
}

// tmpfsOptions merges a docker --tmpfs option string over Docker's defaults
// "rw,noexec,nosuid,nodev": a flag replaces its opposite, key=value replaces the same key.
func tmpfsOptions(data string) []string {
	opts := []string{"rw", "noexec", "nosuid", "nodev"}
	for _, opt := range strings.Split(data, ",") {
		opt = strings.TrimSpace(opt)
		if opt == "" {
			continue
		}
		key, _, isKV := strings.Cut(opt, "=")
		opts = slices.DeleteFunc(opts, func(o string) bool {
			if isKV {
				k, _, _ := strings.Cut(o, "=")
				return k == key
			}
			return o == opt || o == tmpfsFlags[opt]
		})
		opts = append(opts, opt)
	}
	return opts
}
