package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/hullbox/hull/internal/fsutil"
	digest "github.com/opencontainers/go-digest"
)

// Index is the metadata of every image in the store: the records by
// manifest digest and the tags pointing at them. It is small (kilobytes;
// about 900 per image) and rewritten whole, atomically, under index.lock.
type Index struct {
	// Gen is drawn anew (random, not 0) by every write of the index, and
	// is the file's first field: a reader that parsed the index once
	// knows from the file's first bytes whether it changed since
	// (ReadIndex). 0 in a file an older hull wrote.
	Gen uint64 `json:"gen,omitempty"`
	// Images by manifest digest.
	Images map[digest.Digest]*ImageRecord `json:"images"`
	// Tags by full normalised "domain/path:tag".
	Tags map[string]*TagRecord `json:"tags"`
}

// ImageRecord is one stored image (one platform manifest).
type ImageRecord struct {
	Manifest    digest.Digest   `json:"manifest"`
	MediaType   string          `json:"mediaType"`
	Config      digest.Digest   `json:"config"`
	Layers      []digest.Digest `json:"layers"`
	ChainIDs    []digest.Digest `json:"chainIDs"`
	Index       digest.Digest   `json:"index,omitempty"` // manifest list it was chosen from
	RepoDigests []string        `json:"repoDigests,omitempty"`
	Size        int64           `json:"size"` // unpacked bytes
	Added       time.Time       `json:"added"`
}

// TagRecord is what a tag points at now and what it pointed at before.
type TagRecord struct {
	Digest  digest.Digest `json:"digest"`
	History []TagEvent    `json:"history"`
}

// TagEvent is one move of a tag.
type TagEvent struct {
	Digest digest.Digest `json:"digest"`
	Time   time.Time     `json:"time"`
}

// SetTag points tag at d and records the move in the tag's history.
func (ix *Index) SetTag(tag string, d digest.Digest, now time.Time) {
	t := ix.Tags[tag]
	if t == nil {
		t = &TagRecord{}
		ix.Tags[tag] = t
	}
	if t.Digest == d {
		return
	}
	t.Digest = d
	t.History = append(t.History, TagEvent{Digest: d, Time: now})
}

// AddImage records rec, points tags at it and adds repoDigest (unless
// "") to its repository digests. An image stored already keeps its
// repository digests, the time it was added and the index it was chosen
// from (unless rec names one); a new one is added at now.
func (ix *Index) AddImage(rec *ImageRecord, repoDigest string, tags []string, now time.Time) {
	rec.Added = now
	if old := ix.Images[rec.Manifest]; old != nil {
		rec.RepoDigests, rec.Added = old.RepoDigests, old.Added
		if rec.Index == "" {
			rec.Index = old.Index
		}
	}
	if repoDigest != "" && !slices.Contains(rec.RepoDigests, repoDigest) {
		rec.RepoDigests = append(rec.RepoDigests, repoDigest)
	}
	ix.Images[rec.Manifest] = rec
	for _, t := range tags {
		ix.SetTag(t, rec.Manifest, now)
	}
}

// TagsOf returns the tags pointing at d.
func (ix *Index) TagsOf(d digest.Digest) []string {
	var out []string
	for name, t := range ix.Tags {
		if t.Digest == d {
			out = append(out, name)
		}
	}
	return out
}

func (s *Store) indexPath() string { return filepath.Join(s.root, "index.json") }

// readIndex reads and parses the index: a copy of the caller's own.
func (s *Store) readIndex() (*Index, error) {
	data, err := os.ReadFile(s.indexPath())
	if errors.Is(err, fs.ErrNotExist) {
		return &Index{Images: map[digest.Digest]*ImageRecord{}, Tags: map[string]*TagRecord{}}, nil
	}
	if err != nil {
		return nil, err
	}
	return s.parseIndex(data)
}

func (s *Store) parseIndex(data []byte) (*Index, error) {
	ix := &Index{Images: map[digest.Digest]*ImageRecord{}, Tags: map[string]*TagRecord{}}
	if err := json.Unmarshal(data, ix); err != nil {
		return nil, fmt.Errorf("%s: %w", s.indexPath(), err)
	}
	if ix.Images == nil {
		ix.Images = map[digest.Digest]*ImageRecord{}
	}
	if ix.Tags == nil {
		ix.Tags = map[string]*TagRecord{}
	}
	return ix, nil
}

// ReadIndex returns a snapshot of the index. Writers replace the file
// atomically, so no lock is needed to read a consistent copy. The index
// is parsed once per change (Gen) and shared by every caller until the
// next: it and what it points to are read-only. (Parsing is what costs:
// about 10 ms at 1,000 images, and Inspect, Image, Run read the index.)
func (s *Store) ReadIndex() (*Index, error) {
	f, err := os.Open(s.indexPath())
	if errors.Is(err, fs.ErrNotExist) {
		return &Index{Images: map[digest.Digest]*ImageRecord{}, Tags: map[string]*TagRecord{}}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var head [64]byte
	n, err := f.ReadAt(head[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	gen := indexGen(head[:n])
	s.ixMu.Lock()
	cached := s.ix
	s.ixMu.Unlock()
	if gen != 0 && cached != nil && cached.Gen == gen {
		return cached, nil
	}
	data, err := io.ReadAll(f) // the same file as head, whatever writers do
	if err != nil {
		return nil, err
	}
	ix, err := s.parseIndex(data)
	if err != nil {
		return nil, err
	}
	if ix.Gen == 0 {
		// An older hull's file: written again with a Gen (best effort:
		// a read-only root is read as it is), parsed again next time.
		_ = s.UpdateIndex(context.Background(), func(*Index) error { return nil })
		return ix, nil
	}
	s.ixMu.Lock()
	s.ix = ix
	s.ixMu.Unlock()
	return ix, nil
}

// indexGen returns the Gen of the index whose first bytes are head, or 0
// if they do not hold one.
func indexGen(head []byte) uint64 {
	_, rest, ok := bytes.Cut(head, []byte(`"gen":`))
	if !ok {
		return 0
	}
	rest = bytes.TrimLeft(rest, " ")
	end := bytes.IndexAny(rest, ",\n}")
	if end < 0 {
		return 0
	}
	gen, err := strconv.ParseUint(string(rest[:end]), 10, 64)
	if err != nil {
		return 0
	}
	return gen
}

// UpdateIndex runs fn on the current index under the index lock and, if fn
// succeeds, writes the result atomically. fn must not block on I/O.
func (s *Store) UpdateIndex(ctx context.Context, fn func(*Index) error) error {
	l, err := fsutil.LockFileContext(ctx, filepath.Join(s.root, "index.lock"), fsutil.Exclusive)
	if err != nil {
		return err
	}
	defer l.Unlock()
	ix, err := s.readIndex()
	if err != nil {
		return err
	}
	if err := fn(ix); err != nil {
		return err
	}
	ix.Gen = rand.Uint64() | 1 // never 0
	data, err := json.MarshalIndent(ix, "", "\t")
	if err != nil {
		return err
	}
	return s.writeFile(s.indexPath(), data, 0o600, fsutil.SyncDir())
}
