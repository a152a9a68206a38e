package netsetup

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRecords: records written read back sorted by name; directories
// without one, or not named by an ID, are skipped.
func TestRecords(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "networks")
	if recs, err := ReadRecords(dir); err != nil || recs != nil {
		t.Fatalf("no directory: %v, %v", recs, err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	for i, name := range []string{"zeta", "alpha"} {
		rec := Record{ID: fmt.Sprintf("%064d", i), Name: name, Created: now, Bridge: "hull-x",
			Subnet: netip.MustParsePrefix("10.3.0.0/24"), Gateway: netip.MustParseAddr("10.3.0.1"), Labels: map[string]string{"k": name}}
		d := filepath.Join(dir, rec.ID)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := WriteRecord(d, &rec); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{fmt.Sprintf("%064d", 9), ".removing-x"} { // a create under way; not a network
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := ReadRecords(dir)
	if err != nil || len(recs) != 2 {
		t.Fatalf("ReadRecords = %+v, %v", recs, err)
	}
	if recs[0].Name != "alpha" || recs[1].Name != "zeta" || !recs[0].Created.Equal(now) || recs[0].Gateway.String() != "10.3.0.1" || recs[1].Labels["k"] != "zeta" {
		t.Errorf("ReadRecords = %+v", recs)
	}
}

// TestFind: by ID, then name, then unique hex prefix; an ambiguous
// prefix and a missing network are told apart.
func TestFind(t *testing.T) {
	t.Parallel()
	recs := []Record{{ID: "abc123", Name: "front"}, {ID: "abd456", Name: "abc123x"}, {ID: "ff00", Name: "abd456"}}
	for q, want := range map[string]string{"abc123": "abc123", "front": "abc123", "abd456": "abd456", "abc": "abc123", "ff": "ff00"} {
		if r, err := Find(recs, q); err != nil || r.ID != want {
			t.Errorf("Find(%q) = %v, %v; want %s", q, r, err, want)
		}
	}
	if _, err := Find(recs, "ab"); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("Find(ab) = %v, want ErrAmbiguous", err)
	}
	for _, q := range []string{"", "zz", "back", "abc1234"} {
		if _, err := Find(recs, q); !errors.Is(err, ErrNoNetwork) {
			t.Errorf("Find(%q) = %v, want ErrNoNetwork", q, err)
		}
	}
}
