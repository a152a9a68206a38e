package hostobj

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/cgroup"
)

// TestSweepJudgesRoots: a root deleted, or deleted and made again at its
// path (another inode), is gone and its entry goes; a root that exists,
// the caller's own and an entry still being registered stay. The
// containers recorded have no cgroup (an empty cgroup2 directory stands
// for the host's), so nothing of the host is touched.
func TestSweepJudgesRoots(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a sweep lists the nftables rules of containers it finds")
	}
	reg := At(t.TempDir())
	base := t.TempDir()
	roots := map[string]*Root{}
	for _, name := range []string{"kept", "self", "deleted", "remade"} {
		dir := filepath.Join(base, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		o, err := reg.Register(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Container(strings.Repeat("f", 63) + name[:1]); err != nil {
			t.Fatal(err)
		}
		roots[name] = o
	}
	if again, err := reg.Register(filepath.Join(base, "kept")); err != nil || again.Key() != roots["kept"].Key() {
		t.Fatalf("Register of the same root again: %v, %v", again, err)
	}
	if err := os.Mkdir(filepath.Join(reg.dir, "0123456789abcdef"), 0o700); err != nil { // a Register under way
		t.Fatal(err)
	}
	for _, name := range []string{"deleted", "remade"} {
		if err := os.Remove(filepath.Join(base, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(base, "remade"), 0o700); err != nil {
		t.Fatal(err)
	}
	rep, err := reg.Sweep(Options{Self: roots["self"], Cgroups: cgroup.V2(t.TempDir())})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(rep.Roots)
	if want := []string{filepath.Join(base, "deleted"), filepath.Join(base, "remade")}; !slices.Equal(rep.Roots, want) {
		t.Errorf("swept %q, want %q", rep.Roots, want)
	}
	left, _ := reg.entries()
	want := []string{"0123456789abcdef", roots["kept"].Key(), roots["self"].Key()}
	slices.Sort(left)
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Errorf("entries left %q, want %q", left, want)
	}
	remade, err := reg.Register(filepath.Join(base, "remade"))
	if err != nil || remade.Key() == roots["remade"].Key() {
		t.Errorf("the root made again has the old one's entry %s: %v", remade.Key(), err)
	}
	// A record for a root that is gone fails (its entry is not made
	// again, nor the entry of the root now at its path); one of a root
	// whose entry was swept while it exists makes its entry again.
	for _, name := range []string{"deleted", "remade"} {
		if err := roots[name].Container(strings.Repeat("e", 64)); err == nil {
			t.Errorf("record for the %s root succeeded", name)
		}
	}
	if err := os.RemoveAll(roots["kept"].dir); err != nil {
		t.Fatal(err)
	}
	if err := roots["kept"].Container(strings.Repeat("e", 64)); err != nil {
		t.Errorf("record after the entry was swept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(roots["kept"].dir, "root.json")); err != nil {
		t.Errorf("entry not made again: %v", err)
	}
}

// TestSweepCost measures what Open pays when no recorded root is gone:
// one root.json read and one stat per root, no lock.
func TestSweepCost(t *testing.T) {
	reg := At(t.TempDir())
	base := t.TempDir()
	const n = 200
	for i := range n {
		dir := filepath.Join(base, strings.Repeat("r", 1+i%7)+string(rune('a'+i%26))+string(rune('a'+i/26)))
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Register(dir); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	const rounds = 20
	for range rounds {
		if rep, err := reg.Sweep(Options{}); err != nil || len(rep.Roots) > 0 {
			t.Fatalf("Sweep = %+v, %v", rep, err)
		}
	}
	per := time.Since(start) / rounds
	t.Logf("a sweep that finds nothing gone among %d roots: %v (%v per root)", n, per, per/n)
	if _, err := os.Stat(filepath.Join(reg.dir, ".lock")); err == nil {
		t.Error("a sweep that found nothing gone took the lock")
	}
}
