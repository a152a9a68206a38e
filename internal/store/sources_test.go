package store

import (
	"slices"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
)

func TestBlobSources(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if src, err := s.BlobSources(); err != nil || len(src) != 0 {
		t.Fatalf("empty store: %v, %v", src, err)
	}
	a, err := s.WriteBlob([]byte("a"), "")
	if err != nil {
		t.Fatal(err)
	}
	gone := digest.FromString("not stored")
	for _, repo := range []string{"r/1", "r/2", "r/3", "r/4", "r/5", "r/2"} {
		if err := s.AddBlobSources(t.Context(), repo, []digest.Digest{a, gone}); err != nil {
			t.Fatal(err)
		}
	}
	src, err := s.BlobSources()
	if err != nil {
		t.Fatal(err)
	}
	// Most recent first, no duplicates, at most maxSources; blobs the store
	// does not hold are forgotten.
	if want := []string{"r/2", "r/5", "r/4", "r/3"}; !slices.Equal(src[a], want) {
		t.Errorf("sources of a = %v, want %v", src[a], want)
	}
	if _, ok := src[gone]; ok {
		t.Errorf("kept sources of a blob not stored: %v", src[gone])
	}
}

// TestMountSources: a recorded source comes first; else an image's
// repository digest, if the repository holds the image as stored; same
// decides which repositories qualify.
func TestMountSources(t *testing.T) {
	t.Parallel()
	a, b, c := digest.FromString("a"), digest.FromString("b"), digest.FromString("c")
	m1, m2 := digest.FromString("m1"), digest.FromString("m2")
	ix := &Index{Images: map[digest.Digest]*ImageRecord{
		m1: {Manifest: m1, Config: c, Layers: []digest.Digest{a, b}, RepoDigests: []string{"x/base@" + m1.String()}},
		m2: {Manifest: m2, Config: c, Layers: []digest.Digest{a, b}, RepoDigests: []string{"x/compressed@" + digest.FromString("other").String()}},
	}}
	if !ix.Images[m1].AsStored("x/base@"+m1.String()) || ix.Images[m2].AsStored(ix.Images[m2].RepoDigests[0]) {
		t.Error("AsStored")
	}
	known := map[digest.Digest][]string{a: {"x/self", "x/recent"}, b: {"y/elsewhere"}}
	same := func(name string) (string, bool) {
		name, _, _ = strings.Cut(name, "@")
		return name, strings.HasPrefix(name, "x/") && name != "x/self"
	}
	got := ix.MountSources(known, map[digest.Digest]bool{a: true, b: true, c: true}, same)
	want := map[digest.Digest]string{a: "x/recent", b: "x/base", c: "x/base"}
	if len(got) != len(want) {
		t.Errorf("MountSources = %v, want %v", got, want)
	}
	for d, w := range want {
		if got[d] != w {
			t.Errorf("source of %s = %q, want %q", d, got[d], w)
		}
	}
}
