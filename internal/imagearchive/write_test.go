package imagearchive

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"testing"

	"github.com/hullbox/hull/internal/store"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestDescribeWrite: a stored image is described (platform from its
// config) and written with each blob once; a missing layer fails
// Describe with fs.ErrNotExist, a corrupted blob fails Write with
// store.ErrDigestMismatch.
func TestDescribeWrite(t *testing.T) {
	t.Parallel()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put := func(data string) ocispec.Descriptor {
		d, err := st.WriteBlob([]byte(data), "")
		if err != nil {
			t.Fatal(err)
		}
		return ocispec.Descriptor{Digest: d, Size: int64(len(data))}
	}
	layer := put("a layer")
	config := put(`{"os":"linux","architecture":"arm64","variant":"v8"}`)
	man := put(fmt.Sprintf(`{"schemaVersion":2,"config":{"digest":%q,"size":%d},"layers":[{"digest":%q,"size":%d},{"digest":%q,"size":%d}]}`,
		config.Digest, config.Size, layer.Digest, layer.Size, layer.Digest, layer.Size))
	img, err := Describe(st, man.Digest, ocispec.MediaTypeImageManifest, 1<<20, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if p := img.Manifest.Platform; p == nil || p.Architecture != "arm64" || p.Variant != "v8" || img.Config.Digest != config.Digest || len(img.Layers) != 2 {
		t.Fatalf("Describe = %+v", img)
	}
	var buf bytes.Buffer
	if err := Write(t.Context(), &buf, st, []SavedImage{img}); err != nil {
		t.Fatal(err)
	}
	blobs := map[string]int{}
	tr := tar.NewReader(&buf)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		blobs[hdr.Name]++
	}
	for _, d := range []digest.Digest{man.Digest, config.Digest, layer.Digest} {
		if blobs[BlobPath(d)] != 1 {
			t.Errorf("%s written %d times", BlobPath(d), blobs[BlobPath(d)])
		}
	}

	if err := os.WriteFile(st.BlobPath(layer.Digest), []byte("A layer"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(t.Context(), io.Discard, st, []SavedImage{img}); !errors.Is(err, store.ErrDigestMismatch) {
		t.Errorf("Write of a corrupted blob: %v", err)
	}
	if _, err := st.DeleteBlob(layer.Digest); err != nil {
		t.Fatal(err)
	}
	if _, err := Describe(st, man.Digest, ocispec.MediaTypeImageManifest, 1<<20, 1<<20); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Describe with a layer missing: %v", err)
	}
}
