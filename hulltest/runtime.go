package hulltest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hullbox/hull"
)

// RootEnv is the environment variable that names the state root the
// helpers share. Default: hull-test under os.UserCacheDir (os.TempDir when
// there is no cache dir).
const RootEnv = "HULL_TEST_ROOT"

// Labels every container and network of hulltest carries: the test that
// made it, and its owner process ("<pid>/<start time>"), by which the next
// test binary tells what a dead one left.
const (
	LabelTest  = "com.hullbox.hulltest.test"
	LabelOwner = "com.hullbox.hulltest.owner"
)

// cleanupTimeout bounds each removal done in t.Cleanup, where the test's
// context is already cancelled.
const cleanupTimeout = 30 * time.Second

var (
	runtimes sync.Map // testing.TB -> *hull.Runtime
	swept    sync.Map // root -> *sync.Once
)

// Root returns the state root the helpers use: $HULL_TEST_ROOT, else
// hull-test under os.UserCacheDir.
func Root() string {
	if dir := os.Getenv(RootEnv); dir != "" {
		return dir
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "hull-test")
}

// Runtime returns the test's Runtime on Root, opened on first use and
// closed when the test ends (which kills and removes whatever containers
// the test still has). It skips the test when containers cannot run here
// (Require). Subtests get their own.
func Runtime(t testing.TB) *hull.Runtime {
	t.Helper()
	if rt, ok := runtimes.Load(t); ok {
		return rt.(*hull.Runtime)
	}
	Require(t)
	root := Root()
	rt, err := hull.Open(context.Background(), hull.WithRoot(root))
	if errors.Is(err, hull.ErrUnsupported) {
		t.Skipf("hulltest: %v", err)
	}
	if err != nil {
		t.Fatalf("hulltest: open %s: %v", root, err)
	}
	runtimes.Store(t, rt)
	t.Cleanup(func() {
		runtimes.Delete(t)
		if err := rt.Close(); err != nil {
			t.Errorf("hulltest: close runtime: %v", err)
		}
	})
	once, _ := swept.LoadOrStore(root, new(sync.Once))
	once.(*sync.Once).Do(func() { sweepDead(t, rt) })
	return rt
}

// Require skips the test, saying exactly what is missing, unless this
// machine and program can run containers: Linux, root, overlayfs, a
// mounted cgroup hierarchy, a build with cgo. Runtime calls it; call it
// first in a test that does setup work of its own before the first helper.
func Require(t testing.TB) {
	t.Helper()
	if reason := missing(); reason != "" {
		t.Skip("hulltest: " + reason)
	}
}

// missing says what this machine or program lacks to run containers, or "".
func missing() string {
	if runtime.GOOS != "linux" {
		return fmt.Sprintf("hull runs containers on Linux only (this is %s)", runtime.GOOS)
	}
	if !cgoEnabled {
		return "hull needs cgo on Linux, and this test binary was built with CGO_ENABLED=0"
	}
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Sprintf("needs root (running as uid %d): containers need mounts, namespaces, cgroups and bridges; try `go test -exec sudo`", uid)
	}
	if fs, err := os.ReadFile("/proc/filesystems"); err != nil {
		return fmt.Sprintf("cannot read /proc/filesystems: %v", err)
	} else if !strings.Contains(string(fs), "\toverlay\n") {
		return "the kernel has no overlayfs (not in /proc/filesystems): modprobe overlay"
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		if _, err := os.Stat("/sys/fs/cgroup/memory"); err != nil {
			return "no cgroup hierarchy mounted at /sys/fs/cgroup"
		}
	}
	return ""
}

// testContext is what the helpers' calls run under: the test's context,
// which ends when the test does.
func testContext(t testing.TB) context.Context {
	if tc, ok := t.(interface{ Context() context.Context }); ok {
		return tc.Context()
	}
	return context.Background()
}

// labels are the labels of a container or network made for t.
func labels(t testing.TB) map[string]string {
	return map[string]string{LabelTest: t.Name(), LabelOwner: self}
}

// self is this process as LabelOwner names it.
var self = ownerID(os.Getpid())

// ownerID names process pid as "<pid>/<start time>", so that a reused PID
// is not taken for the same process; "" if it is not running.
func ownerID(pid int) string {
	start := procStart(pid)
	if start == "" {
		return ""
	}
	return fmt.Sprintf("%d/%s", pid, start)
}

// ownerAlive reports whether the process an owner label names still runs.
func ownerAlive(owner string) bool {
	var pid int
	if _, err := fmt.Sscanf(owner, "%d/", &pid); err != nil || pid <= 0 {
		return false
	}
	return ownerID(pid) == owner
}

// procStart returns the start time of process pid in clock ticks since
// boot (field 22 of /proc/<pid>/stat), or "" if there is no such process.
func procStart(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name (field 2) may hold spaces: count from its ")".
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// sweepDead removes the containers and networks that test processes which
// died (SIGKILL, a timeout's panic) left on the root: hull already killed
// their containers, and its Open cleaned their mounts, cgroups and rules;
// their records and networks (bridges, which are not tied to a process)
// are left, and go here.
func sweepDead(t testing.TB, rt *hull.Runtime) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	cs, err := rt.Containers(ctx, hull.WithAllContainers(), hull.WithFilterLabel(LabelOwner, ""))
	if err != nil {
		t.Logf("hulltest: list containers of dead tests: %v", err)
		return
	}
	for _, c := range cs {
		in, err := c.Inspect(ctx)
		if err != nil || ownerAlive(in.Config.Labels[LabelOwner]) {
			continue
		}
		if err := c.Remove(ctx, hull.WithForce()); err != nil && !errors.Is(err, hull.ErrNotFound) {
			t.Logf("hulltest: remove container %s of dead test %q: %v", c.Name(), in.Config.Labels[LabelTest], err)
		}
	}
	nets, err := rt.Networks(ctx)
	if err != nil {
		t.Logf("hulltest: list networks of dead tests: %v", err)
		return
	}
	for _, n := range nets {
		in, err := n.Inspect(ctx)
		owner, ok := in.Labels[LabelOwner]
		if err != nil || !ok || ownerAlive(owner) {
			continue
		}
		if err := n.Remove(ctx); err != nil && !errors.Is(err, hull.ErrNotFound) {
			t.Logf("hulltest: remove network %s of dead test %q: %v", n.Name(), in.Labels[LabelTest], err)
		}
	}
}
