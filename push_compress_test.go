//go:build linux

package hull

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hullbox/hull/internal/archive"
	"github.com/hullbox/hull/internal/manifest"
	"github.com/hullbox/hull/internal/testutil"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// compressibleScript writes /data/big.txt (4,000,000 bytes of a repeated
// line, as a log or a generated file is) and two small files.
const compressibleScript = `mkdir -p /data && yes "hull layer line: the quick brown fox" | head -c 4000000 > /data/big.txt && echo small > /data/small && ln -s big.txt /data/link`

// remoteBlob fetches a blob from the registry and checks it against desc.
func remoteBlob(t *testing.T, reg *testutil.Registry, repo string, desc ocispec.Descriptor) []byte {
	t.Helper()
	rc, err := reg.Repository(t, repo).Blobs().Fetch(t.Context(), desc)
	if err != nil {
		t.Fatalf("fetch blob %s: %v", desc.Digest, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if digest.FromBytes(data) != desc.Digest || int64(len(data)) != desc.Size {
		t.Fatalf("blob %s: %d bytes hashing to %s, the manifest says %d", desc.Digest, len(data), digest.FromBytes(data), desc.Size)
	}
	return data
}

// remoteImage fetches and parses the manifest ref names.
func remoteImage(t *testing.T, reg *testutil.Registry, repo, ref string) (ocispec.Descriptor, ocispec.Manifest) {
	t.Helper()
	desc, raw := remoteManifest(t, reg, repo, ref)
	m, err := manifest.Parse(desc.MediaType, raw)
	if err != nil {
		t.Fatal(err)
	}
	return desc, m
}

// checkCompressedLayer checks that the registry's blob for layer is
// compressed as want says (by media type and by its bytes) and unpacks to
// the tar of diffID, and returns its size.
func checkCompressedLayer(t *testing.T, reg *testutil.Registry, repo string, layer ocispec.Descriptor, wantType, wantComp string, diffID digest.Digest) int64 {
	t.Helper()
	if layer.MediaType != wantType {
		t.Errorf("layer %s: media type %q, want %q", layer.Digest, layer.MediaType, wantType)
	}
	blob := remoteBlob(t, reg, repo, layer)
	magic := map[string][]byte{"gzip": {0x1f, 0x8b}, "zstd": {0x28, 0xb5, 0x2f, 0xfd}}[wantComp]
	if !bytes.HasPrefix(blob, magic) {
		t.Errorf("layer %s is not %s: starts % x", layer.Digest, wantComp, blob[:min(len(blob), 4)])
	}
	dr, err := archive.Decompress(bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	h := sha256.New()
	if _, err := io.Copy(h, dr); err != nil {
		t.Fatal(err)
	}
	if got := digest.NewDigest(digest.SHA256, h); got != diffID {
		t.Errorf("layer %s unpacks to %s, want diff ID %s", layer.Digest, got, diffID)
	}
	return layer.Size
}

// sameFile checks that path holds the same bytes under two roots.
func sameFile(t *testing.T, rootA, rootB, path string) {
	t.Helper()
	a, errA := os.ReadFile(filepath.Join(rootA, path))
	b, errB := os.ReadFile(filepath.Join(rootB, path))
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		t.Errorf("%s: %d bytes (%v) here, %d bytes (%v) pulled back", path, len(a), errA, len(b), errB)
	}
}

// TestPushCompressesCommit: the layer Commit stores uncompressed is pushed
// gzip-compressed (zstd with WithCompression), with the right media types,
// digests and sizes; the image pulls back into a fresh root with the same
// ID and files; a second push sends no blob and the same manifest; a push
// to another registry sends the same compressed blobs, not recompressed.
func TestPushCompressesCommit(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	if st, out, err := run(t, rt, WithName("writer"), WithCmd("sh", "-c", compressibleScript)); err != nil || st.ExitCode != 0 {
		t.Fatalf("run: %+v %v %q", st, err, out)
	}
	c, err := rt.Container(t.Context(), "writer")
	if err != nil {
		t.Fatal(err)
	}
	img, err := c.Commit(t.Context(), "committed:1")
	if err != nil {
		t.Fatal(err)
	}
	local := img.Layers()
	top := local[len(local)-1]
	if top.MediaType != ocispec.MediaTypeImageLayer || top.Digest != top.DiffID {
		t.Fatalf("committed layer %+v: want a stored uncompressed tar", top)
	}

	counts, count := testutil.CountRequests()
	uploads := newUploadLog()
	reg := testutil.StartRegistry(t, testutil.WithMiddleware(count), testutil.WithMiddleware(uploads.middleware))
	target := reg.Host + "/c/app:1"
	if err := rt.Tag(t.Context(), "committed:1", target); err != nil {
		t.Fatal(err)
	}
	var progress progressLog
	if err := rt.Push(t.Context(), target, progress.option()); err != nil {
		t.Fatal(err)
	}
	desc, m := remoteImage(t, reg, "c/app", "1")
	if done := progress.all[len(progress.all)-1]; done.Status != "Done" || done.Digest != desc.Digest || done.Total != desc.Size {
		t.Errorf("last report %+v, want Done with the manifest pushed, %s (%d bytes)", done, desc.Digest, desc.Size)
	}
	if desc.MediaType != ocispec.MediaTypeImageManifest || desc.Digest == img.Digest() || string(m.Config.Digest) != string(img.ID()) || len(m.Layers) != len(local) {
		t.Fatalf("remote manifest %s (%s), config %s, %d layers; local %s, ID %s, %d layers",
			desc.Digest, desc.MediaType, m.Config.Digest, len(m.Layers), img.Digest(), img.ID(), len(local))
	}
	for i, l := range m.Layers {
		size := checkCompressedLayer(t, reg, "c/app", l, ocispec.MediaTypeImageLayerGzip, "gzip", local[i].DiffID)
		t.Logf("layer %d: %d bytes stored uncompressed, %d bytes pushed (gzip)", i, local[i].Size, size)
	}
	if got := m.Layers[len(m.Layers)-1].Size; got*10 > top.Size {
		t.Errorf("top layer pushed as %d bytes, stored %d: not compressed enough", got, top.Size)
	}
	repoDigest := reg.Host + "/c/app@" + desc.Digest.String()
	img, err = rt.Image(t.Context(), "committed:1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(img.RepoDigests(), repoDigest) {
		t.Errorf("RepoDigests %v lack %s", img.RepoDigests(), repoDigest)
	}
	if byDigest, err := rt.Image(t.Context(), repoDigest); err != nil || byDigest.ID() != img.ID() {
		t.Errorf("Image(%s) = %v, %v", repoDigest, byDigest, err)
	}

	t.Run("second push sends nothing", func(t *testing.T) {
		blobs, _ := rt.store.Blobs()
		counts.Reset()
		uploads.reset()
		if err := rt.Push(t.Context(), target); err != nil {
			t.Fatal(err)
		}
		if n := counts.Get(testutil.BlobUpload); n != 0 || len(uploads.uploaded()) != 0 {
			t.Errorf("second push made %d upload requests (%v), want 0", n, uploads.uploaded())
		}
		if again, _ := remoteManifest(t, reg, "c/app", "1"); again.Digest != desc.Digest {
			t.Errorf("second push made manifest %s, first %s", again.Digest, desc.Digest)
		}
		if after, _ := rt.store.Blobs(); len(after) != len(blobs) {
			t.Errorf("second push stored %d blobs more", len(after)-len(blobs))
		}
	})
	t.Run("another registry gets the same blobs", func(t *testing.T) {
		other := testutil.StartRegistry(t)
		ref := other.Host + "/c/app:1"
		if err := rt.Tag(t.Context(), "committed:1", ref); err != nil {
			t.Fatal(err)
		}
		if err := rt.Push(t.Context(), ref); err != nil {
			t.Fatal(err)
		}
		if d, _ := remoteManifest(t, other, "c/app", "1"); d.Digest != desc.Digest {
			t.Errorf("other registry has manifest %s, first push %s", d.Digest, desc.Digest)
		}
	})
	t.Run("pull back", func(t *testing.T) {
		fresh := openTest(t)
		got, err := fresh.Pull(t.Context(), target)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID() != img.ID() || got.Digest() != desc.Digest {
			t.Errorf("pulled %s/%s, want %s/%s", got.Digest(), got.ID(), desc.Digest, img.ID())
		}
		here, there := mountImage(t, rt, img), mountImage(t, fresh, got)
		for _, p := range []string{"data/big.txt", "data/small", "bin/busybox"} {
			sameFile(t, here, there, p)
		}
		if l, err := os.Readlink(filepath.Join(there, "data/link")); err != nil || l != "big.txt" {
			t.Errorf("data/link -> %q (%v)", l, err)
		}
	})
	t.Run("zstd", func(t *testing.T) {
		ref := reg.Host + "/c/zstd:1"
		if err := rt.Tag(t.Context(), "committed:1", ref); err != nil {
			t.Fatal(err)
		}
		if err := rt.Push(t.Context(), ref, WithCompression(CompressionZstd)); err != nil {
			t.Fatal(err)
		}
		zdesc, zm := remoteImage(t, reg, "c/zstd", "1")
		for i, l := range zm.Layers {
			size := checkCompressedLayer(t, reg, "c/zstd", l, ocispec.MediaTypeImageLayerZstd, "zstd", local[i].DiffID)
			t.Logf("layer %d: %d bytes stored uncompressed, %d bytes pushed (zstd)", i, local[i].Size, size)
		}
		got, err := openTest(t).Pull(t.Context(), ref)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID() != img.ID() || got.Digest() != zdesc.Digest {
			t.Errorf("pulled %s/%s, want %s/%s", got.Digest(), got.ID(), zdesc.Digest, img.ID())
		}
		sameFile(t, mountImage(t, rt, img), mountImage(t, got.rt, got), "data/big.txt")
	})
	t.Run("none", func(t *testing.T) {
		ref := reg.Host + "/c/plain:1"
		if err := rt.Tag(t.Context(), "committed:1", ref); err != nil {
			t.Fatal(err)
		}
		if err := rt.Push(t.Context(), ref, WithCompression(CompressionNone)); err != nil {
			t.Fatal(err)
		}
		if d, _ := remoteManifest(t, reg, "c/plain", "1"); d.Digest != img.Digest() {
			t.Errorf("CompressionNone pushed manifest %s, stored %s", d.Digest, img.Digest())
		}
	})
}

// TestPushCompressDockerParent: a commit on a pulled Docker schema 2 image
// pushes its pulled (gzip) layers as they were and only the new layer
// compressed, with Docker's media type; with zstd the manifest becomes
// OCI, the only format with zstd layers.
func TestPushCompressDockerParent(t *testing.T) {
	t.Parallel()
	src := testutil.StartRegistry(t)
	pushed := src.Push(t, "base/app:1", twoLayerImage(t, "parent", true))
	rt := openTest(t)
	if _, err := rt.Pull(t.Context(), pushed.Ref); err != nil {
		t.Fatal(err)
	}
	st, out, err := runRef(t, rt, pushed.Ref, WithName("w"), WithCmd("sh", "-c", compressibleScript))
	if err != nil || st.ExitCode != 0 {
		t.Fatalf("run: %+v %v %q", st, err, out)
	}
	c, err := rt.Container(t.Context(), "w")
	if err != nil {
		t.Fatal(err)
	}
	img, err := c.Commit(t.Context(), src.Host+"/child/app:1")
	if err != nil {
		t.Fatal(err)
	}
	// The parent, pulled, is pushed back as it is.
	uploads := newUploadLog()
	dst := testutil.StartRegistry(t, testutil.WithMiddleware(uploads.middleware))
	if err := rt.Tag(t.Context(), pushed.Ref, dst.Host+"/base/app:1"); err != nil {
		t.Fatal(err)
	}
	if err := rt.Push(t.Context(), dst.Host+"/base/app:1"); err != nil {
		t.Fatal(err)
	}
	if d, _ := remoteManifest(t, dst, "base/app", "1"); d.Digest != pushed.ManifestDigest {
		t.Errorf("pulled image pushed as %s, pulled %s", d.Digest, pushed.ManifestDigest)
	}
	diffIDs := img.OCIConfig().RootFS.DiffIDs
	for _, tc := range []struct {
		comp                  Compression
		manifestType, topType string
		baseTypes             []string
		wantComp              string
	}{
		{CompressionGzip, testutil.MediaTypeDockerManifest, manifest.MediaTypeDockerLayer, []string{manifest.MediaTypeDockerLayer, manifest.MediaTypeDockerLayer}, "gzip"},
		{CompressionZstd, ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageLayerZstd, []string{ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerGzip}, "zstd"},
	} {
		t.Run(string(tc.comp), func(t *testing.T) {
			repo := "child/" + string(tc.comp)
			ref := dst.Host + "/" + repo + ":1"
			if err := rt.Tag(t.Context(), string(img.ID()), ref); err != nil {
				t.Fatal(err)
			}
			if err := rt.Push(t.Context(), ref, WithCompression(tc.comp)); err != nil {
				t.Fatal(err)
			}
			desc, m := remoteImage(t, dst, repo, "1")
			if desc.MediaType != tc.manifestType || len(m.Layers) != 3 {
				t.Fatalf("manifest %s: %s, %d layers", desc.Digest, desc.MediaType, len(m.Layers))
			}
			for i, l := range m.Layers[:2] {
				if l.Digest != pushed.LayerDigests[i] || l.MediaType != tc.baseTypes[i] {
					t.Errorf("base layer %d pushed as %s (%s), pulled %s", i, l.Digest, l.MediaType, pushed.LayerDigests[i])
				}
			}
			checkCompressedLayer(t, dst, repo, m.Layers[2], tc.topType, tc.wantComp, diffIDs[2])
			got, err := openTest(t).Pull(t.Context(), ref)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID() != img.ID() {
				t.Errorf("pulled ID %s, pushed %s", got.ID(), img.ID())
			}
			sameFile(t, mountImage(t, rt, img), mountImage(t, got.rt, got), "data/big.txt")
		})
	}
}

// TestPushCompressesImport: Import's layer is pushed gzip-compressed; it
// pulls back; a second push sends no blob; the compressed copy lives as
// long as the image (Prune keeps it, RemoveImage frees it).
func TestPushCompressesImport(t *testing.T) {
	t.Parallel()
	big := []byte(strings.Repeat("imported line of a compressible file\n", 100_000))
	tarball := testutil.TarBytes(t, []testutil.File{{Name: "big.txt", Body: big}, {Name: "small", Body: []byte("s")}})
	counts, count := testutil.CountRequests()
	reg := testutil.StartRegistry(t, testutil.WithMiddleware(count))
	rt := openTest(t)
	ref := reg.Host + "/imported/big:1"
	img, err := rt.Import(t.Context(), bytes.NewReader(tarball), ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Push(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	desc, m := remoteImage(t, reg, "imported/big", "1")
	if len(m.Layers) != 1 || string(m.Config.Digest) != string(img.ID()) {
		t.Fatalf("remote manifest %s: %+v", desc.Digest, m)
	}
	layer := m.Layers[0]
	size := checkCompressedLayer(t, reg, "imported/big", layer, ocispec.MediaTypeImageLayerGzip, "gzip", img.Layers()[0].DiffID)
	t.Logf("imported layer: %d bytes stored uncompressed, %d bytes pushed (gzip)", img.Layers()[0].Size, size)
	if size*10 > int64(len(tarball)) {
		t.Errorf("pushed %d bytes of a %d-byte tar", size, len(tarball))
	}

	counts.Reset()
	if err := rt.Push(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	if n := counts.Get(testutil.BlobUpload); n != 0 {
		t.Errorf("second push made %d upload requests, want 0", n)
	}

	got, err := openTest(t).Pull(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID() != img.ID() || got.Digest() != desc.Digest {
		t.Errorf("pulled %s/%s, want %s/%s", got.Digest(), got.ID(), desc.Digest, img.ID())
	}
	data, err := os.ReadFile(filepath.Join(mountImage(t, got.rt, got), "big.txt"))
	if err != nil || !bytes.Equal(data, big) {
		t.Errorf("big.txt pulled back: %d bytes (%v), want %d", len(data), err, len(big))
	}

	if _, err := rt.Prune(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, ok := rt.store.HasBlob(layer.Digest); !ok {
		t.Error("Prune removed the compressed copy of a tagged image's layer")
	}
	if _, err := rt.RemoveImage(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	if _, ok := rt.store.HasBlob(layer.Digest); ok {
		t.Error("the compressed copy outlived its image")
	}
}

func TestWithCompression(t *testing.T) {
	t.Parallel()
	for _, c := range []Compression{CompressionGzip, CompressionZstd, CompressionNone} {
		var cfg imageConfig
		if err := WithCompression(c)(&cfg); err != nil || cfg.compression != c {
			t.Errorf("WithCompression(%q): %v, %q", c, err, cfg.compression)
		}
	}
	var cfg imageConfig
	if err := WithCompression("xz")(&cfg); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("WithCompression(xz) = %v, want ErrInvalidArgument", err)
	}
}
