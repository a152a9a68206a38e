//go:build linux

package hull

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/cgroup"
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

// TestCgroupJoined: a container's init and an exec'd process are in every
// cgroup of the container, from the host's view (/proc/<pid>/cgroup) and
// their own (the root of their cgroup namespace), whichever init runs and
// whether it joined itself (v1: 0 written to tasks, by the plan or by the
// Go init's C constructor) or was moved in (a warm Go init, v2).
func TestCgroupJoined(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	rtGo := containerTest(t)
	rtGo.goInit = true
	for _, tc := range []struct {
		name string
		rt   *Runtime
		kind string
		opts []RunOption
	}{
		{"plan", rt, "plan", nil},
		{"detached", rt, "shim", []RunOption{WithDetached()}},
		{"init", rt, "go", []RunOption{WithInit()}},
		{"go", rtGo, "go", nil},
		// From a Runtime's second Go init on, a warm one may stand in
		// ("go-warm"): moved in by the parent.
		{"go-again", rtGo, "go", nil},
		{"go-third", rtGo, "go", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.rt.Run(t.Context(), "busybox:test", append([]RunOption{WithCmd("sleep", "1000"), WithCPUSet("0", "")}, tc.opts...)...)
			if c != nil {
				t.Cleanup(func() { c.Remove(context.Background(), WithForce()) })
			}
			if err != nil {
				t.Fatal(err)
			}
			if lp := c.live(); lp == nil || !strings.HasPrefix(lp.kind, tc.kind) {
				t.Fatalf("init %+v, want a %s one", lp, tc.kind)
			}
			checkJoined(t, tc.rt, c)
		})
	}
}

// checkJoined checks that c's init and an exec'd process are in c's cgroup.
func checkJoined(t *testing.T, rt *Runtime, c *Container) {
	t.Helper()
	cg := rt.loadCgroup(c.ID())
	in, err := c.Inspect(t.Context())
	if err != nil || cg == nil {
		t.Fatal(cg, err)
	}
	// hierarchy returns the cgroup directory of d's hierarchy that a
	// /proc/<pid>/cgroup line names, or "".
	hierarchy := func(line string) (dir, path string) {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			t.Fatalf("/proc/pid/cgroup line %q", line)
		}
		for _, d := range cg.Dirs() {
			if f[1] == "" && cgroup.Host().Unified() || f[1] != "" && strings.Contains(d, "/"+f[1]+"/") {
				return d, f[2]
			}
		}
		return "", f[2]
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", in.State.Pid))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if d, path := hierarchy(l); d != "" {
			seen[d] = true
			if path != cgroup.Path(c.ID()) {
				t.Errorf("the init's %q: not in %s", l, d)
			}
		}
	}
	if len(seen) != len(cg.Dirs()) {
		t.Errorf("the init is in %d of the %d cgroup directories:\n%s", len(seen), len(cg.Dirs()), data)
	}
	// Their own view: the root of each hierarchy joined (an exec'd
	// process outside the cgroup would see a path up from it).
	var out bytes.Buffer
	res, err := c.Exec(t.Context(), []string{"cat", "/proc/self/cgroup", "/proc/1/cgroup"}, WithExecStdout(&out))
	if err != nil || res.ExitCode != 0 {
		t.Fatal(res, err, out.String())
	}
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if d, path := hierarchy(l); d != "" {
			n++
			if path != "/" {
				t.Errorf("inside the container %q: not at the root of %s", l, d)
			}
		}
	}
	if n != 2*len(cg.Dirs()) {
		t.Errorf("%d lines for the container's hierarchies, want %d:\n%s", n, 2*len(cg.Dirs()), out.String())
	}
}
