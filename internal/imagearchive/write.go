package imagearchive

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/hullbox/hull/internal/fsutil"
	"github.com/hullbox/hull/internal/store"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// SavedImage is one image as WriteMeta lists it.
type SavedImage struct {
	Manifest ocispec.Descriptor   // with the platform of the image
	Config   ocispec.Descriptor   // the image config
	Layers   []ocispec.Descriptor // in order, as the manifest lists them
	Names    []SavedName          // none for an untagged image
}

// SavedName is one name of a saved image, in the three spellings the
// layouts use.
type SavedName struct {
	Full     string // "docker.io/library/redis:7": io.containerd.image.name
	Tag      string // "7": org.opencontainers.image.ref.name
	Familiar string // "redis:7": RepoTags of manifest.json
}

// WriteMeta writes the directories, oci-layout, index.json (one entry
// per name, or one unnamed entry) and manifest.json of an archive holding
// imgs; the blobs follow, at BlobPath.
func WriteMeta(tw *tar.Writer, imgs []SavedImage) error {
	index := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{},
	}
	var items []ManifestItem
	for _, img := range imgs {
		item := ManifestItem{Config: BlobPath(img.Config.Digest), Layers: []string{}}
		for _, l := range img.Layers {
			item.Layers = append(item.Layers, BlobPath(l.Digest))
		}
		if len(img.Names) == 0 {
			index.Manifests = append(index.Manifests, img.Manifest)
		}
		for _, n := range img.Names {
			d := img.Manifest
			d.Annotations = map[string]string{AnnotationImageName: n.Full, ocispec.AnnotationRefName: n.Tag}
			index.Manifests = append(index.Manifests, d)
			item.RepoTags = append(item.RepoTags, n.Familiar)
		}
		items = append(items, item)
	}
	layout, err := json.Marshal(Layout{Version: LayoutVersion})
	if err != nil {
		return err
	}
	idx, err := json.Marshal(index)
	if err != nil {
		return err
	}
	man, err := json.Marshal(items)
	if err != nil {
		return err
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(Header(dir, tar.TypeDir, 0)); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{LayoutFile, layout}, {IndexFile, idx}, {ManifestFile, man}} {
		if err := tw.WriteHeader(Header(f.name, tar.TypeReg, int64(len(f.data)))); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	return nil
}

// Header is the header of an archive entry: owned by root, dated the
// epoch, so that saving the same images twice gives the same bytes.
func Header(name string, typ byte, size int64) *tar.Header {
	mode := int64(0o644)
	if typ == tar.TypeDir {
		mode = 0o755
	}
	return &tar.Header{Typeflag: typ, Name: name, Size: size, Mode: mode, ModTime: time.Unix(0, 0)}
}

// Describe reads a stored image (manifest digest m, of media type
// mediaType) as Write lists it, without names: its manifest with the
// platform of its config, its config and layers. It checks that every
// blob the image needs is stored, so that a missing one fails before
// anything is written; that error wraps fs.ErrNotExist. Manifest and
// config are read up to maxManifest and maxConfig bytes.
func Describe(st *store.Store, m digest.Digest, mediaType string, maxManifest, maxConfig int64) (SavedImage, error) {
	data, err := st.ReadBlob(m, maxManifest)
	if err != nil {
		return SavedImage{}, fmt.Errorf("image %s: manifest: %w", m, err)
	}
	var man ocispec.Manifest
	if err := json.Unmarshal(data, &man); err != nil {
		return SavedImage{}, fmt.Errorf("image %s: manifest: %w", m, err)
	}
	img := SavedImage{
		Manifest: ocispec.Descriptor{MediaType: mediaType, Digest: m, Size: int64(len(data))},
		Config:   man.Config, Layers: man.Layers,
	}
	cdata, err := st.ReadBlob(man.Config.Digest, maxConfig)
	if err != nil {
		return SavedImage{}, fmt.Errorf("image %s: config: %w", m, err)
	}
	var config ocispec.Image
	if err := json.Unmarshal(cdata, &config); err != nil {
		return SavedImage{}, fmt.Errorf("image %s: config: %w", m, err)
	}
	img.Manifest.Platform = &ocispec.Platform{OS: config.OS, Architecture: config.Architecture, Variant: config.Variant}
	for _, l := range man.Layers {
		if size, ok := st.HasBlob(l.Digest); !ok || size != l.Size {
			return SavedImage{}, fmt.Errorf("image %s: layer %s: not stored (pull the image again): %w", m, l.Digest, fs.ErrNotExist)
		}
	}
	return img, nil
}

// Write writes the archive of imgs to w: WriteMeta's files, then every
// blob of the images once, streamed from st and checked against its
// digest on the way (store.ErrDigestMismatch): a corrupted store must not
// produce an archive that only fails when loaded elsewhere.
func Write(ctx context.Context, w io.Writer, st *store.Store, imgs []SavedImage) error {
	tw := tar.NewWriter(w)
	if err := WriteMeta(tw, imgs); err != nil {
		return err
	}
	written := map[digest.Digest]bool{}
	for _, img := range imgs {
		for _, d := range append([]ocispec.Descriptor{img.Manifest, img.Config}, img.Layers...) {
			if written[d.Digest] {
				continue
			}
			written[d.Digest] = true
			if err := writeBlob(ctx, tw, st, d); err != nil {
				return fmt.Errorf("blob %s: %w", d.Digest, err)
			}
		}
	}
	return tw.Close()
}

func writeBlob(ctx context.Context, tw *tar.Writer, st *store.Store, d ocispec.Descriptor) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := st.OpenBlob(d.Digest)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(Header(BlobPath(d.Digest), tar.TypeReg, fi.Size())); err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(tw, io.TeeReader(fsutil.ContextReader(ctx, f), h), make([]byte, 1<<20)); err != nil {
		return err
	}
	if got := digest.NewDigest(digest.SHA256, h); got != d.Digest {
		return fmt.Errorf("%w: stored content hashes to %s (store corrupted)", store.ErrDigestMismatch, got)
	}
	return nil
}
