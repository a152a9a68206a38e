package store

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestLive: what images and holds reference is live, with the compressed
// copies of live blobs; the rest is not.
func TestLive(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	blob := func(data string) digest.Digest {
		d, err := s.WriteBlob([]byte(data), "")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	layer, cfg, chain := blob("layer"), blob("config"), digest.FromString("chain")
	man := blob(fmt.Sprintf(`{"config":{"digest":%q},"layers":[{"digest":%q}]}`, cfg, layer))
	heldLayer, heldCfg := blob("held layer"), blob("held config")
	held := blob(fmt.Sprintf(`{"config":{"digest":%q},"layers":[{"digest":%q}]}`, heldCfg, heldLayer))
	copyOf, dead := blob("gzip of layer"), blob("nobody's")
	err = s.UpdateIndex(t.Context(), func(ix *Index) error {
		ix.Images[man] = &ImageRecord{Manifest: man, Config: cfg, Layers: []digest.Digest{layer}, ChainIDs: []digest.Digest{chain}}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	heldSnap := digest.FromString("held chain")
	if err := s.PutHold(Hold{ID: "c1", Image: held, Snapshots: []digest.Digest{heldSnap}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCompressedCopy(t.Context(), layer, Compressed{Compression: "gzip", Digest: copyOf, Size: 13}); err != nil {
		t.Fatal(err)
	}
	blobs, snaps, err := s.Live(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []digest.Digest{man, cfg, layer, held, heldCfg, heldLayer, copyOf} {
		if !blobs[d] {
			t.Errorf("blob %s not live", d)
		}
	}
	if blobs[dead] || len(blobs) != 7 {
		t.Errorf("live blobs = %v", blobs)
	}
	if !snaps[chain] || !snaps[heldSnap] || len(snaps) != 2 {
		t.Errorf("live snapshots = %v", snaps)
	}
}

// TestCompress: a copy is made once and found after; a missing blob is
// fs.ErrNotExist, one of another size ErrDigestMismatch.
func TestCompress(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("a layer tar "), 1000)
	d, err := s.WriteBlob(data, "")
	if err != nil {
		t.Fatal(err)
	}
	made := 0
	gz := func(w io.Writer) (io.WriteCloser, error) { made++; return gzip.NewWriter(w), nil }
	c, err := s.Compress(t.Context(), d, int64(len(data)), "gzip", gz)
	if err != nil || c.Compression != "gzip" || c.Size >= int64(len(data)) {
		t.Fatalf("Compress = %+v, %v", c, err)
	}
	f, err := s.OpenBlob(c.Digest)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := io.ReadAll(zr); err != nil || !bytes.Equal(back, data) {
		t.Errorf("the copy uncompresses to %d bytes, %v", len(back), err)
	}
	if again, err := s.Compress(t.Context(), d, int64(len(data)), "gzip", gz); err != nil || again != c || made != 1 {
		t.Errorf("second Compress = %+v, %v after %d compressions", again, err, made)
	}
	if _, err := s.Compress(t.Context(), d, 5, "zstd", gz); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("Compress with a wrong size: %v", err)
	}
	if _, err := s.Compress(t.Context(), digest.FromString("absent"), 1, "gzip", gz); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Compress of a missing blob: %v", err)
	}
}

// TestWriteImage: the config and a manifest naming it and the layers are
// stored, and the record points at them.
func TestWriteImage(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromString("l"), Size: 1}
	chains := []digest.Digest{digest.FromString("chain")}
	config := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}}
	rec, err := s.WriteImage(ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, config, []ocispec.Descriptor{layer}, chains, 42)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Size != 42 || rec.MediaType != ocispec.MediaTypeImageManifest || len(rec.Layers) != 1 || rec.Layers[0] != layer.Digest || rec.ChainIDs[0] != chains[0] {
		t.Errorf("record %+v", rec)
	}
	data, err := s.ReadBlob(rec.Manifest, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil || m.SchemaVersion != 2 || m.Config.Digest != rec.Config || m.Config.MediaType != ocispec.MediaTypeImageConfig || len(m.Layers) != 1 {
		t.Errorf("manifest %s: %v", data, err)
	}
	if cdata, err := s.ReadBlob(rec.Config, 1<<20); err != nil || !bytes.Contains(cdata, []byte(`"architecture":"amd64"`)) {
		t.Errorf("config %s: %v", cdata, err)
	}
}
