package store

import (
	"os"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// ReadIndex parses the index once per write: the same snapshot until a
// writer (this Store or another on the root, as another process) changes
// it; a file without a Gen (an older hull's) is parsed on every read.
func TestReadIndexParsesOncePerWrite(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	tag := func(s *Store, name string) {
		t.Helper()
		err := s.UpdateIndex(t.Context(), func(ix *Index) error {
			ix.SetTag(name, digest.FromString(name), time.Now())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	read := func() *Index {
		t.Helper()
		ix, err := s.ReadIndex()
		if err != nil {
			t.Fatal(err)
		}
		return ix
	}
	tag(s, "a:1")
	first := read()
	if first.Gen == 0 || read() != first {
		t.Fatalf("Gen %d; a second read parsed again", first.Gen)
	}
	for i, w := range []*Store{s, other} {
		name := []string{"b:1", "c:1"}[i]
		tag(w, name)
		ix := read()
		if ix == first || ix.Tags[name] == nil {
			t.Errorf("after a write by store %d: stale index, tags %v", i, ix.Tags)
		}
		first = ix
	}
	// An index an older hull wrote: no Gen; the first read writes it
	// again with one.
	if err := os.WriteFile(s.indexPath(), []byte(`{"images":{},"tags":{"d:1":{"digest":"`+digest.FromString("d").String()+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if ix := read(); ix.Gen != 0 || ix.Tags["d:1"] == nil {
		t.Errorf("index without Gen: %+v", ix)
	}
	if ix := read(); ix.Gen == 0 || ix.Tags["d:1"] == nil || read() != ix {
		t.Errorf("index without Gen, read again: %+v; want it written with a Gen, then cached", ix)
	}
	for _, head := range []string{"{\n\t\"gen\": 42,\n", `{"gen":42}`, "{\"gen\": 42\n}"} {
		if g := indexGen([]byte(head)); g != 42 {
			t.Errorf("indexGen(%q) = %d, want 42", head, g)
		}
	}
	for _, head := range []string{"{}", `{"images":{}}`, `{"gen":`, `{"gen": x,`} {
		if g := indexGen([]byte(head)); g != 0 {
			t.Errorf("indexGen(%q) = %d, want 0", head, g)
		}
	}
}

// TestAddImage: a new image is added now with its repository digest and
// tags; added again, it keeps what it had (repository digests, time
// added, index) and gains what is new.
func TestAddImage(t *testing.T) {
	t.Parallel()
	ix := &Index{Images: map[digest.Digest]*ImageRecord{}, Tags: map[string]*TagRecord{}}
	m, idx := digest.FromString("m"), digest.FromString("index")
	t0 := time.Now().UTC()
	ix.AddImage(&ImageRecord{Manifest: m, Index: idx}, "r/a@"+m.String(), []string{"r/a:1"}, t0)
	rec := ix.Images[m]
	if !rec.Added.Equal(t0) || len(rec.RepoDigests) != 1 || ix.Tags["r/a:1"].Digest != m {
		t.Fatalf("first add: %+v", rec)
	}
	t1 := t0.Add(time.Hour)
	ix.AddImage(&ImageRecord{Manifest: m}, "r/b@"+m.String(), []string{"r/a:1", "r/b:2"}, t1)
	rec = ix.Images[m]
	if !rec.Added.Equal(t0) || rec.Index != idx || len(rec.RepoDigests) != 2 || ix.Tags["r/b:2"].Digest != m {
		t.Errorf("second add: %+v", rec)
	}
	if h := ix.Tags["r/a:1"].History; len(h) != 1 {
		t.Errorf("a tag that did not move has history %v", h)
	}
	ix.AddImage(&ImageRecord{Manifest: m}, "r/b@"+m.String(), nil, t1)
	if n := len(ix.Images[m].RepoDigests); n != 2 {
		t.Errorf("a repository digest added twice: %d", n)
	}
}
