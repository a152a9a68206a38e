package hull

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestContainerWarmInit: with every container made to use the Go init,
// a Runtime's containers start from a warm init (internal/spawn) after the
// first, which must behave as a cold one: its streams, its cgroup (joined
// before the user's process runs), exit codes; and Close leaves no warm
// init behind. The same of plan inits (initproc.Spawn), which have no
// warm ones. Not parallel: it counts this process's children.
func TestContainerWarmInit(t *testing.T) {
	for _, goInit := range []bool{false, true} {
		t.Run(map[bool]string{false: "plan", true: "go"}[goInit], func(t *testing.T) { testWarmInit(t, goInit) })
	}
}

func testWarmInit(t *testing.T, goInit bool) {
	rt := containerTest(t)
	rt.goInit = goInit
	kind := map[bool]string{false: "plan", true: "go-warm"}[goInit]
	warm := 0
	for i := range 5 {
		var out, errOut syncBuffer
		c, err := rt.Run(t.Context(), "busybox:test", WithStdout(&out), WithStderr(&errOut),
			WithCmd("sh", "-c", "echo out $$; echo err >&2; grep -E ':(pids|memory):|^0::' /proc/self/cgroup | head -1; sleep 0.2; exit 3"))
		if err != nil {
			t.Fatal(err)
		}
		if c.lp.kind == kind {
			warm++
		}
		// The command sleeps so that its process is still in its cgroup
		// here: an exited task shows the root cgroups.
		host, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(inspect(t, c).State.Pid), "cgroup"))
		st, err := c.Wait(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if st.ExitCode != 3 {
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
	if want := map[bool]int{false: 5, true: 2}[goInit]; warm < want {
		t.Errorf("%d of 5 containers started from a %s init, want at least %d", warm, kind, want)
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
	self, _ := os.Readlink("/proc/self/exe")
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
		// A Go init runs the sealed copy; a plan init, until it execs,
		// this very program.
		if exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); strings.Contains(exe, "hull-init") || exe == self {
			out = append(out, pid)
		}
	}
	return out
}
