package snapshot

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestInitLayer: the init layer is made once, whole, by whichever of
// several callers gets there first, and holds Docker's entries.
func TestInitLayer(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dirs := make([]string, 8)
	var wg sync.WaitGroup
	for i := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := s.InitLayer()
			if err != nil {
				t.Error(err)
			}
			dirs[i] = d
		}()
	}
	wg.Wait()
	for _, d := range dirs {
		if d != dirs[0] {
			t.Fatalf("init layers %q and %q", d, dirs[0])
		}
	}
	if l, err := os.Readlink(filepath.Join(dirs[0], "etc", "mtab")); err != nil || l != "/proc/mounts" {
		t.Errorf("etc/mtab: %q %v", l, err)
	}
	for _, p := range []string{"etc/hostname", "etc/hosts", "etc/resolv.conf", "dev/console", "dev/pts", "dev/shm", "proc", "sys"} {
		if _, err := os.Lstat(filepath.Join(dirs[0], p)); err != nil {
			t.Error(err)
		}
	}
	if list, err := s.List(); err != nil || len(list) != 0 {
		t.Errorf("the init layer is listed as a snapshot: %v %v", list, err)
	}
	tmps, _ := filepath.Glob(filepath.Join(s.root, ".tmp-*"))
	if len(tmps) != 0 {
		t.Errorf("left behind: %v", tmps)
	}
}
