package store

import (
	"slices"
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
