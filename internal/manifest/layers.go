package manifest

import (
	"fmt"
	"slices"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Layer media types by compression ("", "gzip", "zstd"), for the
// manifests hull makes or rewrites. Docker schema 2 has no zstd layer.
var (
	DockerLayerTypes = map[string]string{"": MediaTypeDockerLayerTar, "gzip": MediaTypeDockerLayer}
	OCILayerTypes    = map[string]string{"": ocispec.MediaTypeImageLayer, "gzip": ocispec.MediaTypeImageLayerGzip, "zstd": ocispec.MediaTypeImageLayerZstd}
)

// DockerToOCI are the OCI media types of a Docker schema 2 manifest's
// layers, for a manifest rewritten as OCI.
var DockerToOCI = map[string]string{
	MediaTypeDockerLayerTar: ocispec.MediaTypeImageLayer,
	MediaTypeDockerLayer:    ocispec.MediaTypeImageLayerGzip,
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
}

// Uncompressed reports whether a layer media type is a plain tar.
func Uncompressed(mt string) bool {
	return mt == ocispec.MediaTypeImageLayer || mt == MediaTypeDockerLayerTar
}

// Compressed is what a compressor made of a layer blob: the compressed
// copy's digest and size.
type Compressed struct {
	Digest digest.Digest
	Size   int64
}

// Recompress returns m with its uncompressed layers replaced by copies
// compressed with compression ("gzip" or "zstd"), which compress makes
// (once per distinct layer). mediaType is the manifest's media type when
// m.MediaType is empty. A Docker schema 2 manifest gets Docker gzip
// layers; with zstd, which schema 2 lacks, it becomes an OCI manifest
// (media types of manifest, config and every layer), as BuildKit does.
// changed is false, and m returned as it is, when no layer is
// uncompressed.
func Recompress(m ocispec.Manifest, mediaType, compression string, compress func(ocispec.Descriptor) (Compressed, error)) (_ ocispec.Manifest, changed bool, _ error) {
	var todo []int
	for i, l := range m.Layers {
		if Uncompressed(l.MediaType) {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return m, false, nil
	}
	if m.MediaType == "" {
		m.MediaType = mediaType
	}
	m.Layers = slices.Clone(m.Layers)
	types := OCILayerTypes
	if m.MediaType == MediaTypeDockerManifest {
		types = DockerLayerTypes
		if compression == "zstd" {
			types = OCILayerTypes
			m.MediaType, m.Config.MediaType = ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig
			for i, l := range m.Layers {
				if t, ok := DockerToOCI[l.MediaType]; ok {
					m.Layers[i].MediaType = t
				}
			}
		}
	}
	copies := map[digest.Digest]Compressed{}
	for _, i := range todo {
		l := m.Layers[i]
		c, ok := copies[l.Digest]
		if !ok {
			var err error
			if c, err = compress(l); err != nil {
				return m, false, fmt.Errorf("compress layer %s: %w", l.Digest, err)
			}
			copies[l.Digest] = c
		}
		m.Layers[i].MediaType, m.Layers[i].Digest, m.Layers[i].Size = types[compression], c.Digest, c.Size
	}
	return m, true, nil
}
