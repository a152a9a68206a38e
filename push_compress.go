package hull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

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
// registry as it is stored: it was pulled (by itself or through an index),
// or pushed before with its layers as stored. Pushing it elsewhere keeps
// its digest, so that name@digest means the same image everywhere.
func inRegistry(rec *store.ImageRecord) bool {
	for _, rd := range rec.RepoDigests {
		_, d, _ := strings.Cut(rd, "@")
		if d == rec.Manifest.String() || (rec.Index != "" && d == rec.Index.String()) {
			return true
		}
	}
	return false
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
	var todo []int
	for i, l := range m.Layers {
		if manifest.Uncompressed(l.MediaType) {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	m.Layers = append([]ocispec.Descriptor(nil), m.Layers...)
	types := manifest.OCILayerTypes
	if m.MediaType == manifest.MediaTypeDockerManifest || (m.MediaType == "" && plan.desc.MediaType == manifest.MediaTypeDockerManifest) {
		types = manifest.DockerLayerTypes
		if c == CompressionZstd {
			types = manifest.OCILayerTypes
			m.MediaType, m.Config.MediaType = ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig
			for i, l := range m.Layers {
				if t, ok := manifest.DockerToOCI[l.MediaType]; ok {
					m.Layers[i].MediaType = t
				}
			}
		}
	}
	copies := map[digest.Digest]store.Compressed{}
	for _, i := range todo {
		l := m.Layers[i]
		cp, ok := copies[l.Digest]
		if !ok {
			var err error
			if cp, err = rt.compressedCopy(ctx, l, string(c)); err != nil {
				return fmt.Errorf("compress layer %s: %w", l.Digest, err)
			}
			copies[l.Digest] = cp
		}
		m.Layers[i].MediaType, m.Layers[i].Digest, m.Layers[i].Size = types[string(c)], cp.Digest, cp.Size
	}
	if m.MediaType == "" {
		m.MediaType = plan.desc.MediaType
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
// compressed with compression, making and recording it if there is none.
// One process at a time compresses a given layer; the others wait and then
// find the copy.
func (rt *Runtime) compressedCopy(ctx context.Context, layer ocispec.Descriptor, compression string) (store.Compressed, error) {
	if cp, ok := rt.store.CompressedCopy(layer.Digest, compression); ok {
		return cp, nil
	}
	lock, err := rt.store.Lock(ctx, "compress-"+layer.Digest.Encoded()+"-"+compression)
	if err != nil {
		return store.Compressed{}, err
	}
	defer lock.Unlock()
	if cp, ok := rt.store.CompressedCopy(layer.Digest, compression); ok {
		return cp, nil
	}
	f, err := rt.store.OpenBlob(layer.Digest)
	if errors.Is(err, fs.ErrNotExist) {
		return store.Compressed{}, fmt.Errorf("blob %s is not stored locally: %w", layer.Digest, ErrNotFound)
	}
	if err != nil {
		return store.Compressed{}, err
	}
	defer f.Close()
	w, err := rt.store.NewWriter("", -1)
	if err != nil {
		return store.Compressed{}, err
	}
	defer w.Abort()
	zw, err := archive.Compress(w, compression)
	if err != nil {
		return store.Compressed{}, err
	}
	n, err := io.Copy(zw, &ctxReader{ctx: ctx, r: f})
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return store.Compressed{}, err
	}
	if n != layer.Size {
		return store.Compressed{}, fmt.Errorf("%w: stored blob %s has %d bytes, the manifest says %d", ErrInvalidContent, layer.Digest, n, layer.Size)
	}
	cp := store.Compressed{Compression: compression, Size: w.Written()}
	if cp.Digest, err = w.Commit(); err != nil {
		return store.Compressed{}, err
	}
	if err := rt.store.AddCompressedCopy(ctx, layer.Digest, cp); err != nil {
		return store.Compressed{}, err
	}
	return cp, nil
}
