package fsutil

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// age sets dir's modification time an hour back, as if nothing had
// changed in it for that long.
func age(t *testing.T, dir string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(dir, old, old); err != nil {
		t.Fatal(err)
	}
}

// A scan that found nothing is skipped while the directory is unchanged,
// and made again once an entry is made or removed; a directory changed
// within the margin is not recorded.
func TestScanned(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, skip := StatScanned(dir)
	if skip {
		t.Fatal("skips a directory never scanned")
	}
	RecordScanned(dir, s) // made just now: within the margin
	if _, skip := StatScanned(dir); skip {
		t.Fatal("recorded a directory changed within the margin")
	}
	age(t, dir)
	s, _ = StatScanned(dir)
	RecordScanned(dir, s)
	if _, skip := StatScanned(dir); !skip {
		t.Skip("no user extended attributes here: every scan is made")
	}
	if err := os.WriteFile(filepath.Join(dir, ".tmp-x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, skip := StatScanned(dir); skip {
		t.Fatal("skips a directory an entry was made in")
	}
	age(t, dir)
	s, _ = StatScanned(dir)
	RecordScanned(dir, s)
	if err := os.Remove(filepath.Join(dir, ".tmp-x")); err != nil {
		t.Fatal(err)
	}
	if _, skip := StatScanned(dir); skip {
		t.Fatal("skips a directory an entry was removed from")
	}
}

// A directory whose time has no sub-second part, as on a filesystem with
// whole-second times, is never recorded: an entry made after the scan, in
// the same second, could leave the time as it was.
func TestScannedCoarseTimes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	whole := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(dir, whole, whole); err != nil {
		t.Fatal(err)
	}
	s, _ := StatScanned(dir)
	RecordScanned(dir, s)
	if _, skip := StatScanned(dir); skip {
		t.Error("recorded a directory with a whole-second time")
	}
}
