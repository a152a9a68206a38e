package manifest

import (
	"errors"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestRecompress: uncompressed layers get their copies (one compression
// per distinct layer) and the media types of the manifest's kind; zstd
// turns a Docker manifest into an OCI one; a manifest without
// uncompressed layers is left alone.
func TestRecompress(t *testing.T) {
	tar, gz := digest.FromString("tar"), digest.FromString("gz")
	copyOf := func(calls *int) func(ocispec.Descriptor) (Compressed, error) {
		return func(l ocispec.Descriptor) (Compressed, error) {
			*calls++
			return Compressed{Digest: digest.FromString("compressed " + l.Digest.String()), Size: 7}, nil
		}
	}
	docker := ocispec.Manifest{
		Config: ocispec.Descriptor{MediaType: MediaTypeDockerConfig},
		Layers: []ocispec.Descriptor{
			{MediaType: MediaTypeDockerLayer, Digest: gz, Size: 3},
			{MediaType: MediaTypeDockerLayerTar, Digest: tar, Size: 100},
			{MediaType: MediaTypeDockerLayerTar, Digest: tar, Size: 100},
		},
	}
	for _, tc := range []struct {
		compression, manifest, config, layer, kept string
	}{
		{"gzip", MediaTypeDockerManifest, MediaTypeDockerConfig, MediaTypeDockerLayer, MediaTypeDockerLayer},
		{"zstd", ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, ocispec.MediaTypeImageLayerZstd, ocispec.MediaTypeImageLayerGzip},
	} {
		calls := 0
		m, changed, err := Recompress(docker, MediaTypeDockerManifest, tc.compression, copyOf(&calls))
		if err != nil || !changed || calls != 1 {
			t.Fatalf("%s: changed %v, %v after %d compressions", tc.compression, changed, err, calls)
		}
		if m.MediaType != tc.manifest || m.Config.MediaType != tc.config || m.Layers[0].MediaType != tc.kept || m.Layers[0].Digest != gz {
			t.Errorf("%s: manifest %s, config %s, first layer %+v", tc.compression, m.MediaType, m.Config.MediaType, m.Layers[0])
		}
		for _, l := range m.Layers[1:] {
			if l.MediaType != tc.layer || l.Digest == tar || l.Size != 7 {
				t.Errorf("%s: recompressed layer %+v", tc.compression, l)
			}
		}
	}
	if docker.Layers[1].Digest != tar || docker.MediaType != "" {
		t.Error("Recompress changed its argument")
	}
	calls := 0
	compressed := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Layers: docker.Layers[:1]}
	if _, changed, err := Recompress(compressed, "", "gzip", copyOf(&calls)); changed || err != nil || calls != 0 {
		t.Errorf("nothing to compress: changed %v, %v, %d calls", changed, err, calls)
	}
	failed := errors.New("no space")
	if _, _, err := Recompress(docker, MediaTypeDockerManifest, "gzip", func(ocispec.Descriptor) (Compressed, error) { return Compressed{}, failed }); !errors.Is(err, failed) {
		t.Errorf("a failed compression: %v", err)
	}
}
