package store

import (
	"encoding/json"

	digest "github.com/opencontainers/go-digest"
)

// Live returns what garbage collection must keep: the blobs referenced by
// the index's images (manifest, config, index, layers) and by holds (a
// held image's manifest and what it names, even if its record is gone:
// a forced removal drops the record, not the content), the compressed
// copies of live blobs, and the snapshots (chain IDs) of images and holds.
// maxManifest bounds a held manifest read.
func (s *Store) Live(maxManifest int64) (blobs, snaps map[digest.Digest]bool, err error) {
	blobs, snaps = map[digest.Digest]bool{}, map[digest.Digest]bool{}
	ix, err := s.ReadIndex()
	if err != nil {
		return nil, nil, err
	}
	for _, rec := range ix.Images {
		blobs[rec.Manifest], blobs[rec.Config] = true, true
		if rec.Index != "" {
			blobs[rec.Index] = true
		}
		for _, l := range rec.Layers {
			blobs[l] = true
		}
		for _, c := range rec.ChainIDs {
			snaps[c] = true
		}
	}
	holds, err := s.Holds()
	if err != nil {
		return nil, nil, err
	}
	for _, h := range holds {
		for _, c := range h.Snapshots {
			snaps[c] = true
		}
		if h.Image == "" {
			continue
		}
		blobs[h.Image] = true
		data, err := s.ReadBlob(h.Image, maxManifest)
		if err != nil {
			continue
		}
		// The part of an OCI or Docker schema2 manifest that names blobs.
		var m struct {
			Config struct{ Digest digest.Digest }
			Layers []struct{ Digest digest.Digest }
		}
		if json.Unmarshal(data, &m) == nil {
			blobs[m.Config.Digest] = true
			for _, l := range m.Layers {
				blobs[l.Digest] = true
			}
		}
	}
	// The compressed copies Push made of live layers stay with them.
	copies, err := s.CompressedCopies()
	if err != nil {
		return nil, nil, err
	}
	for d, cs := range copies {
		if blobs[d] {
			for _, c := range cs {
				blobs[c.Digest] = true
			}
		}
	}
	return blobs, snaps, nil
}
