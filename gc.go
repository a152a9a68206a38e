package hull

import (
	"context"
	"fmt"
	"slices"

	"github.com/hullbox/hull/internal/layers"
	"github.com/hullbox/hull/internal/store"
	digest "github.com/opencontainers/go-digest"
)

// RemoveImageReport says what RemoveImage did, in the terms `docker rmi`
// prints.
type RemoveImageReport struct {
	Untagged []string // tags removed (short form)
	Deleted  []string // image IDs deleted
}

// RemoveImage removes a tag or an image, like `docker rmi`. Naming one of
// several tags of an image removes only that tag. Naming the last tag, a
// digest or an ID removes the image and frees the content no other image
// shares. It refuses with ErrConflict while a container uses the image, or
// when an ID names an image with several tags, unless WithForce is given.
func (rt *Runtime) RemoveImage(ctx context.Context, ref string, opts ...RemoveOption) (RemoveImageReport, error) {
	var rep RemoveImageReport
	if err := rt.checkOpen(); err != nil {
		return rep, err
	}
	cfg, err := removeOptions(opts)
	if err != nil {
		return rep, fmt.Errorf("remove image %s: %w", ref, err)
	}
	if cfg.volumes {
		return rep, fmt.Errorf("remove image %s: %w: WithRemoveVolumes is for containers", ref, ErrInvalidArgument)
	}
	holds, err := rt.store.Holds()
	if err != nil {
		return rep, err
	}
	var imageID digest.Digest
	err = rt.store.UpdateIndex(ctx, func(ix *store.Index) error {
		rep = RemoveImageReport{}
		rec, tag, err := resolve(ix, ref)
		if err != nil {
			return err
		}
		imageID = rec.Config
		tags := ix.TagsOf(rec.Manifest)
		if tag != "" && len(tags) > 1 {
			delete(ix.Tags, tag)
			rep.Untagged = append(rep.Untagged, familiarName(tag))
			return nil
		}
		if !cfg.force {
			for _, h := range holds {
				if h.Image == rec.Manifest {
					return fmt.Errorf("%w: image %s is in use by container %s", ErrConflict, ref, h.ID)
				}
			}
			if tag == "" && len(tags) > 1 {
				return fmt.Errorf("%w: image %s is tagged in %d repositories (remove the tags, or force)", ErrConflict, ref, len(tags))
			}
		}
		for _, t := range tags {
			delete(ix.Tags, t)
			rep.Untagged = append(rep.Untagged, familiarName(t))
		}
		delete(ix.Images, rec.Manifest)
		rep.Deleted = append(rep.Deleted, rec.Config.String())
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("remove image %s: %w", ref, err)
	}
	for _, t := range rep.Untagged {
		rt.events.emit(EventImage, "untag", imageID.String(), t, nil)
	}
	for _, d := range rep.Deleted {
		rt.events.emit(EventImage, "delete", d, ref, nil)
	}
	if len(rep.Deleted) > 0 {
		// Free the content now if no pull is under way; Prune gets it
		// otherwise.
		if _, err := rt.collect(ctx, false); err != nil {
			return rep, fmt.Errorf("remove image %s: free content: %w", ref, err)
		}
	}
	return rep, nil
}

// ImagePruneReport says what Prune removed.
type ImagePruneReport struct {
	ImagesDeleted  []string // IDs of the dangling images removed
	SpaceReclaimed int64    // bytes of blobs and unpacked layers freed
}

// Prune removes dangling images (no tag and no repository digest) that no
// container uses, then every blob and unpacked layer no image or container
// references, and reports the bytes freed. The step images of a build
// (Build's cache) are kept while a tagged image was built on them; the
// rest of the build cache goes with the images it named. It waits for
// pulls under way to finish first.
func (rt *Runtime) Prune(ctx context.Context) (ImagePruneReport, error) {
	var rep ImagePruneReport
	if err := rt.checkOpen(); err != nil {
		return rep, err
	}
	holds, err := rt.store.Holds()
	if err != nil {
		return rep, err
	}
	held := map[digest.Digest]bool{}
	for _, h := range holds {
		held[h.Image] = true
	}
	cache := rt.buildCacheEntries() // build_image.go
	err = rt.store.UpdateIndex(ctx, func(ix *store.Index) error {
		rep.ImagesDeleted = nil
		dangling := func(d digest.Digest, rec *store.ImageRecord) bool {
			return len(ix.TagsOf(d)) == 0 && len(rec.RepoDigests) == 0 && !held[d]
		}
		var kept [][]digest.Digest
		for d, rec := range ix.Images {
			if !dangling(d, rec) {
				kept = append(kept, rec.ChainIDs)
			}
		}
		for d, rec := range ix.Images {
			// A build's step images stay while an image that is kept
			// was built on them (its layers start with theirs): they
			// are its build cache, as Docker keeps a legacy build's
			// intermediate images, which are no image's dangling ones.
			if !dangling(d, rec) || len(cache[d]) > 0 && slices.ContainsFunc(kept, func(c []digest.Digest) bool { return isPrefix(rec.ChainIDs, c) }) {
				continue
			}
			delete(ix.Images, d)
			rep.ImagesDeleted = append(rep.ImagesDeleted, rec.Config.String())
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("prune: %w", err)
	}
	if err := rt.dropBuildCache(cache); err != nil {
		return rep, fmt.Errorf("prune: build cache: %w", err)
	}
	rep.SpaceReclaimed, err = rt.collect(ctx, true)
	if err != nil {
		return rep, fmt.Errorf("prune: %w", err)
	}
	return rep, nil
}

// collect deletes blobs and snapshots that no image and no hold
// reference (layers.Collect).
func (rt *Runtime) collect(ctx context.Context, wait bool) (int64, error) {
	return layers.Collect(ctx, rt.store, rt.snaps, maxManifestSize, wait)
}

// isPrefix reports whether chain a is b or the start of it.
func isPrefix(a, b []digest.Digest) bool {
	return len(a) <= len(b) && slices.Equal(a, b[:len(a)])
}
