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
	"sort"
	"strings"

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

// AsStored reports whether repoDigest ("name@digest") names the record's
// manifest as stored, or the index it was chosen from: the repository
// holds the image as it is here, its layers included. A repository a push
// sent it to with its layers compressed holds another manifest.
func (rec *ImageRecord) AsStored(repoDigest string) bool {
	_, d, _ := strings.Cut(repoDigest, "@")
	return d == rec.Manifest.String() || (rec.Index != "" && d == rec.Index.String())
}

// MountSources picks, for each blob in want, a repository to mount it
// from: first one known (BlobSources) to hold it, else one of the
// repository digests of the images holding it as stored (AsStored), most
// recently added first. same maps a repository name ("domain/path") to
// its path if a push may mount from it (the target's registry, another
// repository); it returns repository paths.
func (ix *Index) MountSources(known map[digest.Digest][]string, want map[digest.Digest]bool, same func(name string) (string, bool)) map[digest.Digest]string {
	out := map[digest.Digest]string{}
	for d := range want {
		for _, name := range known[d] {
			if p, ok := same(name); ok {
				out[d] = p
				break
			}
		}
	}
	recs := make([]*ImageRecord, 0, len(ix.Images))
	for _, rec := range ix.Images {
		if len(rec.RepoDigests) > 0 {
			recs = append(recs, rec)
		}
	}
	sort.Slice(recs, func(a, b int) bool { return recs[a].Added.After(recs[b].Added) })
	for _, rec := range recs {
		var from string
		for _, rd := range rec.RepoDigests {
			if p, ok := same(rd); ok && rec.AsStored(rd) {
				from = p
				break
			}
		}
		if from == "" {
			continue
		}
		for _, d := range append([]digest.Digest{rec.Config}, rec.Layers...) {
			if _, done := out[d]; want[d] && !done {
				out[d] = from
			}
		}
	}
	return out
}
