package archive

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestApplyInRoot: dst and the tar's paths stay inside the root, an absolute symlink
// in it included; whiteouts are dropped; a hardlink to a file the tar lacks is left
// pending.
func TestApplyInRoot(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	outside := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "srv"), 0o755); err != nil {
		t.Fatal(err)
	}
	// An absolute symlink to the host's outside dir: inside the root, it names
	// <root><outside>, which does not exist.
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "srv", "keep"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rootFD)
	var res Result
	err = OnOwnFS(func() (err error) {
		res, err = ApplyInRoot(t.Context(), rootFD, "/srv", bytes.NewReader(makeTar(t,
			file("new", "n", 0o644), marker(".wh.keep"), hardlinkEnt("link", "missing"))))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(root, "srv", "new")); got != "n" {
		t.Errorf("new = %q", got)
	}
	if got := readFile(t, filepath.Join(root, "srv", "keep")); got != "k" {
		t.Errorf("keep = %q: a whiteout was applied", got)
	}
	if len(res.PendingLinks) != 1 || res.PendingLinks[0].Name != "link" {
		t.Errorf("pending links %+v", res.PendingLinks)
	}
	err = OnOwnFS(func() error {
		_, err := ApplyInRoot(t.Context(), rootFD, "/escape", bytes.NewReader(makeTar(t, file("pwned", "x", 0o644))))
		return err
	})
	if err == nil {
		t.Error("a copy through an absolute symlink out of the root succeeded")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("wrote outside the root: %v", ents)
	}
}
