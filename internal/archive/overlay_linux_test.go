package archive

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestInOverlay: fn sees the merged layers and writes go to upper; the
// mount is gone once InOverlay returns; too many layers are refused
// before any mount.
func TestInOverlay(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	for _, d := range []string{"lower1", "lower2", "upper", "work", "mnt"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for l, f := range map[string]string{"lower1": "top", "lower2": "bottom"} {
		if err := os.WriteFile(filepath.Join(dir, l, f), []byte(l), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lowers := []string{filepath.Join(dir, "lower1"), filepath.Join(dir, "lower2")}
	err := InOverlay(filepath.Join(dir, "upper"), lowers, filepath.Join(dir, "work"), filepath.Join(dir, "mnt"), func(root int) error {
		for _, f := range []string{"top", "bottom"} {
			fd, err := unix.Openat(root, f, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			unix.Close(fd)
		}
		fd, err := unix.Openat(root, "new", unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(fd)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "upper", "new")); err != nil {
		t.Errorf("the write did not reach upper: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "mnt")); len(ents) != 0 {
		t.Errorf("the overlay is still mounted here: %v", ents)
	}
	many := make([]string, 200)
	for i := range many {
		many[i] = filepath.Join(dir, strings.Repeat("l", 40))
	}
	err = InOverlay(filepath.Join(dir, "upper"), many, filepath.Join(dir, "work"), filepath.Join(dir, "mnt"), func(int) error { return nil })
	if !errors.Is(err, ErrTooManyLayers) {
		t.Errorf("200 long layers: %v, want ErrTooManyLayers", err)
	}
}
