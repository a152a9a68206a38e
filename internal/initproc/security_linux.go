package initproc

import (
	"fmt"

	"golang.org/x/sys/unix"
)

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

// seccompProg is the filter the parent compiled (Config.SeccompBPF), if it
// sent one: the spec's profile then has no rules left. The reaper
// (confineReaper) loads it; the plan carries Config.SeccompBPF as is.
var seccompProg []unix.SockFilter
