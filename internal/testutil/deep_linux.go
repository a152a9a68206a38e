package testutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// DeepName is a directory name of 100 bytes: DeepTree's levels.
var DeepName = strings.Repeat("d", 100)

// DeepTree makes dir/deep/DeepName/.../DeepName/f holding "bottom\n",
// levels of DeepName, one directory at a time through descriptors (so the
// whole path may be longer than PATH_MAX), and returns the path of f
// below dir.
func DeepTree(t testing.TB, dir string, levels int) string {
	t.Helper()
	if err := os.Mkdir(filepath.Join(dir, "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(filepath.Join(dir, "deep"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range levels {
		if err := unix.Mkdirat(fd, DeepName, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, DeepName, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	defer unix.Close(fd)
	f, err := unix.Openat(fd, "f", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(f)
	if _, err := unix.Write(f, []byte("bottom\n")); err != nil {
		t.Fatal(err)
	}
	return "deep/" + strings.Repeat(DeepName+"/", levels) + "f"
}
