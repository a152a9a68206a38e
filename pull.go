package hull

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/hullbox/hull/internal/store"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
)

// Pull fetches an image from its registry and unpacks it, like `docker
// pull`. ref is normalised as Docker does ("redis" is
// docker.io/library/redis:latest). Manifest lists and OCI indexes resolve to
// the host's platform unless WithPlatform says otherwise. Layers are
// fetched concurrently and streamed through digest check, decompression
// and unpacking with no temp copy; blobs and layers already stored are not
// fetched again. Registries other than localhost and those named by
// WithInsecureRegistry are reached over TLS.
//
// Errors wrap ErrInvalidReference, ErrNotFound, ErrUnauthorized (a
// *RegistryError), ErrInvalidContent (content not matching its digest, or
// a hostile layer) or ErrUnsupported. A failed pull leaves nothing behind.
func (rt *Runtime) Pull(ctx context.Context, ref string, opts ...ImageOption) (*Image, error) {
	if err := rt.checkOpen(); err != nil {
		return nil, err
	}
	cfg, err := imageOptions("Pull", opts, "WithProgress", "WithPlatform")
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	r, err := ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	img, err := rt.pull(ctx, r, cfg)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", r.Familiar(), err)
	}
	rt.events.emit(EventImage, "pull", img.ID(), r.Familiar(), nil)
	return img, nil
}

func (rt *Runtime) pull(ctx context.Context, r Reference, cfg *imageConfig) (*Image, error) {
	// Content written by this pull must survive a concurrent prune until
	// the index references it.
	gcLock, err := rt.store.Writing(ctx)
	if err != nil {
		return nil, err
	}
	defer gcLock.Unlock()

	rep := newReporter(cfg.progress, r.Familiar())
	repo, err := rt.repository(r)
	if err != nil {
		return nil, err
	}
	target := r.Tag
	if r.Digest != "" {
		target = r.Digest.String()
	}
	rep.send(Progress{ID: target, Status: "Resolving"})
	desc, data, err := fetchManifest(ctx, repo, target, r.Digest)
	if err != nil {
		return nil, err
	}
	var indexDigest digest.Digest
	if isIndex(desc.MediaType) {
		indexDigest = desc.Digest
		if _, err := rt.store.WriteBlob(data, indexDigest); err != nil {
			return nil, err
		}
		child, err := choosePlatform(data, cfg.platform)
		if err != nil {
			return nil, err
		}
		if desc, data, err = fetchManifest(ctx, repo, child.Digest.String(), child.Digest); err != nil {
			return nil, err
		}
	}
	m, err := parseManifest(desc.MediaType, data)
	if err != nil {
		return nil, err
	}
	config, cfgBytes, err := rt.fetchConfig(ctx, repo, m)
	if err != nil {
		return nil, err
	}
	chainIDs := chainIDs(config.RootFS.DiffIDs)
	size, err := rt.fetchLayers(ctx, repo, m.Layers, config.RootFS.DiffIDs, chainIDs, rep)
	if err != nil {
		return nil, err
	}
	for _, b := range [][]byte{cfgBytes, data} {
		if _, err := rt.store.WriteBlob(b, ""); err != nil {
			return nil, err
		}
	}
	rec := &store.ImageRecord{
		Manifest:  desc.Digest,
		MediaType: desc.MediaType,
		Config:    m.Config.Digest,
		ChainIDs:  chainIDs,
		Index:     indexDigest,
		Size:      size,
	}
	for _, l := range m.Layers {
		rec.Layers = append(rec.Layers, l.Digest)
	}
	repoDigest := r.Name() + "@" + desc.Digest.String()
	if indexDigest != "" {
		repoDigest = r.Name() + "@" + indexDigest.String()
	}
	tag := ""
	if r.Digest == "" {
		tag = r.tagged()
	}
	if err := rt.addImage(ctx, rec, tag, repoDigest); err != nil {
		return nil, err
	}
	rep.send(Progress{ID: desc.Digest.Encoded()[:12], Status: "Done"})
	return rt.imageByDigest(desc.Digest)
}

// addImage records an image and points tag (if any) at it.
func (rt *Runtime) addImage(ctx context.Context, rec *store.ImageRecord, tag, repoDigest string) error {
	now := time.Now().UTC()
	return rt.store.UpdateIndex(ctx, func(ix *store.Index) error {
		if old := ix.Images[rec.Manifest]; old != nil {
			rec.RepoDigests = old.RepoDigests
			rec.Added = old.Added
			if rec.Index == "" {
				rec.Index = old.Index
			}
		} else {
			rec.Added = now
		}
		if repoDigest != "" && !slices.Contains(rec.RepoDigests, repoDigest) {
			rec.RepoDigests = append(rec.RepoDigests, repoDigest)
		}
		ix.Images[rec.Manifest] = rec
		if tag != "" {
			ix.SetTag(tag, rec.Manifest, now)
		}
		return nil
	})
}

func isIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == mediaTypeDockerManifestList
}

func parseManifest(mediaType string, data []byte) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	switch mediaType {
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
	case mediaTypeDockerSchema1, "application/vnd.docker.distribution.manifest.v1+json":
		return m, fmt.Errorf("%w: Docker schema1 manifests are deprecated and not supported; push the image again with a current client", ErrUnsupported)
	default:
		return m, fmt.Errorf("%w: manifest media type %q", ErrUnsupported, mediaType)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("%w: manifest: %v", ErrInvalidContent, err)
	}
	if m.MediaType != "" && m.MediaType != mediaType {
		return m, fmt.Errorf("%w: manifest says media type %q, registry said %q", ErrInvalidContent, m.MediaType, mediaType)
	}
	switch m.Config.MediaType {
	case ocispec.MediaTypeImageConfig, mediaTypeDockerConfig:
	default:
		return m, fmt.Errorf("%w: config media type %q is not an image", ErrUnsupported, m.Config.MediaType)
	}
	for _, l := range m.Layers {
		if _, err := layerCompression(l.MediaType); err != nil {
			return m, err
		}
		if err := l.Digest.Validate(); err != nil {
			return m, fmt.Errorf("%w: layer digest %q: %v", ErrInvalidContent, l.Digest, err)
		}
	}
	return m, m.Config.Digest.Validate()
}

// layerCompression checks a layer media type; the stream itself is sniffed
// when unpacked, so the name is only validated here.
func layerCompression(mt string) (string, error) {
	switch mt {
	case ocispec.MediaTypeImageLayer, "application/vnd.docker.image.rootfs.diff.tar":
		return "", nil
	case ocispec.MediaTypeImageLayerGzip, mediaTypeDockerLayer:
		return "gzip", nil
	case ocispec.MediaTypeImageLayerZstd:
		return "zstd", nil
	}
	return "", fmt.Errorf("%w: layer media type %q", ErrUnsupported, mt)
}

func (rt *Runtime) fetchConfig(ctx context.Context, repo *remote.Repository, m ocispec.Manifest) (ocispec.Image, []byte, error) {
	var img ocispec.Image
	data, err := rt.store.ReadBlob(m.Config.Digest, maxConfigSize)
	if err != nil {
		if data, err = fetchSmallBlob(ctx, repo, m.Config, maxConfigSize); err != nil {
			return img, nil, fmt.Errorf("config: %w", err)
		}
	}
	if err := json.Unmarshal(data, &img); err != nil {
		return img, nil, fmt.Errorf("%w: config %s: %v", ErrInvalidContent, m.Config.Digest, err)
	}
	if len(img.RootFS.DiffIDs) != len(m.Layers) {
		return img, nil, fmt.Errorf("%w: config lists %d layers, manifest %d", ErrInvalidContent, len(img.RootFS.DiffIDs), len(m.Layers))
	}
	for _, d := range img.RootFS.DiffIDs {
		if err := d.Validate(); err != nil {
			return img, nil, fmt.Errorf("%w: config diff ID %q: %v", ErrInvalidContent, d, err)
		}
	}
	return img, data, nil
}

// chainIDs computes the OCI chain ID of each layer prefix.
func chainIDs(diffIDs []digest.Digest) []digest.Digest {
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

// hostPlatform is the platform images are chosen for by default.
func hostPlatform() ocispec.Platform {
	p := ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	switch runtime.GOARCH {
	case "arm64":
		p.Variant = "v8"
	case "arm":
		p.Variant = "v7"
	}
	return p
}

func platformMatches(want, have ocispec.Platform) bool {
	if want.OS != have.OS || want.Architecture != have.Architecture {
		return false
	}
	if want.Variant == "" || want.Variant == have.Variant {
		return true
	}
	// arm64 manifests often omit the (only) variant.
	return want.Architecture == "arm64" && want.Variant == "v8" && have.Variant == ""
}

func choosePlatform(data []byte, want *ocispec.Platform) (ocispec.Descriptor, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%w: index: %v", ErrInvalidContent, err)
	}
	p := hostPlatform()
	if want != nil {
		p = *want
	}
	for _, d := range idx.Manifests {
		if d.Platform != nil && platformMatches(p, *d.Platform) {
			if err := d.Digest.Validate(); err != nil {
				return d, fmt.Errorf("%w: index entry digest %q: %v", ErrInvalidContent, d.Digest, err)
			}
			return d, nil
		}
	}
	name := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		name += "/" + p.Variant
	}
	return ocispec.Descriptor{}, fmt.Errorf("%w: no image for platform %s in the manifest list", ErrNotFound, name)
}
