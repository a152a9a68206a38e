package hull

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestMain fails the run if any test left a mount behind.
func TestMain(m *testing.M) {
	if os.Getenv("HULL_TEST_HELPER") != "" {
		os.Exit(helperProcess())
	}
	before := ourMounts()
	code := m.Run()
	if after := ourMounts(); code == 0 && len(after) > len(before) {
		fmt.Fprintf(os.Stderr, "mounts leaked by the tests:\n%s\n", strings.Join(after, "\n"))
		code = 1
	}
	os.Exit(code)
}

// ourMounts lists mount points under the temp dir, where every test root
// lives.
func ourMounts() []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], os.TempDir()+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// helperProcess is the body of a child test process (see runHelper): it
// pulls HULL_TEST_REF into HULL_TEST_ROOT and exits 0 on success.
func helperProcess() int {
	ctx := context.Background()
	rt, err := Open(ctx, WithRoot(os.Getenv("HULL_TEST_ROOT")))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer rt.Close()
	if _, err := rt.Pull(ctx, os.Getenv("HULL_TEST_REF")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
