package initproc

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestJoinEnvOnlyCgroupTasks: the constructor of join.c writes nothing
// but cgroup tasks files. This test binary has it (with cgo): run as a Go
// init would be (Env set) with JoinEnv naming a plain file called tasks,
// it exits 125 and the file is unchanged; without Env, the variable is
// ignored and the program runs.
func TestJoinEnvOnlyCgroupTasks(t *testing.T) {
	if !CgoBuilt {
		t.Skip("needs cgo: join.c is C")
	}
	t.Parallel()
	f := filepath.Join(t.TempDir(), "tasks")
	if err := os.WriteFile(f, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(env ...string) (int, string) { return runSelf(t, nil, env...) }
	if code, out := run(Env+"=1", JoinEnv+"="+f); code != 125 || !strings.Contains(out, "join cgroup") {
		t.Errorf("a Go init asked to join a plain file: exit %d, %q; want 125 and the reason", code, out)
	}
	if code, out := run(JoinEnv + "=" + f); code != 0 {
		t.Errorf("a program that is no init: exit %d, %q; want it to run", code, out)
	}
	if data, _ := os.ReadFile(f); string(data) != "keep" {
		t.Errorf("the file now holds %q", data)
	}
}

// TestSecureExecRefused: a process exec'd in secure-execution mode (here
// setpriv's real uid 65534 with effective uid 0, as a setuid-root
// program's) never becomes an init, whatever its caller's environment
// says: its descriptors and config would be its unprivileged caller's,
// and a Go init whose join.c stood down would run outside its cgroup.
// Without the variables it runs as usual.
func TestSecureExecRefused(t *testing.T) {
	if !CgoBuilt {
		t.Skip("needs cgo: join.c and reaper.c are C")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: setpriv keeps effective uid 0 with another real uid")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err == nil {
		err = exec.Command(setpriv, "--ruid", "0", "--", "true").Run()
	}
	if err != nil {
		t.Skipf("needs util-linux's setpriv with --ruid: %v", err) // busybox's has none
	}
	t.Parallel()
	tasks := filepath.Join(t.TempDir(), "tasks")
	run := func(env ...string) (int, string) {
		return runSelf(t, []string{setpriv, "--ruid", "65534", "--"}, env...)
	}
	for _, tc := range []struct {
		env  []string
		says string
	}{
		{[]string{Env + "=1"}, "secure-execution"},
		{[]string{Env + "=1", JoinEnv + "=" + tasks}, "secure-execution"},
		{[]string{Env + "=" + ShimMode}, "secure-execution"},
		{[]string{Env + "=" + SuperviseMode}, "secure-execution"},        // before package hull's init sees it
		{[]string{Env + "=1", ReaperEnv + "=1"}, errReaperNoCgo.Error()}, // reaper.c stood down too
	} {
		if code, out := run(tc.env...); code != 125 || !strings.Contains(out, tc.says) {
			t.Errorf("%q in secure mode: exit %d, %q; want 125 and %q", tc.env, code, out, tc.says)
		}
	}
	if code, out := run(JoinEnv + "=" + tasks); code != 0 {
		t.Errorf("no init: exit %d, %q; want it to run", code, out)
	}
}

// runSelf runs this test binary, running no test, under the command
// prefix (nil: none) with env added, and returns its exit code and
// output.
func runSelf(t *testing.T, prefix []string, env ...string) (int, string) {
	t.Helper()
	argv := append(append([]string{}, prefix...), os.Args[0], "-test.run=^$")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}
