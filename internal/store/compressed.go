package store

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"

	"github.com/hullbox/hull/internal/fsutil"
	digest "github.com/opencontainers/go-digest"
)

// compressed.json maps the digest of a blob stored uncompressed (a layer
// made by Commit, Import or Load) to the compressed copies of it that a
// push made and stored, so that the next push of the same layer sends the
// same blob without compressing it again. A copy is live as long as its
// source blob is (see the caller's garbage collection).

// Compressed is a stored compressed copy of a blob.
type Compressed struct {
	Compression string        `json:"compression"` // "gzip" or "zstd"
	Digest      digest.Digest `json:"digest"`
	Size        int64         `json:"size"`
}

func (s *Store) compressedPath() string { return filepath.Join(s.root, "compressed.json") }

func (s *Store) readCompressed() (map[digest.Digest][]Compressed, error) {
	return readDigestMap[[]Compressed](s.compressedPath())
}

// CompressedCopies returns, for each blob, its recorded compressed copies.
// Writers replace the file atomically; no lock is needed.
func (s *Store) CompressedCopies() (map[digest.Digest][]Compressed, error) {
	return s.readCompressed()
}

// CompressedCopy returns the copy of blob d compressed with compression,
// if one is recorded and stored with the recorded size.
func (s *Store) CompressedCopy(d digest.Digest, compression string) (Compressed, bool) {
	all, err := s.readCompressed()
	if err != nil {
		return Compressed{}, false
	}
	i := slices.IndexFunc(all[d], func(c Compressed) bool { return c.Compression == compression })
	if i < 0 {
		return Compressed{}, false
	}
	c := all[d][i]
	if size, ok := s.HasBlob(c.Digest); !ok || size != c.Size {
		return Compressed{}, false
	}
	return c, true
}

// AddCompressedCopy records c, a stored blob, as blob d compressed with
// c.Compression, replacing an earlier copy of the same compression.
// Entries whose blobs are no longer stored are dropped, so the file stays
// as small as the store.
func (s *Store) AddCompressedCopy(ctx context.Context, d digest.Digest, c Compressed) error {
	l, err := fsutil.LockFileContext(ctx, filepath.Join(s.root, "compressed.lock"), fsutil.Exclusive)
	if err != nil {
		return err
	}
	defer l.Unlock()
	all, err := s.readCompressed()
	if err != nil {
		return err
	}
	all[d] = append(slices.DeleteFunc(all[d], func(o Compressed) bool { return o.Compression == c.Compression }), c)
	for src, copies := range all {
		if _, ok := s.HasBlob(src); !ok {
			delete(all, src)
			continue
		}
		copies = slices.DeleteFunc(copies, func(o Compressed) bool {
			_, ok := s.HasBlob(o.Digest)
			return !ok
		})
		if len(copies) == 0 {
			delete(all, src)
		} else {
			all[src] = copies
		}
	}
	data, err := json.Marshal(all)
	if err != nil {
		return err
	}
	return s.writeFile(s.compressedPath(), data, 0o600, fsutil.SyncDir())
}

// Compress returns the stored copy of blob d (size bytes, stored
// uncompressed) compressed with compression, making it with compress and
// recording it (AddCompressedCopy) if there is none. One process at a
// time compresses a given blob; the others wait and then find the copy.
// A blob missing from the store fails with fs.ErrNotExist, one of another
// size than size with ErrDigestMismatch.
func (s *Store) Compress(ctx context.Context, d digest.Digest, size int64, compression string, compress func(io.Writer) (io.WriteCloser, error)) (Compressed, error) {
	if c, ok := s.CompressedCopy(d, compression); ok {
		return c, nil
	}
	lock, err := s.Lock(ctx, "compress-"+d.Encoded()+"-"+compression)
	if err != nil {
		return Compressed{}, err
	}
	defer lock.Unlock()
	if c, ok := s.CompressedCopy(d, compression); ok {
		return c, nil
	}
	f, err := s.OpenBlob(d)
	if err != nil {
		return Compressed{}, err
	}
	defer f.Close()
	w, err := s.NewWriter("", -1)
	if err != nil {
		return Compressed{}, err
	}
	defer w.Abort()
	zw, err := compress(w)
	if err != nil {
		return Compressed{}, err
	}
	n, err := io.Copy(zw, fsutil.ContextReader(ctx, f))
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Compressed{}, err
	}
	if n != size {
		return Compressed{}, fmt.Errorf("%w: stored blob %s has %d bytes, the manifest says %d", ErrDigestMismatch, d, n, size)
	}
	c := Compressed{Compression: compression, Size: w.Written()}
	if c.Digest, err = w.Commit(); err != nil {
		return Compressed{}, err
	}
	if err := s.AddCompressedCopy(ctx, d, c); err != nil {
		return Compressed{}, err
	}
	return c, nil
}
