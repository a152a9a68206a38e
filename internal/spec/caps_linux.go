package spec

import (
	"os"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// capNames are the kernel's capabilities, indexed by number (linux/capability.h).
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// defaultCaps is Docker's default capability set.
var defaultCaps = []string{
	"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_MKNOD", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP",
	"CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
}

// kernelCaps lists the capabilities this kernel knows (/proc/sys/kernel/cap_last_cap), or
// every capability hull knows if the file cannot be read.
func kernelCaps() []string {
	last := len(capNames) - 1
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n >= 0 && n < last {
			last = n
		}
	}
	caps := slices.Clone(capNames[:last+1])
	slices.Sort(caps)
	return caps
}

// capabilities computes the process's capability sets. The set is Docker's: privileged
// gets every capability the kernel knows; otherwise "ALL" in CapAdd starts from every
// capability and "ALL" in CapDrop from none, else from the default set; then CapDrop is
// removed and CapAdd added. As in Docker ≥ 20.10, inheritable and ambient are empty, and a
// non-root user gets only the bounding set (what execve would leave it anyway).
func capabilities(o *Options, uid uint32) (*specs.LinuxCapabilities, error) {
	set, err := capSet(o.Privileged, o.CapAdd, o.CapDrop)
	if err != nil {
		return nil, err
	}
	if uid != 0 {
		return &specs.LinuxCapabilities{Bounding: set}, nil
	}
	return &specs.LinuxCapabilities{
		Bounding:  set,
		Effective: slices.Clone(set),
		Permitted: slices.Clone(set),
	}, nil
}

// capSet is the sorted capability set for the given privilege, additions and drops.
func capSet(privileged bool, add, drop []string) ([]string, error) {
	known := kernelCaps()
	if privileged {
		return known, nil
	}
	adds, addAll, err := normalizeCaps(add)
	if err != nil {
		return nil, err
	}
	drops, dropAll, err := normalizeCaps(drop)
	if err != nil {
		return nil, err
	}
	for _, c := range adds {
		if !slices.Contains(known, c) {
			return nil, invalidf("capability %s is not supported by this kernel", c)
		}
	}
	var set []string
	switch {
	case addAll:
		set = known
	case dropAll:
		set = nil
	default:
		set = slices.Clone(defaultCaps)
	}
	set = slices.DeleteFunc(set, func(c string) bool { return slices.Contains(drops, c) })
	if !addAll {
		set = append(set, adds...)
	}
	slices.Sort(set)
	return slices.Compact(set), nil
}

// normalizeCaps turns "net_admin", "NET_ADMIN" or "CAP_NET_ADMIN" into "CAP_NET_ADMIN",
// and reports "ALL" separately. An unknown name is an error.
func normalizeCaps(names []string) (caps []string, all bool, err error) {
	for _, n := range names {
		c := strings.ToUpper(strings.TrimSpace(n))
		if c == "ALL" {
			all = true
			continue
		}
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		if !slices.Contains(capNames, c) {
			return nil, false, invalidf("unknown capability %q", n)
		}
		caps = append(caps, c)
	}
	return caps, all, nil
}
