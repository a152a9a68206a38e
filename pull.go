package hull

import (
	"context"
	"fmt"
	"time"

	"github.com/hullbox/hull/internal/manifest"
	"github.com/hullbox/hull/internal/registry"
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
	desc, data, err := registry.FetchManifest(ctx, repo, target, r.Digest)
	if err != nil {
		return nil, registryError(repo.Reference.Registry, err)
	}
	var indexDigest digest.Digest
	if manifest.IsIndex(desc.MediaType) {
		indexDigest = desc.Digest
		if _, err := rt.store.WriteBlob(data, indexDigest); err != nil {
			return nil, err
		}
		child, err := manifest.ChoosePlatform(data, cfg.platform)
		if err != nil {
			return nil, manifestErr(err)
		}
		if desc, data, err = registry.FetchManifest(ctx, repo, child.Digest.String(), child.Digest); err != nil {
			return nil, registryError(repo.Reference.Registry, err)
		}
	}
	m, err := manifest.Parse(desc.MediaType, data)
	if err != nil {
		return nil, manifestErr(err)
	}
	config, cfgBytes, err := rt.fetchConfig(ctx, repo, m)
	if err != nil {
		return nil, err
	}
	chainIDs := manifest.ChainIDs(config.RootFS.DiffIDs)
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

// addImage records an image and points tag (if any) at it
// (store.Index.AddImage).
func (rt *Runtime) addImage(ctx context.Context, rec *store.ImageRecord, tag, repoDigest string) error {
	var tags []string
	if tag != "" {
		tags = []string{tag}
	}
	return rt.store.UpdateIndex(ctx, func(ix *store.Index) error {
		ix.AddImage(rec, repoDigest, tags, time.Now().UTC())
		return nil
	})
}

func (rt *Runtime) fetchConfig(ctx context.Context, repo *remote.Repository, m ocispec.Manifest) (ocispec.Image, []byte, error) {
	var img ocispec.Image
	data, err := rt.store.ReadBlob(m.Config.Digest, maxConfigSize)
	if err != nil {
		if data, err = registry.FetchSmallBlob(ctx, repo, m.Config, maxConfigSize); err != nil {
			return img, nil, fmt.Errorf("config: %w", registryError(repo.Reference.Registry, err))
		}
	}
	if img, err = manifest.ParseConfig(m.Config.Digest, data, len(m.Layers)); err != nil {
		return img, nil, manifestErr(err)
	}
	return img, data, nil
}

// manifestErr maps the refusals of internal/manifest to hull's sentinels.
func manifestErr(err error) error {
	err = alsoIs(err, manifest.ErrInvalid, ErrInvalidContent)
	err = alsoIs(err, manifest.ErrUnsupported, ErrUnsupported)
	return alsoIs(err, manifest.ErrNoPlatform, ErrNotFound)
}
