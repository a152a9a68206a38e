package hull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hullbox/hull/internal/store"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Image is a stored image: one platform's manifest, its configuration and
// its layers. It is a snapshot taken when it was looked up; tags moved
// later are not reflected (look it up again).
type Image struct {
	rt       *Runtime
	rec      store.ImageRecord
	tags     []string // normalised, sorted
	manifest ocispec.Manifest
	config   ocispec.Image
	health   *Healthcheck // the config's HEALTHCHECK (Docker's field, not OCI's), nil for none
}

// ID returns the image ID, as Docker shows it: "sha256:" and the 64 hex
// digits of the digest of its configuration. Like every ID in the API it
// is a string; Digest and Layer's digests are content addresses.
func (i *Image) ID() string { return i.rec.Config.String() }

// Digest returns the digest of the image's manifest.
func (i *Image) Digest() digest.Digest { return i.rec.Manifest }

// RepoTags returns the tags pointing at the image, in Docker's short form
// ("redis:7").
func (i *Image) RepoTags() []string {
	out := make([]string, len(i.tags))
	for k, t := range i.tags {
		out[k] = familiarName(t)
	}
	return out
}

// RepoDigests returns "name@digest" for each repository the image was
// pulled from or pushed to, in Docker's short form.
func (i *Image) RepoDigests() []string {
	out := make([]string, len(i.rec.RepoDigests))
	for k, t := range i.rec.RepoDigests {
		out[k] = familiarName(t)
	}
	return out
}

// Config returns the image's run configuration (Cmd, Env, Entrypoint...).
func (i *Image) Config() ocispec.ImageConfig { return i.config.Config }

// OCIConfig returns the whole OCI image configuration.
func (i *Image) OCIConfig() ocispec.Image { return i.config }

// Platform returns the image's os/architecture.
func (i *Image) Platform() ocispec.Platform { return i.config.Platform }

// Created returns when the image was built (zero if the image does not
// say).
func (i *Image) Created() time.Time {
	if i.config.Created == nil {
		return time.Time{}
	}
	return *i.config.Created
}

// History returns the build history of the image, oldest first.
func (i *Image) History() []ocispec.History { return slices.Clone(i.config.History) }

// Size returns the unpacked size of the image's layers in bytes.
func (i *Image) Size() int64 { return i.rec.Size }

// Layers returns the image's layers, bottom first.
func (i *Image) Layers() []Layer {
	out := make([]Layer, len(i.manifest.Layers))
	for k, l := range i.manifest.Layers {
		out[k] = Layer{Digest: l.Digest, MediaType: l.MediaType, Size: l.Size}
		if k < len(i.config.RootFS.DiffIDs) {
			out[k].DiffID = i.config.RootFS.DiffIDs[k]
		}
		if k < len(i.rec.ChainIDs) {
			out[k].ChainID = i.rec.ChainIDs[k]
		}
	}
	return out
}

// ImageInspect is the JSON form of an image, with the field names of
// `docker image inspect`.
type ImageInspect struct {
	ID           string              `json:"Id"`                // Image.ID
	RepoTags     []string            `json:"RepoTags"`          // "name:tag"s
	RepoDigests  []string            `json:"RepoDigests"`       // "name@sha256:..."s of registries it came from or went to
	Created      string              `json:"Created"`           // RFC 3339 with nanoseconds; empty if the config has no date
	Author       string              `json:"Author"`            // the config's
	Architecture string              `json:"Architecture"`      // the platform's: "amd64"
	Variant      string              `json:"Variant,omitempty"` // the platform's: "v8"
	Os           string              `json:"Os"`                // the platform's: "linux"
	Size         int64               `json:"Size"`              // Image.Size: unpacked bytes
	Config       ocispec.ImageConfig `json:"Config"`            // the image's run configuration
	RootFS       InspectRootFS       `json:"RootFS"`            // its layers' diff IDs
	Descriptor   ocispec.Descriptor  `json:"Descriptor"`        // its manifest's media type, digest and size
}

// InspectRootFS lists an image's layers by diff ID, as Docker does.
type InspectRootFS struct {
	Type   string   `json:"Type"`   // "layers"
	Layers []string `json:"Layers"` // diff IDs, bottom layer first
}

// Inspect returns the image in the form `docker image inspect` prints. It
// fails with ErrNotFound if the image's content has been removed.
func (i *Image) Inspect(ctx context.Context) (ImageInspect, error) {
	if err := ctx.Err(); err != nil {
		return ImageInspect{}, fmt.Errorf("inspect image %s: %w", i.rec.Config, err)
	}
	fi, err := os.Stat(i.rt.store.BlobPath(i.rec.Manifest))
	if errors.Is(err, fs.ErrNotExist) {
		return ImageInspect{}, fmt.Errorf("inspect image %s: %w", i.rec.Config, ErrNotFound)
	} else if err != nil {
		return ImageInspect{}, fmt.Errorf("inspect image %s: %w", i.rec.Config, err)
	}
	out := ImageInspect{
		ID:           i.rec.Config.String(),
		RepoTags:     i.RepoTags(),
		RepoDigests:  i.RepoDigests(),
		Author:       i.config.Author,
		Architecture: i.config.Architecture,
		Variant:      i.config.Variant,
		Os:           i.config.OS,
		Size:         i.rec.Size,
		Config:       i.config.Config,
		RootFS:       InspectRootFS{Type: "layers", Layers: []string{}},
		Descriptor: ocispec.Descriptor{
			MediaType: i.rec.MediaType, Digest: i.rec.Manifest, Size: fi.Size(),
		},
	}
	if c := i.Created(); !c.IsZero() {
		out.Created = c.Format(time.RFC3339Nano)
	}
	for _, d := range i.config.RootFS.DiffIDs {
		out.RootFS.Layers = append(out.RootFS.Layers, d.String())
	}
	return out, nil
}

// load builds an Image from its record, reading manifest and config from
// the store.
func (rt *Runtime) load(ix *store.Index, rec *store.ImageRecord) (*Image, error) {
	img := &Image{rt: rt, rec: *rec, tags: ix.TagsOf(rec.Manifest)}
	sort.Strings(img.tags)
	mdata, err := rt.store.ReadBlob(rec.Manifest, maxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("image %s: manifest: %w", rec.Manifest, err)
	}
	if err := json.Unmarshal(mdata, &img.manifest); err != nil {
		return nil, fmt.Errorf("image %s: manifest: %w", rec.Manifest, err)
	}
	cdata, err := rt.store.ReadBlob(rec.Config, maxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", rec.Manifest, err)
	}
	if err := json.Unmarshal(cdata, &img.config); err != nil {
		return nil, fmt.Errorf("image %s: config: %w", rec.Manifest, err)
	}
	img.health = imageHealthcheck(cdata)
	return img, nil
}

func (rt *Runtime) imageByDigest(d digest.Digest) (*Image, error) {
	ix, err := rt.store.ReadIndex()
	if err != nil {
		return nil, err
	}
	rec := ix.Images[d]
	if rec == nil {
		return nil, fmt.Errorf("image %s: %w", d, ErrNotFound)
	}
	return rt.load(ix, rec)
}

// isIDForm reports whether ref reads as an image ID or ID prefix: 4 to
// 64 lower-case hexadecimal digits, optionally after "sha256:".
func isIDForm(ref string) bool {
	h := strings.TrimPrefix(ref, "sha256:")
	return len(h) >= 4 && len(h) <= 64 && strings.Trim(h, "0123456789abcdef") == ""
}

// resolve finds the record a user's string names (store.Index.Resolve):
// a reference (tag or digest), an image ID or unique ID prefix, as Docker
// accepts them, or a whole manifest digest ("sha256:..."). tag is the
// normalised tag when ref named one. A bare hex string that is both a
// tag's name and the prefix of another image's ID is ErrConflict.
func resolve(ix *store.Index, ref string) (rec *store.ImageRecord, tag string, err error) {
	n := store.Name{Ref: ref, IsID: isIDForm(ref)}
	r, perr := ParseReference(ref)
	if perr != nil && !n.IsID {
		return nil, "", perr
	}
	if perr == nil {
		n.IsRef, n.Repo, n.Tag, n.Digest = true, r.Name(), r.Tag, r.Digest
	}
	rec, tag, err = ix.Resolve(n)
	return rec, tag, alsoIs(alsoIs(err, store.ErrNoImage, ErrNotFound), store.ErrAmbiguous, ErrConflict)
}

// Image looks up a local image by reference ("redis:7", "name@sha256:..."),
// image ID, unique ID prefix or whole manifest digest ("sha256:..."). It
// returns an error wrapping ErrNotFound if there is none; it never contacts
// a registry.
func (rt *Runtime) Image(ctx context.Context, ref string) (*Image, error) {
	if err := rt.checkOpen(); err != nil {
		return nil, err
	}
	ix, err := rt.store.ReadIndex()
	if err != nil {
		return nil, err
	}
	rec, _, err := resolve(ix, ref)
	if err != nil {
		return nil, err
	}
	return rt.load(ix, rec)
}

// Images lists the local images, most recently added first.
func (rt *Runtime) Images(ctx context.Context) ([]*Image, error) {
	if err := rt.checkOpen(); err != nil {
		return nil, err
	}
	ix, err := rt.store.ReadIndex()
	if err != nil {
		return nil, err
	}
	out := make([]*Image, 0, len(ix.Images))
	for _, rec := range ix.Images {
		img, err := rt.load(ix, rec)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].rec.Added.Equal(out[b].rec.Added) {
			return out[a].rec.Added.After(out[b].rec.Added)
		}
		return out[a].rec.Manifest < out[b].rec.Manifest
	})
	return out, nil
}

// Tag points target ("name[:tag]", tag defaults to latest) at the image
// src names, like `docker tag`. Re-tagging an image to an older digest is
// how a tag is rolled back; every move is kept in the tag's history.
func (rt *Runtime) Tag(ctx context.Context, src, target string) error {
	if err := rt.checkOpen(); err != nil {
		return err
	}
	t, err := ParseReference(target)
	if err != nil {
		return fmt.Errorf("tag: %w", err)
	}
	if t.Digest != "" {
		return fmt.Errorf("tag: %w: %q: a tag cannot name a digest", ErrInvalidReference, target)
	}
	var id digest.Digest
	err = rt.store.UpdateIndex(ctx, func(ix *store.Index) error {
		rec, _, err := resolve(ix, src)
		if err != nil {
			return fmt.Errorf("tag %s: %w", src, err)
		}
		ix.SetTag(t.tagged(), rec.Manifest, time.Now().UTC())
		id = rec.Config
		return nil
	})
	if err == nil {
		rt.events.emit(EventImage, "tag", id.String(), t.Familiar(), nil)
	}
	return err
}
