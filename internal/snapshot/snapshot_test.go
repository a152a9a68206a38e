package snapshot

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/fsutil"
	digest "github.com/opencontainers/go-digest"
)

func TestPrepareCommitRemove(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	chain := digest.FromString("layer")
	p, err := s.Prepare()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(p.Dir, "f"), []byte("x"), 0o644)
	if s.Exists(chain) {
		t.Fatal("visible before Commit")
	}
	if err := p.Commit(Meta{ChainID: chain, DiffID: chain, Size: 1}); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(s.Path(chain), "f")); err != nil || string(data) != "x" {
		t.Fatalf("committed content: %q %v", data, err)
	}
	// A second writer of the same chain ID loses quietly.
	p2, _ := s.Prepare()
	if err := p2.Commit(Meta{ChainID: chain, DiffID: chain}); err != nil {
		t.Errorf("duplicate commit: %v", err)
	}
	if list, _ := s.List(); len(list) != 1 {
		t.Errorf("List = %v", list)
	}
	if n, err := s.Remove(chain); err != nil || n != 1 || s.Exists(chain) {
		t.Errorf("Remove = %d, %v", n, err)
	}
	if entries, _ := filepath.Glob(filepath.Join(s.root, ".tmp-*")); len(entries) != 0 {
		t.Errorf("leftovers: %v", entries)
	}
}

func TestOpenRemovesAbandoned(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	s, _ := Open(root)
	live, _ := s.Prepare()
	defer live.Abort()
	// A crashed unpack: directory and unlocked lock file.
	os.MkdirAll(filepath.Join(root, ".tmp-dead", "fs"), 0o700)
	os.WriteFile(filepath.Join(root, ".tmp-dead.lock"), nil, 0o600)
	os.MkdirAll(filepath.Join(root, ".tmp-del-x"), 0o700)
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 3 { // the live one (dir + lock) and tmp.lock
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("after Open: %v, want only the live unpack", names)
	}
	if _, err := os.Stat(live.Dir); err != nil {
		t.Errorf("live unpack removed: %v", err)
	}
}

// Open skips reading the root while it is unchanged since an Open found
// no temp snapshot there, and still finds one an unpack dies leaving
// after that.
func TestOpenFindsTempAfterCleanLook(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(root, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(root); err != nil { // looks, finds none, records it
		t.Fatal(err)
	}
	if _, skip := fsutil.StatScanned(root); !skip {
		t.Skip("no user extended attributes here: every Open reads the root")
	}
	if err := os.MkdirAll(filepath.Join(root, ".tmp-dead", "fs"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, ".tmp-dead")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a dead unpack's temp snapshot kept: %v", err)
	}
}
