package statedir

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

type testState struct {
	ID     string
	Status string
	Labels map[string]string
}

// writeTestState writes container n's state file in dir, replacing it as
// hull does (a new file renamed over the old one).
func writeTestState(t *testing.T, dir string, n int, status string) {
	t.Helper()
	p := filepath.Join(dir, id(n), StateFile)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(testState{ID: id(n), Status: status, Labels: map[string]string{"n": status}})
	if err := os.WriteFile(p+".tmp", data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		t.Fatal(err)
	}
}

// TestReadStates: a second listing parses none of the cached (exited)
// states, but parses again every state whose file changed, never the
// cached one; states not cacheable are parsed every time; a removed
// container's entry goes, and a cache of another schema is ignored.
func TestReadStates(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "containers")
	for n := range 300 {
		status := "exited"
		if n%100 == 0 {
			status = "running"
		}
		writeTestState(t, dir, n, status)
	}
	var (
		mu     sync.Mutex
		parsed []string
	)
	list := func() []testState {
		t.Helper()
		ids, err := IDs(dir)
		if err != nil {
			t.Fatal(err)
		}
		parsed = nil
		sts, stamps, errs := ReadStates(dir, ids, View{}, func(id string, data []byte) (testState, bool, error) {
			var st testState
			err := json.Unmarshal(data, &st)
			mu.Lock() // ReadAll parses on several goroutines
			parsed = append(parsed, id)
			mu.Unlock()
			return st, st.Status == "exited", err
		})
		var out []testState
		for i, err := range errs {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if sts[i].ID != ids[i] {
				t.Fatalf("state %d is %s's, want %s's", i, sts[i].ID, ids[i])
			}
			// A cacheable state comes with its file's stamp, others
			// with none.
			if s, err := Stat(filepath.Join(dir, ids[i], StateFile)); err != nil {
				t.Fatal(err)
			} else if want := sts[i].Status == "exited"; (stamps[i] == s) != want || !want && stamps[i] != (Stamp{}) {
				t.Fatalf("state %d (%s): stamp %+v, its file's %+v", i, sts[i].Status, stamps[i], s)
			}
			out = append(out, sts[i])
		}
		return out
	}
	_ = list()
	if len(parsed) != 300 {
		t.Fatalf("first listing parsed %d states, want 300", len(parsed))
	}
	if got := list(); len(got) != 300 || !slices.Equal(sorted(parsed), []string{id(0), id(100), id(200)}) {
		t.Fatalf("second listing: %d states, parsed %d, want 300 and the 3 running ones", len(got), len(parsed))
	}
	// Changed files win over the cache, even within one timestamp tick.
	writeTestState(t, dir, 5, "created")
	writeTestState(t, dir, 6, "exited")
	if err := os.RemoveAll(filepath.Join(dir, id(7))); err != nil {
		t.Fatal(err)
	}
	got := list()
	if len(got) != 299 || got[5].Status != "created" || !slices.Contains(parsed, id(5)) || !slices.Contains(parsed, id(6)) || len(parsed) != 5 {
		t.Fatalf("after changes: %d states, #5 %q, parsed %d (%v)", len(got), got[5].Status, len(parsed), parsed)
	}
	if list(); len(parsed) != 4 { // 3 running, 1 created
		t.Fatalf("third listing parsed %d, want 4", len(parsed))
	}
	// A torn cache (a crash, a full disk) is ignored, never misread.
	data, err := os.ReadFile(cachePath(dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{len(data) / 2, len(data) - 1, len(cacheMagic) + 3} {
		if err := os.WriteFile(cachePath(dir), data[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		if got := list(); len(got) != 299 || len(parsed) != 299 {
			t.Fatalf("cache cut at %d of %d: %d states, parsed %d; want 299, 299", cut, len(data), len(got), len(parsed))
		}
	}
	// Another build's T: the cache is not used, and is replaced.
	ids, _ := IDs(dir)
	var n atomic.Int32
	ReadStates(dir, ids, View{}, func(id string, data []byte) (struct{ Other int }, bool, error) {
		n.Add(1)
		return struct{ Other int }{}, true, nil
	})
	if n := n.Load(); n != 299 {
		t.Fatalf("another schema parsed %d, want 299", n)
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// A listing takes a cached state without looking at its file only under
// the generation the cache was written under, and only for a container
// not listed as unsettled; with no generation it trusts nothing.
func TestReadStatesView(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "containers")
	for n := range 10 {
		writeTestState(t, dir, n, "exited")
	}
	ids, err := IDs(dir)
	if err != nil {
		t.Fatal(err)
	}
	parsed := 0
	list := func(view View) []testState {
		t.Helper()
		parsed = 0
		sts, _, errs := ReadStates(dir, ids, view, func(id string, data []byte) (testState, bool, error) {
			var st testState
			err := json.Unmarshal(data, &st)
			parsed++ // 10 states: parsed in one goroutine
			return st, true, err
		})
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		return sts
	}
	// changed rewrites state n behind the listing's back: a writer that
	// does not list it as unsettled, which hull's never does.
	changed := func(n int, label string) {
		t.Helper()
		p := filepath.Join(dir, id(n), StateFile)
		data, _ := json.Marshal(testState{ID: id(n), Status: "exited", Labels: map[string]string{"n": label}})
		if err := os.WriteFile(p+".tmp", data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(p+".tmp", p); err != nil {
			t.Fatal(err)
		}
	}
	g1 := View{Gen: "g1"}
	if list(g1); parsed != 10 {
		t.Fatalf("first listing parsed %d, want 10", parsed)
	}
	changed(3, "new")
	if got := list(g1); got[3].Labels["n"] != "exited" || parsed != 0 {
		t.Fatalf("same generation, not unsettled: #3 %v, parsed %d; want the cached state, none parsed", got[3].Labels, parsed)
	}
	if got := list(View{Gen: "g1", Unsettled: map[string]bool{id(3): true}}); got[3].Labels["n"] != "new" || parsed != 1 {
		t.Fatalf("listed as unsettled: #3 %v, parsed %d; want its file's, 1 parsed", got[3].Labels, parsed)
	}
	changed(4, "new")
	if got := list(View{Gen: "g2"}); got[4].Labels["n"] != "new" || parsed != 1 {
		t.Fatalf("another generation: #4 %v, parsed %d; want its file's, 1 parsed", got[4].Labels, parsed)
	}
	changed(5, "new")
	if got := list(View{}); got[5].Labels["n"] != "new" || parsed != 1 {
		t.Fatalf("no generation: #5 %v, parsed %d; want its file's, 1 parsed", got[5].Labels, parsed)
	}
	if got := list(View{}); parsed != 0 || got[5].Labels["n"] != "new" {
		t.Fatalf("no generation, nothing changed: parsed %d", parsed)
	}
}
