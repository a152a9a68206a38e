package store

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Lock is a held flock(2) on a file. flock locks belong to the open file
// description, so two goroutines of one process exclude each other just as
// two processes do.
type Lock struct{ f *os.File }

// lockFile takes a lock on path (created if absent), blocking until it is
// free or ctx ends. how is unix.LOCK_EX or unix.LOCK_SH.
func lockFile(ctx context.Context, path string, how int) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	// Fast path: most locks are uncontended.
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err == nil {
		return &Lock{f: f}, nil
	}
	delay := time.Millisecond
	for {
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for lock %s: %w", path, ctx.Err())
		case <-time.After(delay):
		}
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			return &Lock{f: f}, nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}

// tryLockFile takes an exclusive lock without waiting; ok is false when
// another holder has it.
func tryLockFile(path string) (l *Lock, ok bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, false, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if err == unix.EWOULDBLOCK {
			return nil, false, nil
		}
		return nil, false, err
	}
	return &Lock{f: f}, true, nil
}

// Unlock releases the lock. It is safe to call on a nil Lock and twice.
func (l *Lock) Unlock() {
	if l == nil || l.f == nil {
		return
	}
	// LOCK_UN first: a child forked meanwhile holds a copy of the
	// descriptor (and so the lock) until it execs.
	_ = unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
	l.f = nil
}
