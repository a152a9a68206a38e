package hull

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lockFile takes an exclusive flock on path (created with its directory if
// missing), so that it holds across processes; the returned func releases
// it.
func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return flock(path, unix.LOCK_EX)
}

// flock takes the flock how (unix.LOCK_EX or LOCK_SH, with LOCK_NB or not)
// on path, created if missing; the returned func releases it.
func flock(path string, how int) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, err
	}
	return func() { unlockClose(f) }, nil
}

// unlockClose drops f's flock, then closes f. Closing alone is not
// enough: a child forked meanwhile (a container's init before it execs)
// holds a copy of the descriptor, and the lock with it, until it execs;
// LOCK_UN releases the lock of the open file for every copy.
func unlockClose(f *os.File) {
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	f.Close()
}
