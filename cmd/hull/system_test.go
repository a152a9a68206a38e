//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSystemPrune: `hull system prune` removes the root's stopped
// container and unused network, keeps the running container, and leaves
// nothing of a root that was deleted with a Detached container running
// (its process killed, its cgroup gone): the Open of the command swept
// it, and its Sweep reports what that Open removed.
func TestSystemPrune(t *testing.T) {
	root := busyboxRoot(t)
	requirePrivateNetns(t)
	mustHull(t, root, nil, "run", "-d", "--name", "stopped", "busybox:test", "true")
	mustHull(t, root, nil, "wait", "stopped")
	mustHull(t, root, nil, "run", "-d", "--name", "live", "busybox:test", "sleep", "60")
	defer hullCmd(t, root, nil, "rm", "-f", "live")
	mustHull(t, root, nil, "network", "create", "unused")

	gone := busyboxRoot(t)
	orphan := strings.TrimSpace(mustHull(t, gone, nil, "run", "-d", "busybox:test", "sleep", "60").stdout)
	pid, err := strconv.Atoi(strings.TrimSpace(mustHull(t, gone, nil, "inspect", "-f", "{{.State.Pid}}", orphan).stdout))
	if err != nil || pid <= 0 {
		t.Fatalf("the orphan's pid: %v", err)
	}
	if err := os.RemoveAll(gone); err != nil {
		t.Fatal(err)
	}

	if r := mustHull(t, root, []byte("n\n"), "system", "prune"); !strings.Contains(r.stdout, "WARNING!") {
		t.Errorf("system prune answered no: %q", r.stdout)
	}
	out := mustHull(t, root, nil, "system", "prune", "-f").stdout
	// The deleted root is listed unless another process's Open (another
	// test binary's) swept it first: its objects are checked below.
	t.Logf("system prune -f:\n%s", out)
	if !strings.Contains(out, "Deleted Containers:\n") || !strings.Contains(out, "Deleted Networks:\nunused\n") ||
		!strings.Contains(out, "Total reclaimed space:") {
		t.Errorf("system prune printed:\n%s", out)
	}
	if r := mustHull(t, root, nil, "ps", "-a"); strings.Contains(r.stdout, "stopped") || !strings.Contains(r.stdout, "live") {
		t.Errorf("containers after system prune: %q", r.stdout)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("the deleted root's Detached container (pid %d) still runs", pid)
	}
	if dirs, _ := filepath.Glob("/sys/fs/cgroup/*/hull/" + orphan); len(dirs) > 0 {
		t.Errorf("the deleted root's cgroups are left: %q", dirs)
	}
}
