package seccomp

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestLoad loads Docker's default profile in a child process (a filter
// cannot be removed) and checks what the kernel then does.
func TestLoad(t *testing.T) {
	t.Parallel()
	if os.Getenv("HULL_SECCOMP_CHILD") == "1" {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoad$")
	cmd.Env = append(os.Environ(), "HULL_SECCOMP_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestMain(m *testing.M) {
	if os.Getenv("HULL_SECCOMP_CHILD") == "1" {
		if err := loadChild(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

// loadChild applies the default profile on this thread and checks
// syscalls from it.
func loadChild() error {
	runtime.LockOSThread() // the filter is on this thread only; never unlocked
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	if err := apply(defaultProfile()); err != nil {
		return err
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_KEYCTL, 0, 0, 0); errno != unix.EPERM {
		return fmt.Errorf("keyctl: %v, want EPERM", errno)
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_UNSHARE, unix.CLONE_NEWUSER, 0, 0); errno != unix.EPERM {
		return fmt.Errorf("unshare(CLONE_NEWUSER): %v, want EPERM", errno)
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_CLONE3, 0, 0, 0); errno != unix.ENOSYS {
		return fmt.Errorf("clone3: %v, want ENOSYS", errno)
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0); errno != 0 {
		return fmt.Errorf("getpid: %v", errno)
	}
	if _, err := os.ReadFile("/proc/self/status"); err != nil {
		return err
	}
	return nil
}

// apply compiles p and loads it with its flags on the calling thread
// (see Load).
func apply(p *specs.LinuxSeccomp) error {
	prog, err := Compile(p)
	if err != nil {
		return err
	}
	flags, err := loadFlags(p)
	if err != nil {
		return err
	}
	return Load(prog, flags)
}
