package fsutil

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDirSize: regular files are counted, at any depth; symlinks and a
// missing tree are not.
func TestDirSize(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	for p, n := range map[string]int{"f": 3, "a/g": 5, "a/b/h": 7} {
		if err := os.WriteFile(filepath.Join(dir, p), make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	if got := DirSize(dir); got != 15 {
		t.Errorf("DirSize = %d, want 15", got)
	}
	if got := DirSize(filepath.Join(dir, "none")); got != 0 {
		t.Errorf("DirSize of nothing = %d", got)
	}
}
