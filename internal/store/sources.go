package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/hullbox/hull/internal/fsutil"
	digest "github.com/opencontainers/go-digest"
)

// maxSources bounds how many repositories are remembered per blob: a push
// tries one mount, so only the most recent few are worth keeping.
const maxSources = 4

// sources.json maps a blob digest to the registry repositories
// ("domain/path") known to hold it, most recent first. A push reads it to
// mount a blob from a sibling repository instead of uploading it. It is a
// hint: a registry may have lost the blob since, and the push then uploads.

func (s *Store) sourcesPath() string { return filepath.Join(s.root, "sources.json") }

func (s *Store) readSources() (map[digest.Digest][]string, error) {
	return readDigestMap[[]string](s.sourcesPath())
}

// readDigestMap reads a JSON object keyed by blob digest (sources.json,
// compressed.json); a missing file is an empty map.
func readDigestMap[V any](path string) (map[digest.Digest]V, error) {
	out := map[digest.Digest]V{}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// BlobSources returns, for each blob, the repositories known to hold it,
// most recent first. Writers replace the file atomically; no lock is needed.
func (s *Store) BlobSources() (map[digest.Digest][]string, error) { return s.readSources() }

// AddBlobSources records that repo ("domain/path") holds blobs. Entries of
// blobs no longer stored are dropped, so the file stays as small as the
// store.
func (s *Store) AddBlobSources(ctx context.Context, repo string, blobs []digest.Digest) error {
	l, err := fsutil.LockFileContext(ctx, filepath.Join(s.root, "sources.lock"), fsutil.Exclusive)
	if err != nil {
		return err
	}
	defer l.Unlock()
	src, err := s.readSources()
	if err != nil {
		return err
	}
	for _, d := range blobs {
		repos := slices.DeleteFunc(src[d], func(r string) bool { return r == repo })
		repos = append([]string{repo}, repos...)
		src[d] = repos[:min(len(repos), maxSources)]
	}
	for d := range src {
		if _, ok := s.HasBlob(d); !ok {
			delete(src, d)
		}
	}
	data, err := json.Marshal(src)
	if err != nil {
		return err
	}
	return s.writeFile(s.sourcesPath(), data, 0o600, fsutil.SyncDir())
}
