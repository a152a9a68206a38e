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
	run := func(env ...string) (int, string) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
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
