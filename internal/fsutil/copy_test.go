package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestCopyFiles(t *testing.T) {
	t.Parallel()
	src, dst := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "h"), []byte("127.0.0.1 localhost\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CopyFiles(dst, map[string]string{"hosts": filepath.Join(src, "h")}, 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dst, "hosts"))
	fi, _ := os.Stat(filepath.Join(dst, "hosts"))
	if err != nil || string(data) != "127.0.0.1 localhost\n" || fi.Mode().Perm() != 0o644 {
		t.Errorf("copy: %q %v %v", data, fi.Mode(), err)
	}
	if err := CopyFiles(dst, map[string]string{"x": filepath.Join(src, "missing")}, 0o644); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing source: %v", err)
	}
}
