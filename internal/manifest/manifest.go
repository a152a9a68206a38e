// Package manifest reads the manifests and indexes of OCI and Docker
// schema 2 images: which media types hull understands, what a manifest
// must say to be used, which manifest of an index serves a platform, and
// the layer media types a rewritten manifest names. It does no I/O; the
// registry, archive and store code of package hull feed it bytes.
//
// Refusals wrap ErrInvalid (malformed or hostile), ErrUnsupported (well
// formed but unusable, as a schema 1 manifest) or ErrNoPlatform, which
// hull maps to its own sentinels.
package manifest

import (
	"encoding/json"
	"errors"
	"fmt"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Docker media types hull understands (the OCI ones are ocispec's).
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"      // schema 2 manifest
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json" // schema 2 index
	MediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"            // image config
	MediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar.gzip"         // gzip layer
	MediaTypeDockerLayerTar     = "application/vnd.docker.image.rootfs.diff.tar"              // plain tar layer
	mediaTypeDockerSchema1      = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

// Errors the package's refusals wrap. The messages of ErrInvalid and
// ErrUnsupported are those of hull's ErrInvalidContent and
// ErrUnsupported, which callers map them to.
var (
	// ErrInvalid marks a manifest or index that is malformed.
	ErrInvalid = errors.New("invalid content")
	// ErrUnsupported marks a manifest hull cannot use.
	ErrUnsupported = errors.New("unsupported")
	// ErrNoPlatform marks an index without an image for the platform.
	ErrNoPlatform = errors.New("not found")
)

// IsIndex reports whether mt is an index (manifest list) media type.
func IsIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

// Parse reads an image manifest of media type mediaType and checks what
// hull relies on: a manifest type it understands, a config that is an
// image, layer media types it can unpack, valid digests.
func Parse(mediaType string, data []byte) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	switch mediaType {
	case ocispec.MediaTypeImageManifest, MediaTypeDockerManifest:
	case mediaTypeDockerSchema1, "application/vnd.docker.distribution.manifest.v1+json":
		return m, fmt.Errorf("%w: Docker schema1 manifests are deprecated and not supported; push the image again with a current client", ErrUnsupported)
	default:
		return m, fmt.Errorf("%w: manifest media type %q", ErrUnsupported, mediaType)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("%w: manifest: %v", ErrInvalid, err)
	}
	if m.MediaType != "" && m.MediaType != mediaType {
		return m, fmt.Errorf("%w: manifest says media type %q, registry said %q", ErrInvalid, m.MediaType, mediaType)
	}
	switch m.Config.MediaType {
	case ocispec.MediaTypeImageConfig, MediaTypeDockerConfig:
	default:
		return m, fmt.Errorf("%w: config media type %q is not an image", ErrUnsupported, m.Config.MediaType)
	}
	for _, l := range m.Layers {
		if _, err := layerCompression(l.MediaType); err != nil {
			return m, err
		}
		if err := l.Digest.Validate(); err != nil {
			return m, fmt.Errorf("%w: layer digest %q: %v", ErrInvalid, l.Digest, err)
		}
	}
	return m, m.Config.Digest.Validate()
}

// layerCompression checks a layer media type; the stream itself is sniffed
// when unpacked, so the name is only validated here.
func layerCompression(mt string) (string, error) {
	switch mt {
	case ocispec.MediaTypeImageLayer, MediaTypeDockerLayerTar:
		return "", nil
	case ocispec.MediaTypeImageLayerGzip, MediaTypeDockerLayer:
		return "gzip", nil
	case ocispec.MediaTypeImageLayerZstd:
		return "zstd", nil
	}
	return "", fmt.Errorf("%w: layer media type %q", ErrUnsupported, mt)
}

// ParseConfig reads the config d of an image of n layers and checks what
// hull relies on: an image config, one valid diff ID per layer.
func ParseConfig(d digest.Digest, data []byte, n int) (ocispec.Image, error) {
	var img ocispec.Image
	if err := json.Unmarshal(data, &img); err != nil {
		return img, fmt.Errorf("%w: config %s: %v", ErrInvalid, d, err)
	}
	if len(img.RootFS.DiffIDs) != n {
		return img, fmt.Errorf("%w: config %s lists %d layers, the image has %d", ErrInvalid, d, len(img.RootFS.DiffIDs), n)
	}
	for _, id := range img.RootFS.DiffIDs {
		if err := id.Validate(); err != nil {
			return img, fmt.Errorf("%w: config %s: diff ID %q: %v", ErrInvalid, d, id, err)
		}
	}
	return img, nil
}

// SniffMediaType reads the mediaType a manifest or index names itself
// with, for a descriptor that does not say.
func SniffMediaType(data []byte) string {
	var v struct {
		MediaType string            `json:"mediaType"`
		Manifests []json.RawMessage `json:"manifests"`
	}
	if json.Unmarshal(data, &v) != nil {
		return ""
	}
	if v.MediaType == "" && v.Manifests != nil {
		return ocispec.MediaTypeImageIndex
	}
	if v.MediaType == "" {
		return ocispec.MediaTypeImageManifest
	}
	return v.MediaType
}

// ChainIDs computes the OCI chain ID of each layer prefix.
func ChainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = digest.FromString(out[i-1].String() + " " + d.String())
	}
	return out
}

// DistinctLayers returns m's layer blobs, bottom first, each once and
// none that is also the config.
func DistinctLayers(m ocispec.Manifest) []ocispec.Descriptor {
	var out []ocispec.Descriptor
	seen := map[digest.Digest]bool{m.Config.Digest: true}
	for _, l := range m.Layers {
		if !seen[l.Digest] {
			seen[l.Digest] = true
			out = append(out, l)
		}
	}
	return out
}
