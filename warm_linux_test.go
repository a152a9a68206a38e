package hull

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hullbox/hull/internal/initproc"
)

// TestContainerWarmInit: after the first container, a Runtime's containers
// start from a warm init (warm_linux.go), which must behave as a cold one:
// its streams, its cgroup (joined before the user's process runs), exit
// codes; and Close leaves no warm init behind. Not parallel: it counts
// this process's children. Both kinds: plan.c's inits (PlanWarmMode) and,
// with every container made to use one, Go inits (WarmMode).
func TestContainerWarmInit(t *testing.T) {
	for _, goInit := range []bool{false, true} {
		t.Run(map[bool]string{false: "plan", true: "go"}[goInit], func(t *testing.T) { testWarmInit(t, goInit) })
	}
}

func testWarmInit(t *testing.T, goInit bool) {
	rt := containerTest(t)
	rt.goInit = goInit
	mode := initproc.PlanWarmMode
	if goInit {
		mode = initproc.WarmMode
	}
	warm := 0
	for i := range 5 {
		var out, errOut syncBuffer
		c, err := rt.Run(t.Context(), "busybox:test", WithStdout(&out), WithStderr(&errOut),
			WithCmd("sh", "-c", "echo out $$; echo err >&2; grep -E ':(pids|memory):|^0::' /proc/self/cgroup | head -1; sleep 0.2; exit 3"))
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(c.lp.cmd.Env, initproc.Env+"="+mode) {
			warm++
		}
		// The command sleeps so that its process is still in its cgroup
		// here: an exited task shows the root cgroups.
		host, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(c.Inspect().State.Pid), "cgroup"))
		st, err := c.Wait(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if st.Code != 3 {
			t.Errorf("run %d: exit %+v", i, st)
		}
		if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 2 || lines[0] != "out 1" || !strings.HasSuffix(lines[1], ":/") {
			t.Errorf("run %d: stdout %q", i, out.String())
		}
		if errOut.String() != "err\n" {
			t.Errorf("run %d: stderr %q", i, errOut.String())
		}
		if len(host) > 0 && !strings.Contains(string(host), "/hull/"+c.ID()) {
			t.Errorf("run %d: init not in its cgroup: %s", i, host)
		}
		if err := c.Remove(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if warm < 2 {
		t.Errorf("%d of 5 containers started from a warm init, want at least 2", warm)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if kids := initChildren(t); len(kids) > 0 {
		t.Errorf("container inits left after Close: %v", kids)
	}
}

// initChildren lists this process's children that run hull's init.
func initChildren(t *testing.T) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(stat), ')')
		if f := strings.Fields(string(stat[i+1:])); len(f) < 2 || f[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		if exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); strings.Contains(exe, "hull-init") {
			out = append(out, pid)
		}
	}
	return out
}
