package fsutil

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLockFile: what each Mode excludes and allows.
func TestLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	ex, err := LockFile(path, Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []Mode{Exclusive | NoWait, Shared | NoWait} {
		if l, err := LockFile(path, m); !errors.Is(err, ErrLocked) {
			l.Unlock()
			t.Errorf("mode %#x while held exclusively: %v, want ErrLocked", m, err)
		}
	}
	ex.Unlock()
	ex.Unlock() // twice is safe
	var nilLock *Lock
	nilLock.Unlock()

	sh1, err := LockFile(path, Shared)
	if err != nil {
		t.Fatal(err)
	}
	sh2, err := LockFile(path, Shared|NoWait)
	if err != nil {
		t.Errorf("second shared lock: %v", err)
	}
	if _, err := LockFile(path, Exclusive|NoWait); !errors.Is(err, ErrLocked) {
		t.Errorf("exclusive while shared: %v, want ErrLocked", err)
	}
	sh1.Unlock()
	sh2.Unlock()

	// A waiting lock gets it once the holder lets go.
	ex, _ = LockFile(path, Exclusive)
	got := make(chan error)
	go func() {
		l, err := LockFile(path, Exclusive)
		l.Unlock()
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("took a held lock: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	ex.Unlock()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// TestLockFileCreate: MustExist, CreateNew and CreateDir.
func TestLockFileCreate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "x.lock")
	if _, err := LockFile(path, Exclusive); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no directory: %v, want ErrNotExist", err)
	}
	l, err := LockFile(path, CreateDir|CreateNew)
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("CreateDir made %v, %v", fi, err)
	}
	if _, err := LockFile(path, CreateNew); !errors.Is(err, fs.ErrExist) {
		t.Errorf("CreateNew of an existing file: %v", err)
	}
	if _, err := LockFile(filepath.Join(dir, "none"), MustExist); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("MustExist of a missing file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("MustExist created the file: %v", err)
	}
}

// TestLockFileContext: it waits until the lock is free or ctx ends.
func TestLockFileContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	ex, err := LockFileContext(t.Context(), path, Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	if _, err := LockFileContext(ctx, path, Shared); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("held lock, ctx ended: %v", err)
	}
	if _, err := LockFileContext(t.Context(), path, Exclusive|NoWait); !errors.Is(err, ErrLocked) {
		t.Errorf("NoWait: %v, want ErrLocked", err)
	}
	time.AfterFunc(20*time.Millisecond, ex.Unlock)
	l, err := LockFileContext(t.Context(), path, Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
}

// TestUnlockCopies: Unlock releases the lock even while a copy of its
// descriptor lives on, as in a child forked meanwhile that has not
// exec'd yet (a dup stands in for it).
func TestUnlockCopies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	l, err := LockFile(path, Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	dup, err := unix.Dup(int(l.f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dup)
	l.Unlock()
	l2, err := LockFile(path, Exclusive|NoWait)
	if err != nil {
		t.Fatalf("lock after Unlock with a copy open: %v", err)
	}
	l2.Unlock()
}

// TestHeld: a lock is seen held while another holder has it, shared or
// not, and free once it is released; Held itself leaves it free.
func TestHeld(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	if Held(p) {
		t.Fatal("Held of a new file")
	}
	if Held(p) {
		t.Fatal("Held after Held: it must release what it took")
	}
	for _, mode := range []Mode{Exclusive, Shared} {
		l, err := LockFile(p, mode)
		if err != nil {
			t.Fatal(err)
		}
		if !Held(p) {
			t.Errorf("Held while locked (mode %d) = false", mode)
		}
		l.Unlock()
		if Held(p) {
			t.Errorf("Held after Unlock (mode %d) = true", mode)
		}
	}
}
