package netsetup

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestChooseSubnetSkipsUsed(t *testing.T) {
	t.Parallel()
	used := []netip.Prefix{
		netip.MustParsePrefix("172.17.0.0/16"), // the host's docker0, say
		netip.MustParsePrefix("172.18.5.0/24"), // a host route inside the next one
		netip.MustParsePrefix("10.0.0.0/8"),    // irrelevant
		netip.MustParsePrefix("fd00::/8"),      // IPv6 ignored
	}
	got, err := ChooseSubnet(DefaultPools, used)
	if err != nil || got != netip.MustParsePrefix("172.19.0.0/16") {
		t.Fatalf("ChooseSubnet = %v, %v; want 172.19.0.0/16", got, err)
	}
	all := []netip.Prefix{netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16")}
	if _, err := ChooseSubnet(DefaultPools, all); !errors.Is(err, ErrExhausted) {
		t.Errorf("all pools used: %v, want ErrExhausted", err)
	}
}

func TestIPAMAllocate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ipam.json")
	m, err := NewIPAM(path, netip.MustParsePrefix("10.9.0.0/29"), netip.Addr{}, netip.Prefix{})
	if err != nil {
		t.Fatal(err)
	}
	if _, gw, _ := m.Info(); gw != netip.MustParseAddr("10.9.0.1") {
		t.Errorf("gateway %v", gw)
	}
	// /29: .0 network, .1 gateway, .7 broadcast -> .2 to .6 usable.
	var got []string
	for i := range 5 {
		a, err := m.Allocate(fmt.Sprint("c", i), netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.String())
	}
	if fmt.Sprint(got) != "[10.9.0.2 10.9.0.3 10.9.0.4 10.9.0.5 10.9.0.6]" {
		t.Errorf("allocated %v", got)
	}
	if _, err := m.Allocate("c9", netip.Addr{}); !errors.Is(err, ErrExhausted) {
		t.Errorf("full subnet: %v", err)
	}
	if err := m.Release("c1"); err != nil {
		t.Fatal(err)
	}
	// State survives reopening (a restart).
	m2, err := OpenIPAM(path)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := m2.Allocate("c10", netip.Addr{}); err != nil || a.String() != "10.9.0.3" {
		t.Errorf("after release: %v %v", a, err)
	}
	if _, err := m2.Allocate("x", netip.MustParseAddr("10.9.0.4")); !errors.Is(err, ErrInUse) {
		t.Errorf("taken address: %v", err)
	}
	if _, err := m2.Allocate("x", netip.MustParseAddr("10.9.0.1")); err == nil {
		t.Error("gateway handed out")
	}
}

// TestIPAMNeverTwice allocates from many handles at once (as several
// processes would) and checks every address is distinct.
func TestIPAMNeverTwice(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ipam.json")
	if _, err := NewIPAM(path, netip.MustParsePrefix("10.8.0.0/24"), netip.Addr{}, netip.MustParsePrefix("10.8.0.128/25")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[netip.Addr]bool{}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := OpenIPAM(path)
			if err != nil {
				t.Error(err)
				return
			}
			a, err := m.Allocate(fmt.Sprint("c", i), netip.Addr{})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if seen[a] || a.Less(netip.MustParseAddr("10.8.0.128")) {
				t.Errorf("address %s handed out twice or outside the range", a)
			}
			seen[a] = true
		}()
	}
	wg.Wait()
	if len(seen) != 40 {
		t.Errorf("%d distinct addresses", len(seen))
	}
}

// TestReleaseFrom: the owner's addresses go from every file, others'
// stay, a missing file is skipped, and a file the owner is absent from is
// not written.
func TestReleaseFrom(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var paths []string
	for i, subnet := range []string{"10.1.0.0/24", "10.2.0.0/24"} {
		p := filepath.Join(dir, fmt.Sprintf("ipam%d.json", i))
		m, err := NewIPAM(p, netip.MustParsePrefix(subnet), netip.Addr{}, netip.Prefix{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Allocate("other", netip.Addr{}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if _, err := m.Allocate("gone", netip.Addr{}); err != nil {
				t.Fatal(err)
			}
		}
		paths = append(paths, p)
	}
	before, err := os.Stat(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := ReleaseFrom(append(paths, filepath.Join(dir, "removed.json")), "gone"); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		m, err := OpenIPAM(p)
		if err != nil {
			t.Fatal(err)
		}
		_, owners, err := m.Allocations()
		if err != nil || len(owners) != 1 {
			t.Errorf("%s: owners %v, %v; want only other", p, owners, err)
		}
		for _, o := range owners {
			if o != "other" {
				t.Errorf("%s: %s still holds an address", p, o)
			}
		}
	}
	if after, err := os.Stat(paths[1]); err != nil || !after.ModTime().Equal(before.ModTime()) || !os.SameFile(before, after) {
		t.Errorf("a file without the owner was written")
	}
}
