package procfs

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOpenRoot: this process's root is "/"; a wrong start time is a
// process that exited.
func TestOpenRoot(t *testing.T) {
	t.Parallel()
	pid := os.Getpid()
	fd, err := OpenRoot(pid, StartTime(pid))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var got, want unix.Stat_t
	if err := unix.Fstat(fd, &got); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat("/", &want); err != nil {
		t.Fatal(err)
	}
	if got.Ino != want.Ino || got.Dev != want.Dev {
		t.Error("the root opened is not /")
	}
	if _, err := OpenRoot(pid, StartTime(pid)+1); !errors.Is(err, ErrExited) {
		t.Errorf("wrong start time: %v, want ErrExited", err)
	}
}
