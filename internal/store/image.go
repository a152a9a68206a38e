package store

import (
	"encoding/json"

	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// WriteImage stores config (an ocispec.Image, or a type that marshals to
// one with more fields, such as Docker's config.Healthcheck) and a
// manifest of media type mt (its config of media type ct) listing
// layers, whose blobs are stored already, and returns the image's record,
// not yet in the index: chains are its snapshots' chain IDs, size their
// unpacked bytes.
func (s *Store) WriteImage(mt, ct string, config any, layers []ocispec.Descriptor, chains []digest.Digest, size int64) (*ImageRecord, error) {
	cdata, err := json.Marshal(config)
	if err != nil {
		return nil, err
	}
	return s.WriteImageConfig(mt, ct, cdata, layers, chains, size)
}

// WriteImageConfig is WriteImage of a config already encoded (one with
// Docker's extensions to the OCI config: Healthcheck, OnBuild, Shell).
func (s *Store) WriteImageConfig(mt, ct string, cdata []byte, layers []ocispec.Descriptor, chains []digest.Digest, size int64) (*ImageRecord, error) {
	cd, err := s.WriteBlob(cdata, "")
	if err != nil {
		return nil, err
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: mt,
		Config:    ocispec.Descriptor{MediaType: ct, Digest: cd, Size: int64(len(cdata))},
		Layers:    layers,
	}
	mdata, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	md, err := s.WriteBlob(mdata, "")
	if err != nil {
		return nil, err
	}
	rec := &ImageRecord{Manifest: md, MediaType: mt, Config: cd, ChainIDs: chains, Size: size}
	for _, l := range layers {
		rec.Layers = append(rec.Layers, l.Digest)
	}
	return rec, nil
}
