package hull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"strings"

	"github.com/hullbox/hull/internal/imagearchive"
	"github.com/hullbox/hull/internal/imageref"
	"github.com/hullbox/hull/internal/store"
	digest "github.com/opencontainers/go-digest"
)

// Save writes the images refs name to w as one tar archive, like `docker
// save`. Each ref is a tag ("redis:7"), a repository without a tag (all its
// tags, as Docker does), a digest reference or an image ID; images named
// several times are written once.
//
// The archive holds both layouts at once, the way Docker 25 and later
// write it: an OCI image layout (oci-layout, index.json with one entry per
// name, annotated org.opencontainers.image.ref.name and
// io.containerd.image.name) and the docker save manifest.json, both
// pointing at the same blobs/sha256 files. `docker load`, `skopeo copy
// docker-archive:` and `skopeo copy oci-archive:` accept it, and so does
// Load. Manifests, configs and layer blobs are written exactly as stored
// (layers stay compressed), so image IDs and digests survive the trip;
// blobs shared by several images are written once. Metadata comes first,
// then the blobs, streamed from the store without temp copies.
//
// Errors wrap ErrNotFound (an unknown ref, or content missing from the
// store), ErrInvalidReference or ErrInvalidArgument (no refs). Nothing is
// written to w before every image is found; on an error after that, w
// holds a partial archive that the caller discards.
func (rt *Runtime) Save(ctx context.Context, w io.Writer, refs ...string) error {
	if err := rt.checkOpen(); err != nil {
		return err
	}
	if len(refs) == 0 {
		return fmt.Errorf("save: %w: no image named", ErrInvalidArgument)
	}
	if err := rt.save(ctx, w, refs); err != nil {
		return fmt.Errorf("save %s: %w", strings.Join(refs, " "), err)
	}
	return nil
}

// saveImage is one image of an archive being saved.
type saveImage struct {
	rec  *store.ImageRecord
	tags []string // normalised name:tag
}

func (rt *Runtime) save(ctx context.Context, w io.Writer, refs []string) error {
	// Shared with pulls: a concurrent prune must not free blobs being
	// written out.
	gcLock, err := rt.store.Writing(ctx)
	if err != nil {
		return err
	}
	defer gcLock.Unlock()
	ix, err := rt.store.ReadIndex()
	if err != nil {
		return err
	}
	imgs, err := selectImages(ix, refs)
	if err != nil {
		return err
	}
	saved := make([]imagearchive.SavedImage, len(imgs))
	for i, img := range imgs {
		if saved[i], err = imagearchive.Describe(rt.store, img.rec.Manifest, img.rec.MediaType, maxManifestSize, maxConfigSize); err != nil {
			return notFound(err)
		}
		// Each name spelt as each layout wants it.
		for _, t := range img.tags {
			r, err := ParseReference(t)
			if err != nil {
				return err
			}
			saved[i].Names = append(saved[i].Names, imagearchive.SavedName{Full: t, Tag: r.Tag, Familiar: r.Familiar()})
		}
	}
	return notFound(imagearchive.Write(ctx, w, rt.store, saved))
}

// selectImages resolves refs against the index, in the order given; an
// image named several times appears once, with every tag that named it.
func selectImages(ix *store.Index, refs []string) ([]*saveImage, error) {
	var out []*saveImage
	byDigest := map[digest.Digest]*saveImage{}
	add := func(rec *store.ImageRecord, tag string) {
		img := byDigest[rec.Manifest]
		if img == nil {
			img = &saveImage{rec: rec}
			byDigest[rec.Manifest] = img
			out = append(out, img)
		}
		if tag != "" && !slices.Contains(img.tags, tag) {
			img.tags = append(img.tags, tag)
		}
	}
	for _, ref := range refs {
		if tags := repositoryTags(ix, ref); len(tags) > 0 {
			for _, t := range tags {
				add(ix.Images[ix.Tags[t].Digest], t)
			}
			continue
		}
		rec, tag, err := resolve(ix, ref)
		if err != nil {
			return nil, err
		}
		add(rec, tag)
	}
	return out, nil
}

// repositoryTags returns, sorted, the tags of the repository ref names
// when ref is a bare repository name ("redis"): `docker save redis` saves
// every tag of redis.
func repositoryTags(ix *store.Index, ref string) []string {
	named, err := imageref.ParseNormalized(ref)
	if err != nil || !named.NameOnly() || strings.TrimSpace(ref) != ref {
		return nil
	}
	prefix := named.Name() + ":"
	var out []string
	for t, rec := range ix.Tags {
		if strings.HasPrefix(t, prefix) && ix.Images[rec.Digest] != nil {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// notFound makes a blob missing from the store an ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}
