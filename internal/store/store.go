// Package store is hull's content-addressed blob store and metadata index.
//
// Layout under the root:
//
//	blobs/sha256/<hex>   verified blobs, immutable, named by their digest
//	ingest/<random>      blobs being written; each file is flock'ed by its
//	                     writer, so an unlocked one is a crashed writer's and
//	                     is removed by the next Open
//	locks/<name>         flock files that serialise work across processes
//	                     (one download per blob, one unpack per snapshot)
//	index.json           images, tags and tag history (index.lock guards it)
//	holds/<id>.json      content held by a user (a container): not GC'ed
//	gc.lock              shared by writers while they add content, exclusive
//	                     for garbage collection
//	buildcache/<key>     the build cache: a step's key -> the manifest
//	                     digest of its image (written by hull's Build)
//	buildmounts/<hash>   the directories of RUN --mount=type=cache
//
// Every write is atomic (temp file + fsync + rename), so a crash leaves either
// the old state or the new, never a half-written blob or index.
package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hullbox/hull/internal/fsutil"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// ErrDigestMismatch reports content whose digest or size is not the one
// expected.
var ErrDigestMismatch = errors.New("digest mismatch")

// Store is a content store rooted at a directory. It is safe for concurrent
// use by goroutines and by processes sharing the root.
type Store struct {
	root string

	ixMu sync.Mutex
	ix   *Index // the index ReadIndex parsed last (shared, read-only)
}

// Open creates the layout under root if needed and removes what crashed
// writers left behind (unlocked ingest files, temp files of atomic writes).
func Open(root string) (*Store, error) {
	s := &Store{root: root}
	for _, d := range []string{"blobs/sha256", "ingest", "locks", "holds"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, err
		}
	}
	if err := s.cleanIngest(); err != nil {
		return nil, fmt.Errorf("clean stale ingest: %w", err)
	}
	return s, nil
}

// Root returns the directory the store lives in.
func (s *Store) Root() string { return s.root }

func (s *Store) cleanIngest() error {
	if !s.mayHaveTemps() {
		return nil
	}
	// Writers hold tmp.lock shared between creating a temp file and locking
	// it; holding it exclusively here means every unlocked temp file is a
	// dead writer's.
	l, err := fsutil.LockFile(filepath.Join(s.root, "tmp.lock"), fsutil.Exclusive)
	if err != nil {
		return err
	}
	defer l.Unlock()
	dir := filepath.Join(s.root, "ingest")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		removeIfAbandoned(filepath.Join(dir, e.Name()))
	}
	// Temp files of atomic writes that never got renamed.
	for _, d := range []string{s.root, filepath.Join(s.root, "holds")} {
		matches, _ := filepath.Glob(filepath.Join(d, ".tmp-*"))
		for _, m := range matches {
			removeIfAbandoned(m)
		}
	}
	return nil
}

// mayHaveTemps reports whether cleanIngest may have work: a temp file in
// ingest, the root or holds (or a directory it cannot read, which the
// locked pass reports). It looks without tmp.lock, so that the common
// Open, of a root no writer died in, takes no lock and opens no file: a
// temp file made after this look is a live writer's, not for this Open
// to remove.
func (s *Store) mayHaveTemps() bool {
	f, err := os.Open(filepath.Join(s.root, "ingest"))
	if err != nil {
		return true
	}
	names, err := f.Readdirnames(1)
	f.Close()
	if len(names) > 0 || err != io.EOF {
		return true
	}
	if matches, err := filepath.Glob(filepath.Join(s.root, ".tmp-*")); err != nil || len(matches) > 0 {
		return true
	}
	// holds has an entry per container: a root of a thousand reads a
	// thousand names, unless holds is unchanged since a look found none.
	holds := filepath.Join(s.root, "holds")
	stamp, unchanged := fsutil.StatScanned(holds)
	if unchanged {
		return false
	}
	if matches, err := filepath.Glob(filepath.Join(holds, ".tmp-*")); err != nil || len(matches) > 0 {
		return true
	}
	fsutil.RecordScanned(holds, stamp)
	return false
}

// removeIfAbandoned removes a temp file that no live writer holds.
func removeIfAbandoned(path string) {
	l, err := fsutil.LockFile(path, fsutil.NoWait|fsutil.MustExist)
	if err != nil {
		return // a live writer holds it, or it is gone
	}
	os.Remove(path)
	l.Unlock()
}

// createLocked creates a temp file (via create) and flocks it, under
// tmp.lock shared so that a concurrent Open never sees it unlocked.
func createLocked(root string, create func() (*os.File, error)) (*os.File, error) {
	l, err := fsutil.LockFile(filepath.Join(root, "tmp.lock"), fsutil.Shared)
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	f, err := create()
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// BlobPath returns where the blob with digest d is (or would be) stored.
func (s *Store) BlobPath(d digest.Digest) string {
	return filepath.Join(s.root, "blobs", d.Algorithm().String(), d.Encoded())
}

// HasBlob reports whether the blob is stored, and its size.
func (s *Store) HasBlob(d digest.Digest) (int64, bool) {
	if d.Validate() != nil {
		return 0, false
	}
	fi, err := os.Stat(s.BlobPath(d))
	if err != nil {
		return 0, false
	}
	return fi.Size(), true
}

// OpenBlob opens a stored blob for reading. A missing blob returns an error
// wrapping fs.ErrNotExist.
func (s *Store) OpenBlob(d digest.Digest) (*os.File, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("blob %q: %w", d, err)
	}
	return os.Open(s.BlobPath(d))
}

// OpenBlobOfSize opens a stored blob that must hold size bytes (a
// manifest's descriptor says so). A missing blob returns an error wrapping
// fs.ErrNotExist, one of another size ErrDigestMismatch.
func (s *Store) OpenBlobOfSize(d digest.Digest, size int64) (*os.File, error) {
	f, err := s.OpenBlob(d)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.Size() != size {
		f.Close()
		return nil, fmt.Errorf("%w: stored blob %s has %d bytes, the manifest says %d", ErrDigestMismatch, d, fi.Size(), size)
	}
	return f, nil
}

// ReadBlob reads a whole blob of at most max bytes and checks its digest.
func (s *Store) ReadBlob(d digest.Digest, max int64) ([]byte, error) {
	f, err := s.OpenBlob(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("blob %s: larger than %d bytes", d, max)
	}
	if digest.FromBytes(data) != d {
		return nil, fmt.Errorf("blob %s: %w (store corrupted)", d, ErrDigestMismatch)
	}
	return data, nil
}

// WriteBlob stores data, which must hash to expected (if not empty), and
// returns its digest.
func (s *Store) WriteBlob(data []byte, expected digest.Digest) (digest.Digest, error) {
	d := digest.FromBytes(data)
	if expected != "" && d != expected {
		return "", fmt.Errorf("blob %s: %w: content hashes to %s", expected, ErrDigestMismatch, d)
	}
	if _, ok := s.HasBlob(d); ok {
		return d, nil
	}
	w, err := s.NewWriter(d, int64(len(data)))
	if err != nil {
		return "", err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return "", err
	}
	return w.Commit()
}

// DeleteBlob removes a blob; a missing blob is not an error. It returns the
// bytes freed.
func (s *Store) DeleteBlob(d digest.Digest) (int64, error) {
	p := s.BlobPath(d)
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	return fi.Size(), nil
}

// Blobs lists the digests of all stored blobs.
func (s *Store) Blobs() ([]digest.Digest, error) {
	entries, err := os.ReadDir(filepath.Join(s.root, "blobs", "sha256"))
	if err != nil {
		return nil, err
	}
	out := make([]digest.Digest, 0, len(entries))
	for _, e := range entries {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.Validate() == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// Lock takes the named cross-process lock, waiting until it is free or ctx
// ends. Names are plain file names (e.g. "blob-<hex>").
func (s *Store) Lock(ctx context.Context, name string) (*fsutil.Lock, error) {
	if strings.ContainsAny(name, "/\x00") || name == "" || name[0] == '.' {
		return nil, fmt.Errorf("bad lock name %q", name)
	}
	return fsutil.LockFileContext(ctx, filepath.Join(s.root, "locks", name), fsutil.Exclusive)
}

// Writing takes the GC lock shared: content added while it is held is safe
// from a concurrent Collect. Release it after the content is referenced by
// the index or a hold.
func (s *Store) Writing(ctx context.Context) (*fsutil.Lock, error) {
	return fsutil.LockFileContext(ctx, filepath.Join(s.root, "gc.lock"), fsutil.Shared)
}

// Collecting takes the GC lock exclusively: no writer is adding content
// while it is held.
func (s *Store) Collecting(ctx context.Context) (*fsutil.Lock, error) {
	return fsutil.LockFileContext(ctx, filepath.Join(s.root, "gc.lock"), fsutil.Exclusive)
}

// BlobWriter writes one blob into the ingest area; Commit verifies it and
// makes it visible under its digest, Abort discards it.
type BlobWriter struct {
	s        *Store
	f        *os.File
	lock     *fsutil.Lock
	h        hash.Hash
	n        int64
	expected digest.Digest
	size     int64
}

// NewWriter starts a blob. expected and size may be "" and -1 when unknown
// (Commit then names the blob by what was written). Writing more than size
// bytes fails at once, so a hostile source cannot fill the disk.
func (s *Store) NewWriter(expected digest.Digest, size int64) (*BlobWriter, error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	p := filepath.Join(s.root, "ingest", hex.EncodeToString(rnd[:]))
	f, err := createLocked(s.root, func() (*os.File, error) {
		return os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	})
	if err != nil {
		return nil, err
	}
	return &BlobWriter{s: s, f: f, h: sha256.New(), expected: expected, size: size}, nil
}

// Write implements io.Writer.
func (w *BlobWriter) Write(p []byte) (int, error) {
	if w.size >= 0 && w.n+int64(len(p)) > w.size {
		return 0, fmt.Errorf("blob %s: %w: more than the %d bytes announced", w.expected, ErrDigestMismatch, w.size)
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	return n, err
}

// Written returns the number of bytes written so far.
func (w *BlobWriter) Written() int64 { return w.n }

// Digest returns the digest of the bytes written so far, which Commit
// names the blob by.
func (w *BlobWriter) Digest() digest.Digest {
	return digest.NewDigestFromBytes(digest.SHA256, w.h.Sum(nil))
}

// Commit verifies size and digest, syncs the data and renames it into
// place. If the blob already exists (another writer won), the copy is
// dropped. The writer is finished either way.
func (w *BlobWriter) Commit() (digest.Digest, error) {
	defer w.Abort()
	d := digest.NewDigest(digest.SHA256, w.h)
	if w.size >= 0 && w.n != w.size {
		return "", fmt.Errorf("blob %s: %w: got %d bytes, want %d", w.expected, ErrDigestMismatch, w.n, w.size)
	}
	if w.expected != "" && d != w.expected {
		return "", fmt.Errorf("blob %s: %w: content hashes to %s", w.expected, ErrDigestMismatch, d)
	}
	if _, ok := w.s.HasBlob(d); ok {
		return d, nil
	}
	if err := w.sync(); err != nil {
		return "", err
	}
	if err := os.Chmod(w.f.Name(), 0o444); err != nil {
		return "", err
	}
	if err := os.Rename(w.f.Name(), w.s.BlobPath(d)); err != nil {
		return "", err
	}
	return d, nil
}

// Abort discards the blob. Safe after Commit and twice.
func (w *BlobWriter) Abort() {
	if w.f == nil {
		return
	}
	name := w.f.Name()
	w.f.Close()
	os.Remove(name) // no-op after a successful rename
	w.f = nil
}

func (w *BlobWriter) sync() error {
	if os.Getenv("HULL_NOSYNC") != "" {
		return nil
	}
	return w.f.Sync()
}
