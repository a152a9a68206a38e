//go:build linux

package hull

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/spawn"
	"golang.org/x/sys/unix"
)

// TestReexecSafety: an init started from this program's binary runs a
// sealed memfd copy of it, never the file on the host (CVE-2019-5736).
// Even a privileged container, whose root may open /proc/1/exe of its
// resident init for writing, cannot change that copy or the host binary:
// the kernel refuses while the copy runs, and the seals would refuse after.
func TestReexecSafety(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sum := func() [32]byte {
		b, err := os.ReadFile(self)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	before := sum()
	c, err := rt.Run(t.Context(), "busybox:test", WithPrivileged(), WithInit(), WithCmd("sleep", "1000"))
	if c != nil {
		t.Cleanup(func() { c.Remove(context.Background(), WithForce()) })
	}
	if err != nil {
		t.Fatal(err)
	}
	script := `readlink /proc/1/exe
echo pwned > /proc/1/exe && echo truncated
echo pwned | dd of=/proc/1/exe conv=notrunc && echo written
echo done`
	_, out := execOut(t, c, []string{"sh", "-c", script})
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "/memfd:hull-init") {
		t.Errorf("the init runs %q, want the memfd copy", lines[0])
	}
	if slices.Contains(lines, "truncated") || slices.Contains(lines, "written") || !slices.Contains(lines, "done") {
		t.Errorf("the container changed its init's binary:\n%s", out)
	}
	// What guards the copy once no process runs it: its seals.
	f, err := os.Open(fmt.Sprintf("/proc/%d/exe", inspect(t, c).State.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	want := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if err != nil || seals&want != want {
		t.Errorf("the init's binary has seals %#x (%v), want %#x", seals, err, want)
	}
	if sum() != before {
		t.Errorf("the host binary %s changed", self)
	}
}

func init() { helperRoles["memfd-noexec"] = memfdNoexecRole }

// copyCmd runs this test binary's sealed copy exe, as a plain test
// process that lists no test and exits 0 (no helper role).
func copyCmd(exe *execFile) *exec.Cmd {
	cmd := exec.Command(exe.Path(), "-test.list=^$")
	cmd.Env = slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "HULL_TEST_HELPER=") })
	return cmd
}

// memfdNoexecRole runs in a child test process in a PID namespace of its
// own (TestMemfdNoexec), whose vm.memfd_noexec it raises: at 1 the binary's
// copy must still run, at 2 making it must fail and say why.
func memfdNoexecRole(context.Context, *Runtime) error {
	const sysctl = "/proc/sys/vm/memfd_noexec"
	if err := os.WriteFile(sysctl, []byte("1"), 0); err != nil {
		return err
	}
	exe, err := spawn.NewExe()
	if err != nil {
		return fmt.Errorf("memfd_noexec=1: %w", err)
	}
	defer exe.Close()
	if out, err := copyCmd(exe).CombinedOutput(); err != nil {
		return fmt.Errorf("memfd_noexec=1: run the binary's copy: %w: %s", err, out)
	}
	if err := os.WriteFile(sysctl, []byte("2"), 0); err != nil {
		return err
	}
	if _, err := spawn.NewExe(); err == nil || !errors.Is(err, syscall.EACCES) || !strings.Contains(err.Error(), "vm.memfd_noexec=2") {
		return fmt.Errorf("memfd_noexec=2: got %v, want EACCES naming the sysctl", err)
	}
	return nil
}

// TestMemfdNoexec: where vm.memfd_noexec seals memfds against exec by
// default (Linux 6.3 and later), inits still start; where it forbids
// executable memfds, the error says so.
func TestMemfdNoexec(t *testing.T) {
	if _, err := os.Stat("/proc/sys/vm/memfd_noexec"); err != nil {
		t.Skipf("no vm.memfd_noexec (Linux before 6.3): %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to enter a PID namespace and raise its sysctl")
	}
	if err := unix.Access("/proc/sys/vm/memfd_noexec", unix.W_OK); err != nil {
		t.Skipf("vm.memfd_noexec cannot be written here: %v", err)
	}
	t.Parallel()
	cmd := helperCmd(t.TempDir(), "memfd-noexec")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// The sysctl is per PID namespace: raising it in a new one leaves the
	// host and the other tests alone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
}

// TestCloseDuringStarts: Close while other goroutines Create containers
// and Exec in a Detached one on the same Runtime. Each call succeeds or
// fails cleanly (ErrClosed), none runs the sealed binary Close releases,
// and every container Close owned is gone afterwards.
func TestCloseDuringStarts(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	// Detached: Close leaves it running, so Execs go on through Close.
	target, err := rt.Run(t.Context(), "busybox:test", WithDetached(), WithCmd("sleep", "1000"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		rt2, err := Open(context.Background(), WithRoot(rt.Root()))
		if err != nil {
			t.Fatal(err)
		}
		defer rt2.Close()
		if c, err := rt2.Container(context.Background(), target.ID()); err != nil {
			t.Error(err)
		} else if err := c.Remove(context.Background(), WithForce()); err != nil {
			t.Error(err)
		}
		checkGone(t, rt2, target.ID(), 0)
	}()
	var (
		mu   sync.Mutex
		ids  []string
		errs []error
		wg   sync.WaitGroup
	)
	record := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for range 3 {
		wg.Go(func() {
			for {
				c, err := rt.Create(context.Background(), "busybox:test", WithCmd("true"))
				if c != nil {
					mu.Lock()
					ids = append(ids, c.ID())
					mu.Unlock()
				}
				if err != nil {
					record(err)
					return
				}
			}
		})
	}
	for range 8 {
		wg.Go(func() {
			for {
				if _, err := target.Exec(context.Background(), []string{"true"}); err != nil {
					record(err)
					return
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	if err := rt.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("calls still running a minute after Close")
	}
	for _, err := range errs {
		if !errors.Is(err, ErrClosed) || strings.Contains(err.Error(), "fork/exec") {
			t.Errorf("want ErrClosed, with no start of the released binary: %v", err)
		}
	}
	for _, id := range ids {
		checkGone(t, rt, id, 0)
	}
}
