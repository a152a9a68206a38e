//go:build linux

package hull

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/cgroup"
	"golang.org/x/sys/unix"
)

// v2TestMount is the cgroup2 mount of a hybrid host (v1 controllers, and a
// cgroup2 hierarchy with none): the cgroup v2 tests put containers there.
// Without controllers cgroup v2 still has its core: cgroup.procs,
// cgroup.kill, cgroup.freeze, cgroup.events, clone3 CLONE_INTO_CGROUP.
const v2TestMount = "/sys/fs/cgroup/unified"

// cgroupV2Test returns a Runtime (with busybox:test) whose containers get
// their cgroups on v2TestMount, or skips where there is none.
func cgroupV2Test(t *testing.T) *Runtime {
	t.Helper()
	requireRoot(t)
	var st unix.Statfs_t
	if err := unix.Statfs(v2TestMount, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Skipf("no cgroup2 mount at %s (only hybrid hosts have one; a unified host runs every container test on v2): %v", v2TestMount, err)
	}
	// cgroup.kill (Linux 5.14) is in every cgroup but the root: look in
	// the parent hull makes anyway.
	parent := filepath.Join(v2TestMount, "hull")
	if err := os.Mkdir(parent, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(parent, "cgroup.kill")); err != nil {
		t.Skipf("the kernel has no cgroup.kill (Linux 5.14): %v", err)
	}
	rt := containerTest(t)
	rt.cgroupMount = v2TestMount
	return rt
}

// v2Dir is the container's cgroup directory on v2TestMount.
func v2Dir(c *Container) string { return filepath.Join(v2TestMount, cgroup.Path(c.ID())) }

// cgroupProcs reads a cgroup's cgroup.procs.
func cgroupProcs(t *testing.T, dir string) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		n, _ := strconv.Atoi(f)
		pids = append(pids, n)
	}
	return pids
}

// checkCgroupGone fails unless the container's v2 directory is gone.
func checkCgroupGone(t *testing.T, rt *Runtime, c *Container) {
	t.Helper()
	if _, err := os.Lstat(v2Dir(c)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup %s left: %v", v2Dir(c), err)
	}
	if cg := rt.loadCgroup(c.ID()); cg != nil {
		t.Errorf("loadCgroup finds a removed cgroup: %v", cg.Dirs())
	}
}

// TestCgroupV2Start: the init and exec'd processes are born in the
// container's v2 cgroup (clone3 CLONE_INTO_CGROUP: on v2 nothing moves
// them), which the container sees as "/" (its cgroup namespace). Top and
// Stats read it. Removing the container removes the directory.
func TestCgroupV2Start(t *testing.T) {
	t.Parallel()
	rt := cgroupV2Test(t)
	var out syncBuffer
	c, err := rt.Run(t.Context(), "busybox:test", WithStdout(&out), WithStderr(&out),
		WithCmd("sh", "-c", "grep '^0::' /proc/self/cgroup; exec sleep 1000"))
	if c != nil {
		t.Cleanup(func() { c.Remove(t.Context(), WithForce()) })
	}
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, &out, "0::")
	if got := strings.TrimSpace(out.String()); got != "0::/" {
		t.Errorf("the container's own view: %q, want 0::/", got)
	}
	pid := inspect(t, c).State.Pid
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if want := "0::" + cgroup.Path(c.ID()); !slices.Contains(strings.Split(string(b), "\n"), want) {
		t.Errorf("host view of the init (pid %d): want %q in\n%s", pid, want, b)
	}
	if procs := cgroupProcs(t, v2Dir(c)); !slices.Contains(procs, pid) {
		t.Errorf("cgroup.procs %v lacks the init %d", procs, pid)
	}
	if code, out := execOut(t, c, []string{"grep", "^0::", "/proc/self/cgroup"}); code != 0 || strings.TrimSpace(out) != "0::/" {
		t.Errorf("exec's view: %d %q, want 0::/", code, out)
	}
	// Top lists the cgroup's processes; Stats reads its cpu.stat (the
	// mount has no memory, pids or io controller: those read 0).
	if ps, err := c.Top(t.Context()); err != nil || len(ps) != 1 || ps[0].PID != pid {
		t.Errorf("top: %+v %v, want the init %d", ps, err, pid)
	}
	if s, err := c.Stats(t.Context()); err != nil || s.CPU.TotalNs == 0 {
		t.Errorf("stats: %+v %v, want some CPU time", s, err)
	}
	if err := c.Remove(t.Context(), WithForce()); err != nil {
		t.Fatal(err)
	}
	checkCgroupGone(t, rt, c)
}

// TestCgroupV2PauseResume: Pause freezes the v2 cgroup (cgroup.freeze):
// a busy loop gets no CPU time until Resume.
func TestCgroupV2PauseResume(t *testing.T) {
	t.Parallel()
	rt := cgroupV2Test(t)
	c, err := rt.Run(t.Context(), "busybox:test", WithCmd("sh", "-c", "while :; do :; done"))
	if c != nil {
		t.Cleanup(func() { c.Remove(t.Context(), WithForce()) })
	}
	if err != nil {
		t.Fatal(err)
	}
	dir := v2Dir(c)
	usage := func() uint64 { return cgroup.ReadKV(filepath.Join(dir, "cpu.stat"), "usage_usec") }
	grows := func(from uint64) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); usage() <= from; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no CPU time used past %d us", from)
			}
		}
	}
	grows(0)
	if err := c.Pause(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s := inspect(t, c).State.Status; s != StatusPaused {
		t.Errorf("status %q after Pause", s)
	}
	if n := cgroup.ReadKV(filepath.Join(dir, "cgroup.events"), "frozen"); n != 1 {
		t.Errorf("cgroup.events: frozen %d after Pause", n)
	}
	u := usage()
	time.Sleep(100 * time.Millisecond)
	if u2 := usage(); u2 != u {
		t.Errorf("frozen cgroup used CPU: %d -> %d us", u, u2)
	}
	if err := c.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := cgroup.ReadKV(filepath.Join(dir, "cgroup.events"), "frozen"); n != 0 {
		t.Errorf("cgroup.events: frozen %d after Resume", n)
	}
	grows(u)
	// A paused container still dies of Remove's SIGKILL.
	if err := c.Pause(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(t.Context(), WithForce()); err != nil {
		t.Fatal(err)
	}
	checkCgroupGone(t, rt, c)
}

// TestCgroupV2KillEveryProcess: removing a container (Remove, or Close of
// its Runtime) kills every process of its cgroup with cgroup.kill, even
// one outside its PID namespace, which the death of the container's init
// does not end, and leaves no directory.
func TestCgroupV2KillEveryProcess(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"Remove", "Close"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			rt := cgroupV2Test(t)
			c, err := rt.Run(t.Context(), "busybox:test", WithCmd("sh", "-c", "sleep 1000 & sleep 1000 & wait"))
			if c != nil {
				t.Cleanup(func() { c.Remove(t.Context(), WithForce()) })
			}
			if err != nil {
				t.Fatal(err)
			}
			dir := v2Dir(c)
			for deadline := time.Now().Add(20 * time.Second); len(cgroupProcs(t, dir)) < 3; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("cgroup.procs: %v, want sh and two sleeps", cgroupProcs(t, dir))
				}
			}
			inside := cgroupProcs(t, dir)
			// A host process joins the cgroup.
			stray, done := startStray(t)
			if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(stray.Process.Pid)), 0); err != nil {
				t.Fatal(err)
			}
			if how == "Remove" {
				err = c.Remove(t.Context(), WithForce())
			} else {
				err = rt.Close()
			}
			if err != nil {
				t.Fatal(err)
			}
			waitStrayKilled(t, stray, done, how)
			for _, pid := range inside {
				if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
					t.Errorf("container process %d survives %s: %v", pid, how, err)
				}
			}
			checkCgroupGone(t, rt, c)
		})
	}
}

// TestCgroupV2LimitsUnavailable: a mount whose root offers no controllers
// (cgroup.controllers is empty on a hybrid host's cgroup2) cannot limit
// memory, pids or CPU: Run fails with ErrUnsupported naming the
// controller, and leaves no container or cgroup behind.
func TestCgroupV2LimitsUnavailable(t *testing.T) {
	t.Parallel()
	rt := cgroupV2Test(t)
	have, err := os.ReadFile(filepath.Join(v2TestMount, "cgroup.controllers"))
	if err != nil {
		t.Fatal(err)
	}
	for ctrl, opt := range map[string]RunOption{"memory": WithMemory(64 << 20), "pids": WithPidsLimit(20), "cpu": WithCPUs(0.5)} {
		if slices.Contains(strings.Fields(string(have)), ctrl) {
			t.Logf("%s: the mount offers the controller", ctrl)
			continue
		}
		c, err := rt.Run(t.Context(), "busybox:test", opt, WithCmd("true"))
		if c != nil {
			t.Cleanup(func() { c.Remove(t.Context(), WithForce()) })
			checkCgroupGone(t, rt, c)
		}
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "the "+ctrl+" controller is not available") {
			t.Errorf("%s limit on a cgroup2 without the controller: %v, want ErrUnsupported naming it", ctrl, err)
		}
	}
	if list, err := rt.Containers(t.Context(), WithAllContainers()); err != nil || len(list) != 0 {
		t.Errorf("containers left: %d %v", len(list), err)
	}
}

// TestCgroupV2ShimAndReaper: a Detached container's init is cloned into
// its v2 cgroup by the shim, which stays outside it; WithInit's reaper is
// born there and gives execs the container's cgroup namespace.
func TestCgroupV2ShimAndReaper(t *testing.T) {
	t.Parallel()
	rt := cgroupV2Test(t)
	for name, opts := range map[string][]RunOption{
		"detached":      {WithDetached()},
		"init":          {WithInit()},
		"detached-init": {WithDetached(), WithInit()},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := rt.Run(t.Context(), "busybox:test", append(opts, WithCmd("sleep", "1000"))...)
			if c != nil {
				t.Cleanup(func() { c.Remove(t.Context(), WithForce()) })
			}
			if err != nil {
				t.Fatal(err)
			}
			pid := inspect(t, c).State.Pid
			procs := cgroupProcs(t, v2Dir(c))
			if !slices.Contains(procs, pid) {
				t.Errorf("cgroup.procs %v lacks PID 1 (%d)", procs, pid)
			}
			if shim := parentPid(pid); name != "init" && slices.Contains(procs, shim) {
				t.Errorf("the shim (%d) is in the container's cgroup %v", shim, procs)
			}
			if code, out := execOut(t, c, []string{"grep", "^0::", "/proc/self/cgroup"}); code != 0 || strings.TrimSpace(out) != "0::/" {
				t.Errorf("exec's view: %d %q, want 0::/", code, out)
			}
			if err := c.Remove(t.Context(), WithForce()); err != nil {
				t.Fatal(err)
			}
			checkCgroupGone(t, rt, c)
		})
	}
}
