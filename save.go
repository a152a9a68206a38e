package hull

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"strings"

	"github.com/distribution/reference"
	"github.com/hullbox/hull/internal/imagearchive"
	"github.com/hullbox/hull/internal/store"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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
	rec      *store.ImageRecord
	tags     []string // normalised name:tag
	manifest ocispec.Descriptor
	layers   []ocispec.Descriptor
	config   ocispec.Descriptor
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
	for _, img := range imgs {
		if err := rt.describeForSave(img); err != nil {
			return err
		}
	}
	tw := tar.NewWriter(w)
	if err := writeArchiveMeta(tw, imgs); err != nil {
		return err
	}
	written := map[digest.Digest]bool{}
	for _, img := range imgs {
		for _, d := range append([]ocispec.Descriptor{img.manifest, img.config}, img.layers...) {
			if written[d.Digest] {
				continue
			}
			written[d.Digest] = true
			if err := rt.writeBlob(ctx, tw, d); err != nil {
				return err
			}
		}
	}
	return tw.Close()
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
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil || !reference.IsNameOnly(named) || strings.TrimSpace(ref) != ref {
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

// describeForSave reads an image's manifest and checks that every blob
// it needs is stored, so that a missing one fails before anything is
// written.
func (rt *Runtime) describeForSave(img *saveImage) error {
	data, err := rt.store.ReadBlob(img.rec.Manifest, maxManifestSize)
	if err != nil {
		return fmt.Errorf("image %s: manifest: %w", img.rec.Manifest, notFound(err))
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("image %s: manifest: %w", img.rec.Manifest, err)
	}
	img.manifest = ocispec.Descriptor{MediaType: img.rec.MediaType, Digest: img.rec.Manifest, Size: int64(len(data))}
	img.config, img.layers = m.Config, m.Layers
	cdata, err := rt.store.ReadBlob(m.Config.Digest, maxConfigSize)
	if err != nil {
		return fmt.Errorf("image %s: config: %w", img.rec.Manifest, notFound(err))
	}
	var config ocispec.Image
	if err := json.Unmarshal(cdata, &config); err != nil {
		return fmt.Errorf("image %s: config: %w", img.rec.Manifest, err)
	}
	img.manifest.Platform = &ocispec.Platform{OS: config.OS, Architecture: config.Architecture, Variant: config.Variant}
	for _, l := range m.Layers {
		if size, ok := rt.store.HasBlob(l.Digest); !ok || size != l.Size {
			return fmt.Errorf("image %s: layer %s: %w: not stored (pull the image again)", img.rec.Manifest, l.Digest, ErrNotFound)
		}
	}
	return nil
}

// writeArchiveMeta writes the directories, oci-layout, index.json and
// manifest.json (imagearchive.WriteMeta) of the images, with each name
// spelled as each layout wants it.
func writeArchiveMeta(tw *tar.Writer, imgs []*saveImage) error {
	out := make([]imagearchive.SavedImage, 0, len(imgs))
	for _, img := range imgs {
		si := imagearchive.SavedImage{Manifest: img.manifest, Config: img.config, Layers: img.layers}
		for _, t := range img.tags {
			r, err := ParseReference(t)
			if err != nil {
				return err
			}
			si.Names = append(si.Names, imagearchive.SavedName{Full: t, Tag: r.Tag, Familiar: r.Familiar()})
		}
		out = append(out, si)
	}
	return imagearchive.WriteMeta(tw, out)
}

// writeBlob streams one stored blob into the archive, checking it against
// its digest on the way: a corrupted store must not produce an archive
// that only fails when loaded elsewhere.
func (rt *Runtime) writeBlob(ctx context.Context, tw *tar.Writer, d ocispec.Descriptor) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := rt.store.OpenBlob(d.Digest)
	if err != nil {
		return fmt.Errorf("blob %s: %w", d.Digest, notFound(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(imagearchive.Header(imagearchive.BlobPath(d.Digest), tar.TypeReg, fi.Size())); err != nil {
		return err
	}
	h := sha256.New()
	buf := make([]byte, 1<<20)
	if _, err := io.CopyBuffer(tw, io.TeeReader(&ctxReader{ctx, f}, h), buf); err != nil {
		return fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	if got := digest.NewDigest(digest.SHA256, h); got != d.Digest {
		return fmt.Errorf("blob %s: %w: stored content hashes to %s (store corrupted)", d.Digest, store.ErrDigestMismatch, got)
	}
	return nil
}

// notFound makes a blob missing from the store an ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// ctxReader stops a long copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
