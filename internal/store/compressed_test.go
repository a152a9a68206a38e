package store

import (
	"testing"
)

func TestCompressedCopies(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	write := func(data string) Compressed {
		d, err := s.WriteBlob([]byte(data), "")
		if err != nil {
			t.Fatal(err)
		}
		return Compressed{Digest: d, Size: int64(len(data))}
	}
	src, other := write("plain tar"), write("another tar")
	gz, zst, gz2 := write("gzip of it"), write("zstd of it"), write("gzip again")
	gz.Compression, zst.Compression, gz2.Compression = "gzip", "zstd", "gzip"
	if _, ok := s.CompressedCopy(src.Digest, "gzip"); ok {
		t.Fatal("a copy before any was recorded")
	}
	for _, c := range []Compressed{gz, zst, gz2} {
		if err := s.AddCompressedCopy(t.Context(), src.Digest, c); err != nil {
			t.Fatal(err)
		}
	}
	// One copy per compression: the last recorded.
	if c, ok := s.CompressedCopy(src.Digest, "gzip"); !ok || c != gz2 {
		t.Errorf("gzip copy %+v %v, want %+v", c, ok, gz2)
	}
	if c, ok := s.CompressedCopy(src.Digest, "zstd"); !ok || c != zst {
		t.Errorf("zstd copy %+v %v, want %+v", c, ok, zst)
	}
	// A copy whose blob is gone is not returned, and is forgotten (as is
	// every copy of a source that is gone) at the next record.
	if _, err := s.DeleteBlob(zst.Digest); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.CompressedCopy(src.Digest, "zstd"); ok {
		t.Error("a copy whose blob was deleted")
	}
	if _, err := s.DeleteBlob(src.Digest); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCompressedCopy(t.Context(), other.Digest, gz); err != nil {
		t.Fatal(err)
	}
	all, err := s.CompressedCopies()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || len(all[other.Digest]) != 1 || all[other.Digest][0] != gz {
		t.Errorf("copies after deletions: %+v", all)
	}
}
