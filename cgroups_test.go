//go:build linux

package hull

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestCgroupKillEveryProcess: on the host's cgroups (v1 here), removing a
// container kills every process of its cgroup, even one outside its PID
// namespace, which the death of the container's init does not end (kill:
// frozen, listed, SIGKILLed, thawed), and leaves no directory in any
// hierarchy.
func TestCgroupKillEveryProcess(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c, err := rt.Run(t.Context(), "busybox:test", WithCmd("sleep", "1000"))
	if c != nil {
		t.Cleanup(func() { c.Remove(t.Context(), WithForce()) })
	}
	if err != nil {
		t.Fatal(err)
	}
	cg := rt.loadCgroup(c.ID())
	if cg == nil {
		t.Fatal("no cgroup for a running container")
	}
	stray, done := startStray(t)
	if err := cg.MoveIn(stray.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(t.Context(), WithForce()); err != nil {
		t.Fatal(err)
	}
	waitStrayKilled(t, stray, done, "Remove")
	for _, d := range cg.Dirs() {
		if _, err := os.Lstat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s left: %v", d, err)
		}
	}
}

// startStray starts a host process (sleep) for a test to put in a
// container's cgroup; done closes when it has ended.
func startStray(t *testing.T) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	stray := exec.Command("sleep", "1000")
	if err := stray.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = stray.Wait(); close(done) }()
	t.Cleanup(func() { _ = stray.Process.Kill(); <-done })
	return stray, done
}

// waitStrayKilled wants the stray process SIGKILLed by what (Remove,
// Close) within 20 seconds.
func waitStrayKilled(t *testing.T, stray *exec.Cmd, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
		if ws, ok := stray.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Errorf("the stray process ended with %v, want SIGKILL", stray.ProcessState)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s left the stray process %d of the cgroup alive", what, stray.Process.Pid)
	}
}
