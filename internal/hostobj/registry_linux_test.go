package hostobj

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
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
// one root.json read and one stat per root, no lock, and no scan of
// /proc even for roots recorded from other mount namespaces (every
// `unshare -m` a test runs in is one): judging those takes a scan, and
// only a root whose path looks gone needs judging.
func TestSweepCost(t *testing.T) {
	reg := At(t.TempDir())
	base := t.TempDir()
	const n = 200
	for i := range n {
		dir := filepath.Join(base, strings.Repeat("r", 1+i%7)+string(rune('a'+i%26))+string(rune('a'+i/26)))
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		o, err := reg.Register(dir)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 { // recorded from another mount namespace
			rec := o.rec
			rec.MntNS++
			data, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(o.dir, "root.json"), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	scans := procScans.Load()
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
	if d := procScans.Load() - scans; d != 0 {
		t.Errorf("%d sweeps that found nothing gone read /proc %d times", rounds, d)
	}
}

// TestSweepConcurrent: two sweeps at once, while the owners of live roots
// record containers and networks, sweep each deleted root once and take
// nothing of the live ones.
func TestSweepConcurrent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a sweep lists the nftables rules of containers it finds")
	}
	reg := At(t.TempDir())
	base := t.TempDir()
	var live, dead []*Root
	for i := range 8 {
		dir := filepath.Join(base, strconv.Itoa(i))
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		o, err := reg.Register(dir)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			live = append(live, o)
			continue
		}
		if err := o.Container(strings.Repeat("d", 63) + strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
		dead = append(dead, o)
	}
	const records = 50
	var wg sync.WaitGroup
	errs := make(chan error, 2+len(live))
	reps := make(chan Report, 2)
	for range 2 {
		wg.Go(func() {
			rep, err := reg.Sweep(Options{Cgroups: cgroup.V2(t.TempDir())})
			errs <- err
			reps <- rep
		})
	}
	for _, o := range live {
		wg.Go(func() {
			for i := range records {
				if err := o.Container(fmt.Sprintf("%063x%d", i, i%10)); err != nil {
					errs <- err
					return
				}
			}
			errs <- o.Network(strings.Repeat("a", 64), "hull-aaaaaaaaaa")
		})
	}
	wg.Wait()
	close(errs)
	close(reps)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	var swept []string
	for rep := range reps {
		swept = append(swept, rep.Roots...)
	}
	if len(swept) != len(dead) {
		t.Errorf("swept %q: want each of the %d deleted roots once", swept, len(dead))
	}
	for _, o := range live {
		e, err := readEntry(o.dir)
		if err != nil || len(e.containers) != records || len(e.networks) != 1 {
			t.Errorf("live root %s after the sweeps: %v, %d containers", o.rec.Path, err, len(e.containers))
		}
	}
	for _, o := range dead {
		if _, err := os.Stat(o.dir); err == nil {
			t.Errorf("entry of the deleted root %s left", o.rec.Path)
		}
	}
}

// BenchmarkRecordContainer is what a container's Start pays for its
// record: one read and, the first time, one atomic write on tmpfs.
func BenchmarkRecordContainer(b *testing.B) {
	regDir, err := os.MkdirTemp(filepath.Dir(Dir), "bench-") // on /run's tmpfs, as Dir
	if err != nil {
		b.Skipf("no registry on tmpfs: %v", err)
	}
	defer os.RemoveAll(regDir)
	o, err := At(regDir).Register(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		if err := o.Container(fmt.Sprintf("%064x", i)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSweepOtherBoot: where the registry outlives a boot, an entry of
// another boot is dropped untouched if its root is gone, and emptied by
// the Register of its root if it exists.
func TestSweepOtherBoot(t *testing.T) {
	reg := At(t.TempDir())
	base := t.TempDir()
	var roots []*Root
	for _, name := range []string{"exists", "gone"} {
		dir := filepath.Join(base, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		o, err := reg.Register(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Container(strings.Repeat("b", 64)); err != nil {
			t.Fatal(err)
		}
		rec := o.rec
		rec.Boot = "another-boot"
		data, _ := json.Marshal(rec)
		if err := os.WriteFile(filepath.Join(o.dir, "root.json"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		roots = append(roots, o)
	}
	if err := os.Remove(filepath.Join(base, "gone")); err != nil {
		t.Fatal(err)
	}
	// No Cgroups given: the host's. Nothing of the entry is looked at.
	rep, err := reg.Sweep(Options{})
	if err != nil || !slices.Equal(rep.Roots, []string{filepath.Join(base, "gone")}) || len(rep.Containers) > 0 {
		t.Errorf("Sweep = %+v, %v", rep, err)
	}
	if _, err := reg.Register(filepath.Join(base, "exists")); err != nil {
		t.Fatal(err)
	}
	if e, err := readEntry(roots[0].dir); err != nil || len(e.containers) > 0 || e.rec.Boot != bootID() {
		t.Errorf("entry of another boot after Register: %+v, %v", e, err)
	}
}

// TestSweepUnrecorded: an explicit sweep removes a cgroup that no entry
// names and that has no process, and keeps one a live root recorded and
// one with a process. A plain directory stands for a cgroup2 mount.
func TestSweepUnrecorded(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a sweep lists the nftables rules of containers it finds")
	}
	reg := At(t.TempDir())
	mnt := t.TempDir()
	root, err := reg.Register(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	recorded, empty, busy := strings.Repeat("1", 64), strings.Repeat("2", 64), strings.Repeat("3", 64)
	if err := root.Container(recorded); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{recorded, empty, busy} {
		if err := os.MkdirAll(filepath.Join(mnt, "hull", id), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(mnt, "hull", busy, "cgroup.procs"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := reg.Sweep(Options{Cgroups: cgroup.V2(mnt), Unrecorded: true, UnrecordedAge: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Containers, []string{empty}) {
		t.Errorf("removed %q, want only the empty unrecorded one", rep.Containers)
	}
	for _, id := range []string{recorded, busy} {
		if _, err := os.Stat(filepath.Join(mnt, "hull", id)); err != nil {
			t.Errorf("cgroup %s…: %v", id[:4], err)
		}
	}
	// A minute is the default: the ones made just now stay.
	if err := os.Mkdir(filepath.Join(mnt, "hull", empty), 0o755); err != nil {
		t.Fatal(err)
	}
	if rep, err := reg.Sweep(Options{Cgroups: cgroup.V2(mnt), Unrecorded: true}); err != nil || len(rep.Containers) > 0 {
		t.Errorf("Sweep with the default age = %+v, %v", rep, err)
	}
}
