package hull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"

	"github.com/hullbox/hull/internal/archive"
	"github.com/hullbox/hull/internal/manifest"
	"github.com/hullbox/hull/internal/store"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Compression is how Push compresses the layers an image stores
// uncompressed: those Commit and Import make, and those of archives Load
// read uncompressed (docker save writes them so).
type Compression string

const (
	// CompressionGzip compresses layers with gzip, as `docker push` does.
	// Every client reads it. The default.
	CompressionGzip Compression = "gzip"
	// CompressionZstd compresses layers with zstd: smaller, and faster to
	// unpack, but read only by newer clients (Docker 23, containerd 1.5 and
	// later). The OCI image spec is the only one that has zstd layers, so
	// an image with a Docker schema 2 manifest is pushed with an OCI one,
	// as BuildKit does.
	CompressionZstd Compression = "zstd"
	// CompressionNone pushes layers as they are stored: the manifest is
	// sent byte for byte, under the digest the image has here.
	CompressionNone Compression = "none"
)

// WithCompression chooses how Push compresses the layers an image stores
// uncompressed. Default: CompressionGzip. Layers stored compressed (as
// pulled) are pushed as they are whatever it says, and so is the whole
// image when its manifest is already in a registry (see Push). Only Push
// takes it.
func WithCompression(c Compression) ImageOption {
	return func(cfg *imageConfig) error {
		switch c {
		case CompressionGzip, CompressionZstd, CompressionNone:
			cfg.compression = c
			cfg.given = append(cfg.given, "WithCompression")
			return nil
		}
		return fmt.Errorf("%w: WithCompression(%q): want gzip, zstd or none", ErrInvalidArgument, c)
	}
}

// inRegistry reports whether the image's manifest is known to be in a
// registry as it is stored (store.ImageRecord.AsStored): it was pulled
// (by itself or through an index), or pushed before with its layers as
// stored. Pushing it elsewhere keeps its digest, so that name@digest means
// the same image everywhere.
func inRegistry(rec *store.ImageRecord) bool {
	return slices.ContainsFunc(rec.RepoDigests, rec.AsStored)
}

// compressPlan makes plan send the layers m (plan's manifest) holds
// uncompressed compressed with c: each is compressed into the store the
// first time and recorded (store.AddCompressedCopy), so a later push sends
// the same blob without compressing again, and the manifest naming them is
// the same bytes, hence the same digest, each time. Nothing changes if no
// layer is uncompressed.
func (rt *Runtime) compressPlan(ctx context.Context, plan *pushPlan, m ocispec.Manifest, c Compression) error {
	if c == CompressionNone {
		return nil
	}
	m, changed, err := manifest.Recompress(m, plan.desc.MediaType, string(c), func(l ocispec.Descriptor) (manifest.Compressed, error) {
		cp, err := rt.compressedCopy(ctx, l, string(c))
		return manifest.Compressed{Digest: cp.Digest, Size: cp.Size}, err
	})
	if err != nil || !changed {
		return err
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	plan.manifest = data
	plan.desc = ocispec.Descriptor{MediaType: m.MediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	plan.config = m.Config
	plan.layers = manifest.DistinctLayers(m)
	return nil
}

// compressedCopy returns the stored copy of the uncompressed layer blob
// compressed with compression, making and recording it if there is none
// (store.Compress).
func (rt *Runtime) compressedCopy(ctx context.Context, layer ocispec.Descriptor, compression string) (store.Compressed, error) {
	compress := func(w io.Writer) (io.WriteCloser, error) { return archive.Compress(w, compression) }
	cp, err := rt.store.Compress(ctx, layer.Digest, layer.Size, compression, compress)
	if errors.Is(err, fs.ErrNotExist) {
		return cp, fmt.Errorf("blob %s is not stored locally: %w", layer.Digest, ErrNotFound)
	}
	return cp, alsoIs(err, store.ErrDigestMismatch, ErrInvalidContent)
}
