package manifest

import ocispec "github.com/opencontainers/image-spec/specs-go/v1"

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
