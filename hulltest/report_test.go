package hulltest_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/hulltest"
)

// failedTB is a test that has failed: it records what is logged and runs
// its cleanups when told (everything else is the real test's).
type failedTB struct {
	testing.TB
	mu       sync.Mutex
	logs     []string
	cleanups []func()
}

func (f *failedTB) Failed() bool { return true }

func (f *failedTB) Logf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

func (f *failedTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

func (f *failedTB) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// TestLogsWhenFailed: when a test failed, the last lines of its
// containers' output go to t.Log before they are removed; a test that
// passed logs nothing.
func TestLogsWhenFailed(t *testing.T) {
	t.Parallel()
	ref := hulltest.Image(t, hulltest.WithBusybox())
	f := &failedTB{TB: t}
	c := hulltest.Run(f, ref, hull.WithCmd("sh", "-c", "echo out-line; echo err-line >&2; exec sleep 60"))
	hulltest.WaitFor(t, c, hulltest.ForLog("out-line"), hulltest.ForLog("err-line"))
	f.runCleanups()
	all := strings.Join(f.logs, "\n")
	for _, want := range []string{"container " + c.Name() + " (running)", "\tout-line", "\terr-line"} {
		if !strings.Contains(all, want) {
			t.Errorf("t.Log of a failed test lacks %q:\n%s", want, all)
		}
	}
	if _, err := c.Inspect(t.Context()); !errors.Is(err, hull.ErrNotFound) {
		t.Errorf("after the cleanups: %v, want ErrNotFound", err)
	}
}

// TestSkipNotRoot: as another user, a hulltest test is skipped with a
// message saying it needs root, not failed.
func TestSkipNotRoot(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the test binary as another user")
	}
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "hulltest.test")
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestRunEndpoint$", "-test.v")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	for _, want := range []string{"--- SKIP: TestRunEndpoint", "hulltest: needs root (running as uid 65534)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
