package hull

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/hullbox/hull/internal/archive"
	"github.com/hullbox/hull/internal/layers"
	"github.com/hullbox/hull/internal/manifest"
	"github.com/hullbox/hull/internal/snapshot"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Import creates a one-layer image from a root filesystem tar stream
// (plain, gzip or zstd), like `docker import`, and tags it ref (which may
// be empty for an untagged image). The stream is unpacked as it is read;
// a malformed or hostile tar returns an error wrapping ErrInvalidContent
// and stores nothing. The layer is stored uncompressed, as Commit's;
// Push compresses it.
func (rt *Runtime) Import(ctx context.Context, r io.Reader, ref string, opts ...ImageOption) (*Image, error) {
	if err := rt.checkOpen(); err != nil {
		return nil, err
	}
	cfg, err := imageOptions("Import", opts, "WithPlatform", "WithImportConfig", "WithImportMessage")
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	tag, err := optionalTag(ref)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	img, err := rt.importLayer(ctx, r, tag, cfg)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", ref, err)
	}
	rt.events.emit(EventImage, "import", img.ID(), ref, nil)
	return img, nil
}

func (rt *Runtime) importLayer(ctx context.Context, r io.Reader, tag string, cfg *imageConfig) (*Image, error) {
	gcLock, err := rt.store.Writing(ctx)
	if err != nil {
		return nil, err
	}
	defer gcLock.Unlock()

	dr, err := archive.Decompress(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidContent, err)
	}
	defer dr.Close()
	// The layer is stored uncompressed: its digest is its diff ID.
	added, err := layers.Add(ctx, rt.store, rt.snaps, dr, true)
	if err != nil {
		return nil, alsoIs(err, layers.ErrInvalidContent, ErrInvalidContent)
	}
	defer added.Pending.Abort()
	diffID, size, res := added.DiffID, added.Size, added.Result
	if err := added.Pending.Commit(snapshot.Meta{ChainID: diffID, DiffID: diffID, Size: res.Size}); err != nil {
		return nil, err
	}

	now := time.Now().UTC()
	platform := manifest.HostPlatform()
	if cfg.platform != nil {
		platform = *cfg.platform
	}
	config := ocispec.Image{
		Created:  &now,
		Platform: platform,
		Config:   cfg.config,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
		History:  []ocispec.History{{Created: &now, CreatedBy: "hull import", Comment: cfg.comment}},
	}
	if platform.Architecture == "arm64" && platform.Variant == "v8" {
		config.Variant = ""
	}
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: diffID, Size: size}
	rec, err := rt.store.WriteImage(ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, config, []ocispec.Descriptor{layer}, []digest.Digest{diffID}, res.Size)
	if err != nil {
		return nil, err
	}
	if err := rt.addImage(ctx, rec, tag, ""); err != nil {
		return nil, err
	}
	return rt.imageByDigest(rec.Manifest)
}

// optionalTag normalises ref ("" allowed: no tag) into "domain/path:tag";
// a digest reference cannot name a tag.
func optionalTag(ref string) (string, error) {
	if ref == "" {
		return "", nil
	}
	pr, err := ParseReference(ref)
	if err != nil {
		return "", err
	}
	if pr.Digest != "" {
		return "", fmt.Errorf("%w: %q: cannot tag with a digest", ErrInvalidReference, ref)
	}
	return pr.tagged(), nil
}
