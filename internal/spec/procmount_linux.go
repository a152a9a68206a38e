package spec

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// procMountAllowed are the paths below /proc a caller's mount may cover:
// runc's list (libcontainer's checkProcMount), the files lxcfs emulates.
var procMountAllowed = []string{
	"/proc/cpuinfo",
	"/proc/diskstats",
	"/proc/meminfo",
	"/proc/stat",
	"/proc/swaps",
	"/proc/uptime",
	"/proc/loadavg",
	"/proc/slabinfo",
	"/proc/net/dev",
	"/proc/sys/kernel/ns_last_pid",
}

// checkProcMount refuses a caller's mount that runc refuses: one over
// /proc itself that is neither a fresh procfs nor a bind of a procfs, and
// one below /proc outside procMountAllowed. Covering /proc (or a file in
// it) with anything else would hide what the masked and read-only paths
// protect, and give the container a /proc that is not its own. dst is
// clean. Unlike runc, which checks at mount time with the image's
// symlinks resolved, this checks the path as given; the init resolves it
// inside the root and refuses a symlink on procfs.
func checkProcMount(m specs.Mount, dst string) error {
	if !within(dst, "/proc") {
		return nil
	}
	if dst == "/proc" {
		if m.Type == "proc" {
			return nil
		}
		if isBind(m) && onProcfs(m.Source) {
			return nil
		}
		return invalidf("mount destination /proc: only a proc filesystem may be mounted there (a bind of one, or type proc)")
	}
	if slices.Contains(procMountAllowed, dst) {
		return nil
	}
	return invalidf("mount destination %s is inside /proc: only %v may be mounted over", dst, procMountAllowed)
}

func isBind(m specs.Mount) bool {
	return m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
}

// onProcfs reports whether path (followed) is on a proc filesystem.
func onProcfs(path string) bool {
	var st unix.Statfs_t
	return path != "" && unix.Statfs(path, &st) == nil && st.Type == unix.PROC_SUPER_MAGIC
}
