package statedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func id(n int) string { return fmt.Sprintf("%064x", n) }

// TestUnsettled: marking twice lists once, the list survives a missing
// directory, and unmarking what is not listed is no error.
func TestUnsettled(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "containers")
	if ids, err := Unsettled(dir); err != nil || len(ids) != 0 {
		t.Fatalf("Unsettled of nothing = %v, %v", ids, err)
	}
	for _, n := range []int{2, 1, 2} {
		if err := MarkUnsettled(dir, id(n)); err != nil {
			t.Fatal(err)
		}
	}
	if ids, err := Unsettled(dir); err != nil || !slices.Equal(ids, []string{id(1), id(2)}) {
		t.Errorf("Unsettled = %v, %v", ids, err)
	}
	// The entry names the container's directory, relative to the list.
	if target, err := os.Readlink(filepath.Join(dir, RecoveryDir, "unsettled", id(1))); err != nil || target != filepath.Join("..", "..", id(1)) {
		t.Errorf("link = %q, %v", target, err)
	}
	for _, n := range []int{1, 3} {
		if err := UnmarkUnsettled(dir, id(n)); err != nil {
			t.Fatal(err)
		}
	}
	if ids, err := Unsettled(dir); err != nil || !slices.Equal(ids, []string{id(2)}) {
		t.Errorf("Unsettled after unmark = %v, %v", ids, err)
	}
}

// TestIDs: only directories with a 64-character name are containers.
func TestIDs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, d := range []string{id(7), id(3), RecoveryDir, ".removing-" + id(1)} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, id(9)), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if ids, err := IDs(dir); err != nil || !slices.Equal(ids, []string{id(3), id(7)}) {
		t.Errorf("IDs = %v, %v", ids, err)
	}
	if ids, err := IDs(filepath.Join(dir, "missing")); err != nil || ids != nil {
		t.Errorf("IDs of a missing dir = %v, %v", ids, err)
	}
}

// TestReadAll: results and errors come back in the order of the IDs,
// below and above the count that spreads the reads over CPUs.
func TestReadAll(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 3, 4*PerWorker + 5} {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = id(i)
		}
		bad := errors.New("bad")
		got, errs := ReadAll(ids, func(s string) (string, error) {
			if strings.HasSuffix(s, "5") {
				return "", bad
			}
			return strings.TrimLeft(s, "0"), nil
		})
		for i := range ids {
			want := strings.TrimLeft(id(i), "0")
			if strings.HasSuffix(id(i), "5") {
				if !errors.Is(errs[i], bad) {
					t.Errorf("n=%d: errs[%d] = %v", n, i, errs[i])
				}
			} else if got[i] != want || errs[i] != nil {
				t.Errorf("n=%d: [%d] = %q, %v; want %q", n, i, got[i], errs[i], want)
			}
		}
	}
}
