//go:build linux

package hull

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// requireRoot skips tests that unpack layers: device nodes, ownership,
// trusted xattrs and overlay mounts need root.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: unpacking layers creates device nodes, sets owners and trusted xattrs, mounts overlayfs")
	}
}

// openTest opens a Runtime on a fresh root, closed when the test ends.
func openTest(t testing.TB, opts ...Option) *Runtime {
	t.Helper()
	requireRoot(t)
	rt, err := Open(t.Context(), append([]Option{WithRoot(t.TempDir())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeTestNetworks(t, rt) }) // after Close: network_test.go
	t.Cleanup(func() { rt.Close() })
	return rt
}

// mountImage mounts the image's layers read-only and returns the merged
// root filesystem; the mount is removed when the test ends.
func mountImage(t testing.TB, rt *Runtime, img *Image) string {
	t.Helper()
	var lowers []string
	for i := len(img.rec.ChainIDs) - 1; i >= 0; i-- {
		lowers = append(lowers, rt.snaps.Path(img.rec.ChainIDs[i]))
	}
	target := t.TempDir()
	var err error
	if len(lowers) == 1 {
		err = unix.Mount(lowers[0], target, "", unix.MS_BIND, "")
		if err == nil {
			err = unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "")
		}
	} else {
		err = unix.Mount("overlay", target, "overlay", unix.MS_RDONLY, "lowerdir="+strings.Join(lowers, ":"))
	}
	if err != nil {
		unix.Unmount(target, unix.MNT_DETACH)
		t.Skipf("cannot mount the image's layers here: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", target, err)
		}
	})
	return target
}

// rootListing returns every path under the state root except lock files,
// to check that a failed operation changed nothing.
func rootListing(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if filepath.Dir(rel) == "content/locks" || filepath.Ext(p) == ".lock" {
			return nil
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// helperCmd returns a command that runs this test binary as a child
// process playing role on root (helperProcess in main_test.go lists the
// roles), with env added to its environment. Its stderr is the test's.
func helperCmd(root, role string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HULL_TEST_HELPER="+role, "HULL_TEST_ROOT="+root)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	return cmd
}

// startOwner starts a child process playing an owner role on root
// (owner, net-owner, publish-owner in main_test.go), which runs a
// container, prints its ID and init's PID and waits to be killed.
func startOwner(t *testing.T, root, role string) (cmd *exec.Cmd, id string, pid int) {
	t.Helper()
	cmd = helperCmd(root, role)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fscan(stdout, &id, &pid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %v", err)
	}
	return cmd, id, pid
}

// killOwner SIGKILLs an owner startOwner started and waits until its
// container's init (pid), which dies with its owner, is gone.
func killOwner(t *testing.T, cmd *exec.Cmd, pid int) {
	t.Helper()
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for procStartTime(pid) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if procStartTime(pid) != 0 {
		t.Fatalf("container init %d outlived its owner", pid)
	}
}

// runHelper starts a child process that pulls ref into root.
func runHelper(t testing.TB, root, ref string) *exec.Cmd {
	t.Helper()
	cmd := helperCmd(root, "pull", "HULL_TEST_REF="+ref)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}
