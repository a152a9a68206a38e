package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hullbox/hull/internal/fsutil"
	digest "github.com/opencontainers/go-digest"
)

// Index is the metadata of every image in the store: the records by
// manifest digest and the tags pointing at them. It is small (kilobytes) and
// rewritten whole, atomically, under index.lock.
type Index struct {
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

func (s *Store) readIndex() (*Index, error) {
	ix := &Index{Images: map[digest.Digest]*ImageRecord{}, Tags: map[string]*TagRecord{}}
	data, err := os.ReadFile(s.indexPath())
	if errors.Is(err, fs.ErrNotExist) {
		return ix, nil
	}
	if err != nil {
		return nil, err
	}
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
// atomically, so no lock is needed to read a consistent copy.
func (s *Store) ReadIndex() (*Index, error) { return s.readIndex() }

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
	data, err := json.MarshalIndent(ix, "", "\t")
	if err != nil {
		return err
	}
	return s.writeFile(s.indexPath(), data, 0o600, fsutil.SyncDir())
}
