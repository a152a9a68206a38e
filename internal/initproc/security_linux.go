package initproc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hullbox/hull/internal/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Security phases, in the order the init goes through them.
type phase int

const (
	beforeUser phase = iota // still root with every capability
	afterUser               // setuid done
	beforeExec              // the last step before execve
)

// applySecurity does what phase ph needs of the spec's capabilities,
// no_new_privs and seccomp. The seccomp filter is loaded last, right
// before execve, so that the setup's own syscalls are not filtered; but
// loading one without no_new_privs needs CAP_SYS_ADMIN, so when no_new_privs
// is off (AllowNewPrivileges) it is loaded before the user changes instead.
// A privileged spec has no seccomp section.
func applySecurity(s *specs.Spec, ph phase) error {
	p := s.Process
	var sc *specs.LinuxSeccomp
	if s.Linux != nil {
		sc = s.Linux.Seccomp
	}
	switch ph {
	case beforeUser:
		if p.Capabilities != nil && p.User.UID != 0 && len(p.Capabilities.Permitted) > 0 {
			// Keep the permitted set across setuid, for capset below.
			if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
				return fail("capabilities", fmt.Errorf("keepcaps: %w", err))
			}
		}
		if sc != nil && !p.NoNewPrivileges {
			if err := applySeccomp(sc); err != nil {
				return fail("seccomp", err)
			}
		}
	case afterUser:
		if p.Capabilities != nil {
			if err := setCapabilities(p.Capabilities); err != nil {
				return fail("capabilities", err)
			}
		}
	case beforeExec:
		if p.NoNewPrivileges {
			if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
				return fail("no_new_privs", err)
			}
			if sc != nil {
				if err := applySeccomp(sc); err != nil {
					return fail("seccomp", err)
				}
			}
		}
	}
	return nil
}

// setCapabilities sets this thread's effective, permitted and inheritable
// sets, each limited to the capabilities this process holds, and raises
// the ambient ones (the bounding set is already dropped).
func setCapabilities(c *specs.LinuxCapabilities) error {
	mask := func(names []string) (uint64, error) {
		var m uint64
		for _, name := range names {
			n, ok := capNames[name]
			if !ok {
				return 0, fmt.Errorf("unknown capability %s", name)
			}
			m |= 1 << n
		}
		return m, nil
	}
	eff, err := mask(c.Effective)
	if err != nil {
		return err
	}
	perm, err := mask(c.Permitted)
	if err != nil {
		return err
	}
	inh, err := mask(c.Inheritable)
	if err != nil {
		return err
	}
	// Ask for no more than this process has (hull may itself run without
	// some capability, e.g. in a container): privileged means "all we hold".
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	held := uint64(data[0].Permitted) | uint64(data[1].Permitted)<<32
	eff, perm, inh = eff&held, perm&held, inh&held
	for i := range data {
		data[i] = unix.CapUserData{
			Effective: uint32(eff >> (32 * i)), Permitted: uint32(perm >> (32 * i)),
			Inheritable: uint32(inh >> (32 * i)),
		}
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	_ = unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0)
	for _, name := range c.Ambient {
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(capNames[name]), 0, 0); err != nil {
			return fmt.Errorf("raise ambient %s: %w", name, err)
		}
	}
	return nil
}

// remountReadonly makes the container's root mount read-only (mounts on
// top of it, such as tmpfs and volumes, keep their own flags).
func remountReadonly() error {
	var st unix.Statfs_t
	if err := unix.Statfs("/", &st); err != nil {
		return err
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			flags |= f.ms
		}
	}
	if err := unix.Mount("", "/", "", flags, ""); err != nil {
		return fmt.Errorf("remount / read-only: %w", err)
	}
	return nil
}

// setSysctls writes the spec's sysctls under /proc/sys (the spec only
// admits namespaced ones). It runs before /proc/sys is made read-only.
func setSysctls(sysctls map[string]string) error {
	for k, v := range sysctls {
		p := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
		if !strings.HasPrefix(p, "/proc/sys/") || strings.Contains(k, "..") {
			return fmt.Errorf("sysctl %q", k)
		}
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			return fmt.Errorf("sysctl %s: %w", k, err)
		}
	}
	return nil
}

// seccompProg is the filter the parent compiled (Config.SeccompBPF), if it
// sent one: the spec's profile then has no rules left.
var seccompProg []unix.SockFilter

func applySeccomp(sc *specs.LinuxSeccomp) error {
	if seccompProg != nil {
		return seccomp.ApplyCompiled(sc, seccompProg)
	}
	return seccomp.Apply(sc)
}
