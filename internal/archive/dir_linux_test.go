package archive

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDirRoundTrip: WriteDir writes the directory's own mode as "./",
// and ApplyDir restores it and the tree, hardlinks within the archive
// included.
func TestDirRoundTrip(t *testing.T) {
	requireRoot(t)
	src := t.TempDir()
	applyTar(t, src, dirEnt("d/", 0o750), file("d/f", "hello", 0o640), hardlinkEnt("d/g", "d/f"), symlinkEnt("l", "d/f"))
	if err := os.Chmod(src, 0o711); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteDir(t.Context(), &buf, src); err != nil {
		t.Fatalf("WriteDir: %v", err)
	}
	dst := filepath.Join(t.TempDir(), "v")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ApplyDir(t.Context(), dst, &buf); err != nil {
		t.Fatalf("ApplyDir: %v", err)
	}
	wantMode(t, dst, unix.S_IFDIR, 0o711)
	wantMode(t, filepath.Join(dst, "d"), unix.S_IFDIR, 0o750)
	if got := readFile(t, filepath.Join(dst, "d/g")); got != "hello" {
		t.Errorf("d/g = %q", got)
	}
	if f, g := lstat(t, filepath.Join(dst, "d/f")), lstat(t, filepath.Join(dst, "d/g")); f.Ino != g.Ino {
		t.Errorf("d/g is not a hardlink of d/f")
	}
	if l, err := os.Readlink(filepath.Join(dst, "l")); err != nil || l != "d/f" {
		t.Errorf("l -> %q, %v", l, err)
	}
}

// TestApplyDirRefusesLayerEntries: whiteouts and hardlinks to files the
// archive lacks belong to layers; a plain directory's archive with them
// is refused with ErrUnsafe.
func TestApplyDirRefusesLayerEntries(t *testing.T) {
	requireRoot(t)
	for name, entries := range map[string][]ent{
		"whiteout":        {file("a", "x", 0o644), marker("d/.wh.gone")},
		"opaque":          {dirEnt("d/", 0o755), marker("d/.wh..wh..opq")},
		"dangling link":   {hardlinkEnt("a", "etc/passwd")},
		"escaping path":   {file("../x", "x", 0o644)},
		"whiteout at top": {marker(".wh.x")},
	} {
		t.Run(name, func(t *testing.T) {
			err := ApplyDir(t.Context(), t.TempDir(), bytes.NewReader(makeTar(t, entries...)))
			if !errors.Is(err, ErrUnsafe) {
				t.Errorf("ApplyDir: %v, want ErrUnsafe", err)
			}
		})
	}
	if err := (Result{}).Dangling(); err != nil {
		t.Errorf("Dangling() of no pending links = %v", err)
	}
}
