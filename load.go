package hull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/hullbox/hull/internal/archive"
	"github.com/hullbox/hull/internal/imagearchive"
	"github.com/hullbox/hull/internal/layers"
	"github.com/hullbox/hull/internal/store"
	digest "github.com/opencontainers/go-digest"
)

// Load reads an image archive from r and stores its images, like `docker
// load`, returning them in the order the archive lists them. The archive
// may be gzip or zstd compressed. Both layouts are understood, and
// detected: an OCI image layout (index.json; a nested index or manifest
// list resolves to the host's platform, see WithPlatform), and the
// docker save format (manifest.json; the layer files may be compressed
// blobs, as Docker 25 and later write them, or the uncompressed
// <id>/layer.tar of older Docker and of skopeo's docker-archive). An
// archive holding both, as Save writes, is read as OCI.
//
// Tags come from the archive: io.containerd.image.name (or a ref.name
// that is a whole reference) in the OCI layout, RepoTags in manifest.json.
// A tag already pointing elsewhere moves to the loaded image, as in
// Docker; untagged images are found by ID or digest. The images of a
// docker save archive get a Docker schema2 manifest made from its layers
// (an OCI one if a layer is zstd compressed); those of an OCI layout keep
// theirs, so IDs and digests are those of the saved images.
//
// Archives are hostile until verified: blobs must hash to their names,
// every layer must hash to the diff ID its config lists, names must stay
// inside the archive (links included), metadata sizes are bounded. A bad
// archive returns an error wrapping ErrInvalidContent (ErrUnsupported for
// content hull cannot use) and leaves the store as it was; content
// written meanwhile is removed, or, if another process is adding content
// at that moment, left unreferenced for Prune.
func (rt *Runtime) Load(ctx context.Context, r io.Reader, opts ...ImageOption) ([]*Image, error) {
	if err := rt.checkOpen(); err != nil {
		return nil, err
	}
	cfg, err := imageOptions("Load", opts, "WithPlatform")
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	imgs, err := rt.loadArchive(ctx, r, cfg)
	if err != nil {
		return nil, fmt.Errorf("load: %w", archiveErr(err))
	}
	return imgs, nil
}

func (rt *Runtime) loadArchive(ctx context.Context, r io.Reader, cfg *imageConfig) (_ []*Image, retErr error) {
	dr, err := archive.Decompress(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidContent, err)
	}
	defer dr.Close()
	// Content written by this load must survive a concurrent prune until
	// the index references it.
	gcLock, err := rt.store.Writing(ctx)
	if err != nil {
		return nil, err
	}
	defer gcLock.Unlock()
	stage := imagearchive.NewStage(rt.store, maxManifestSize, maxConfigSize)
	var newSnaps []digest.Digest
	defer func() {
		if retErr == nil {
			return
		}
		gcLock.Unlock()
		// The store must look as before: drop what this load added.
		if err := rt.discard(ctx, stage.Added(), newSnaps); err != nil {
			retErr = errors.Join(retErr, fmt.Errorf("remove what the failed load stored: %w", err))
		}
	}()
	if err := stage.Read(ctx, dr); err != nil {
		return nil, err
	}
	found, err := stage.Plan(cfg.platform, imagearchive.Tagger{RepoTag: repoTag, EntryTag: entryTag})
	if err != nil {
		return nil, err
	}
	plans := make([]*loadPlan, len(found))
	for i, p := range found {
		plans[i] = &loadPlan{Plan: p}
	}
	for _, p := range plans {
		for _, c := range p.Chains {
			if !rt.snaps.Exists(c) && !slices.Contains(newSnaps, c) {
				newSnaps = append(newSnaps, c)
			}
		}
	}
	verified := map[digest.Digest]digest.Digest{} // layer blob -> diff ID
	for _, p := range plans {
		if err := rt.unpackPlan(ctx, p, verified); err != nil {
			return nil, fmt.Errorf("image %s: %w", p.Manifest, err)
		}
		if p.Data != nil {
			if err := stage.AddBlob(p.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := rt.addLoaded(ctx, plans); err != nil {
		return nil, err
	}
	gcLock.Unlock()
	// Whatever the archive held beyond the images (legacy json files, other
	// platforms' manifests) is unreferenced now. Best effort: what stays is
	// Prune's.
	_ = rt.discard(ctx, unused(stage.Added(), plans), nil)
	out := make([]*Image, 0, len(plans))
	for _, p := range plans {
		img, err := rt.imageByDigest(p.Manifest)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

// loadPlan is one image Load found in the archive, checked
// (imagearchive.Plan), and the bytes its layers take unpacked.
type loadPlan struct {
	*imagearchive.Plan
	size int64
}

// unused returns the blobs of added that no image of plans references.
func unused(added map[digest.Digest]bool, plans []*loadPlan) map[digest.Digest]bool {
	out := maps.Clone(added)
	for _, p := range plans {
		delete(out, p.Manifest)
		delete(out, p.ConfigDigest)
		delete(out, p.Index)
		for _, l := range p.Layers {
			delete(out, l.Digest)
		}
	}
	return out
}

// unpackPlan makes the snapshots of an image's layers. Layers already
// unpacked are not unpacked again, but their blobs are still checked
// against the config's diff IDs (once per load): the archive, not the
// store, says which blob is which layer. verified records the pairs
// checked.
func (rt *Runtime) unpackPlan(ctx context.Context, p *loadPlan, verified map[digest.Digest]digest.Digest) error {
	diffIDs := p.Config.RootFS.DiffIDs
	for i, l := range p.Layers {
		if verified[l.Digest] != diffIDs[i] && rt.snaps.Exists(p.Chains[i]) {
			if err := layers.CheckDiffID(ctx, rt.store, l.Digest, diffIDs[i]); err != nil {
				return fmt.Errorf("layer %s: %w", l.Digest, alsoIs(err, layers.ErrInvalidContent, ErrInvalidContent))
			}
		}
	}
	size, err := rt.fetchLayers(ctx, nil, p.Layers, diffIDs, p.Chains, newReporter(nil, ""))
	if err != nil {
		return err
	}
	for i, l := range p.Layers {
		verified[l.Digest] = diffIDs[i] // unpacking checked the others
	}
	p.size = size
	return nil
}

// addLoaded records the images and points their tags at them, all in one
// index update (store.Index.AddImage).
func (rt *Runtime) addLoaded(ctx context.Context, plans []*loadPlan) error {
	now := time.Now().UTC()
	return rt.store.UpdateIndex(ctx, func(ix *store.Index) error {
		for _, p := range plans {
			rec := &store.ImageRecord{
				Manifest:  p.Manifest,
				MediaType: p.MediaType,
				Config:    p.ConfigDigest,
				ChainIDs:  p.Chains,
				Index:     p.Index,
				Size:      p.size,
			}
			for _, l := range p.Layers {
				rec.Layers = append(rec.Layers, l.Digest)
			}
			ix.AddImage(rec, "", p.Tags, now)
		}
		return nil
	})
}

// discard deletes blobs and snapshots a load added that nothing
// references (layers.Discard).
func (rt *Runtime) discard(ctx context.Context, blobs map[digest.Digest]bool, snaps []digest.Digest) error {
	return layers.Discard(ctx, rt.store, rt.snaps, maxManifestSize, blobs, snaps)
}
