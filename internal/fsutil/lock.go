// Package fsutil holds the two file-system idioms that hull's packages
// share across processes: a lock file (Lock, an flock(2)) and a file
// replaced in one step (WriteFileAtomic, WriteAtomic).
package fsutil

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLocked is the error (inside an *os.PathError) of a NoWait lock that
// another holder has.
var ErrLocked = errors.New("held by another lock")

// Mode says how LockFile takes its lock. The zero Mode is Exclusive: it
// waits for the lock and creates the file if it is missing.
type Mode int

const (
	// Exclusive is the zero Mode: one holder at a time.
	Exclusive Mode = 0
	// Shared lets Shared holders hold the lock together.
	Shared Mode = 1 << iota
	// NoWait fails with ErrLocked instead of waiting for the lock.
	NoWait
	// MustExist opens only an existing file: a missing one is an error
	// wrapping fs.ErrNotExist (for locks that mark something alive).
	MustExist
	// CreateNew fails if the file exists (O_EXCL).
	CreateNew
	// CreateDir creates the file's directory (0700) if it is missing.
	CreateDir
)

// Lock is a held flock(2) on a file. flock locks belong to the open file
// description, so two goroutines of one process exclude each other just
// as two processes do, and a lock dies with its holder.
type Lock struct{ f *os.File }

// LockFile takes a lock on the file at path (created 0600 if missing,
// unless mode says MustExist), waiting for it unless mode says NoWait.
// The caller must Unlock it.
func LockFile(path string, mode Mode) (*Lock, error) {
	f, err := openLock(path, mode)
	if err != nil {
		return nil, err
	}
	if err := flock(f, mode, mode&NoWait != 0); err != nil {
		f.Close()
		return nil, err
	}
	return &Lock{f: f}, nil
}

// LockFileContext is LockFile that stops waiting when ctx ends: it polls
// (every 1 to 50ms) where LockFile blocks in the kernel, so use it where
// a wait may be long and the caller can give up (the store's locks).
func LockFileContext(ctx context.Context, path string, mode Mode) (*Lock, error) {
	f, err := openLock(path, mode)
	if err != nil {
		return nil, err
	}
	// Fast path: most locks are uncontended.
	err = flock(f, mode, true)
	for delay := time.Millisecond; errors.Is(err, ErrLocked) && mode&NoWait == 0; delay = min(delay*2, 50*time.Millisecond) {
		select {
		case <-ctx.Done():
			f.Close()
			return nil, &os.PathError{Op: "wait for lock", Path: path, Err: ctx.Err()}
		case <-time.After(delay):
		}
		err = flock(f, mode, true)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Lock{f: f}, nil
}

func openLock(path string, mode Mode) (*os.File, error) {
	if mode&CreateDir != 0 {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
	}
	flags := os.O_RDWR
	if mode&MustExist == 0 {
		flags |= os.O_CREATE
	}
	if mode&CreateNew != 0 {
		flags |= os.O_CREATE | os.O_EXCL
	}
	return os.OpenFile(path, flags, 0o600) // O_CLOEXEC is os's default
}

// flock takes f's lock as mode says; nb makes it fail with ErrLocked
// rather than wait. An interrupted wait is retried.
func flock(f *os.File, mode Mode, nb bool) error {
	how := unix.LOCK_EX
	if mode&Shared != 0 {
		how = unix.LOCK_SH
	}
	if nb {
		how |= unix.LOCK_NB
	}
	for {
		err := unix.Flock(int(f.Fd()), how)
		switch {
		case err == nil:
			return nil
		case err == unix.EINTR:
			continue
		case err == unix.EWOULDBLOCK:
			return &os.PathError{Op: "lock", Path: f.Name(), Err: ErrLocked}
		default:
			return &os.PathError{Op: "lock", Path: f.Name(), Err: err}
		}
	}
}

// Held reports whether a lock on the file at path (created if missing) is
// held elsewhere: a marker that something is alive, tested without
// waiting.
func Held(path string) bool {
	l, err := LockFile(path, NoWait)
	if err != nil {
		return errors.Is(err, ErrLocked)
	}
	l.Unlock()
	return false
}

// Unlock releases the lock, then closes its file. Closing alone is not
// enough: a child forked meanwhile (a container's init before it execs)
// holds a copy of the descriptor, and the lock with it, until it execs;
// LOCK_UN releases the lock for every copy. Unlock is safe on a nil Lock
// and twice.
func (l *Lock) Unlock() {
	if l == nil || l.f == nil {
		return
	}
	_ = unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
	l.f = nil
}
