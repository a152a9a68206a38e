package cgroup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// TestV1MountsUnescaped: the v1 hierarchies are found through
// /proc/self/mountinfo, whose mount points escape a space as \040; a
// hierarchy mounted at a path with a space is found at that path. It
// bind-mounts the host's memory hierarchy, so it runs only as root in a
// mount namespace of its own (as the suite is run).
func TestV1MountsUnescaped(t *testing.T) {
	if _, err := os.Stat(filepath.Join(Root, "memory", "memory.limit_in_bytes")); err != nil {
		t.Skipf("no cgroup v1 memory hierarchy: %v", err)
	}
	root := t.TempDir()
	if !privateMount(t, root) {
		t.Skip("needs root and a private mount under the temporary directory (unshare --mount --propagation private)")
	}
	dir := filepath.Join(root, "a b")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(filepath.Join(Root, "memory"), dir, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("bind mount: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	got, err := v1Mounts(root)
	if err != nil {
		t.Fatal(err)
	}
	if got["memory"] != dir {
		t.Errorf("v1Mounts(%q) = %q, want memory at %q", root, got, dir)
	}
}

// privateMount reports whether the mount holding dir propagates no
// mount made under it (no "shared:" peer group).
func privateMount(t *testing.T, dir string) bool {
	t.Helper()
	ms, err := mountinfo.GetMounts(nil)
	if err != nil {
		t.Fatal(err)
	}
	var best *mountinfo.Info
	for _, m := range ms {
		if (dir == m.Mountpoint || strings.HasPrefix(dir, strings.TrimSuffix(m.Mountpoint, "/")+"/")) &&
			(best == nil || len(m.Mountpoint) >= len(best.Mountpoint)) {
			best = m
		}
	}
	return best != nil && !strings.Contains(best.Optional, "shared:") && os.Geteuid() == 0
}
