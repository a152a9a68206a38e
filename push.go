package hull

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"

	"github.com/hullbox/hull/internal/manifest"
	"github.com/hullbox/hull/internal/registry"
	"github.com/hullbox/hull/internal/store"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
)

// Push uploads the local image ref names to the registry and repository in
// ref, like `docker push`: ref must be a local tag ("localhost:5000/app:1";
// tag an image first with Tag) or a local manifest digest
// ("localhost:5000/app@sha256:...", pushed without a tag).
//
// Layers go compressed, as `docker push` sends them. A layer stored
// uncompressed (Commit and Import make them, and Load from docker save
// archives) is compressed with gzip, or as WithCompression says; the
// compressed blob is stored and recorded the first time, so a later push
// of the layer, to any registry, sends the same blob (or nothing, if the
// registry has it) without compressing again. The manifest pushed is then
// a new one naming the compressed layers: same config and image ID, the
// diff IDs still those of the uncompressed tars, but a digest other than
// the local Digest(). Layers stored compressed (as pulled) are sent as
// they are.
//
// The stored manifest itself is pushed, byte for byte and so under its
// own digest, when no layer needs compressing, when ref names a manifest
// digest (that digest is what lands in the registry), or when the
// manifest is already in a registry as it is (the image was pulled):
// name@digest then means the same image everywhere.
//
// Only what the repository lacks is sent. Each blob is checked first; a
// missing one is mounted from another repository of the same registry known
// to hold it (one it was pulled from or pushed to) and otherwise uploaded
// from the store, up to WithMaxConcurrentDownloads blobs at once. The
// manifest is pushed last. On success the image gains the repository
// digest name@digest of the manifest pushed, which Image and Pull accept.
// Credentials are those of Pull (WithAuth, Login, docker's config.json).
//
// Errors wrap ErrInvalidReference, ErrNotFound (no such local image),
// ErrUnauthorized (a *RegistryError) or ErrUnsupported. A failed push may
// leave blobs in the registry (they are not referenced by a tag); pushing
// again sends only the rest.
func (rt *Runtime) Push(ctx context.Context, ref string, opts ...ImageOption) error {
	if err := rt.checkOpen(); err != nil {
		return err
	}
	cfg, err := imageOptions("Push", opts, "WithProgress", "WithCompression")
	if err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	r, err := ParseReference(ref)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	if err := rt.push(ctx, r, cfg); err != nil {
		return fmt.Errorf("push %s: %w", r.Familiar(), err)
	}
	return nil
}

// pushPlan is what one push sends.
type pushPlan struct {
	local     digest.Digest            // the stored manifest's digest (the image's record)
	manifest  []byte                   // the manifest pushed: the stored one, or one naming compressed layers
	desc      ocispec.Descriptor       // of the manifest pushed
	layers    []ocispec.Descriptor     // distinct layer blobs, bottom first
	config    ocispec.Descriptor       // the config blob
	mountFrom map[digest.Digest]string // blob -> repository path to mount it from
}

func (rt *Runtime) push(ctx context.Context, r Reference, cfg *imageConfig) error {
	// The blobs read here must survive a concurrent prune until the push
	// is done.
	gcLock, err := rt.store.Writing(ctx)
	if err != nil {
		return err
	}
	defer gcLock.Unlock()

	plan, err := rt.planPush(ctx, r, cfg)
	if err != nil {
		return err
	}
	repo, err := rt.repository(r)
	if err != nil {
		return err
	}
	rep := newReporter(cfg.progress, r.Familiar())
	for _, l := range plan.layers {
		rep.send(Progress{ID: shortID(l.Digest), Status: "Preparing"})
	}
	if err := rt.pushBlobs(ctx, repo, plan, rep); err != nil {
		return err
	}

	body := bytes.NewReader(plan.manifest)
	if r.Tag != "" {
		err = repo.Manifests().PushReference(ctx, plan.desc, body, r.Tag)
	} else {
		err = repo.Manifests().Push(ctx, plan.desc, body)
	}
	if err != nil {
		return fmt.Errorf("manifest %s: %w", plan.desc.Digest, registryError(repo.Reference.Registry, err))
	}

	repoDigest := r.Name() + "@" + plan.desc.Digest.String()
	err = rt.store.UpdateIndex(ctx, func(ix *store.Index) error {
		if rec := ix.Images[plan.local]; rec != nil && !slices.Contains(rec.RepoDigests, repoDigest) {
			rec.RepoDigests = append(rec.RepoDigests, repoDigest)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pushed, but recording %s failed: %w", repoDigest, err)
	}
	blobs := []digest.Digest{plan.config.Digest}
	for _, l := range plan.layers {
		blobs = append(blobs, l.Digest)
	}
	// Only a hint for later mounts: losing it costs an upload, not
	// correctness, so a failure here does not fail the push.
	_ = rt.store.AddBlobSources(ctx, r.Name(), blobs)
	rep.send(Progress{ID: shortID(plan.desc.Digest), Status: "Done", Digest: plan.desc.Digest, Total: plan.desc.Size})
	return nil
}

// pushBlobs pushes the config and layer blobs of plan concurrently
// (registry.PushAll); only the layers are reported.
func (rt *Runtime) pushBlobs(ctx context.Context, repo *remote.Repository, plan *pushPlan, rep *reporter) error {
	blobs := append([]ocispec.Descriptor{plan.config}, plan.layers...)
	return registry.PushAll(ctx, blobs, rt.cfg.parallel, func(ctx context.Context, d ocispec.Descriptor) error {
		r := rep
		if d.Digest == plan.config.Digest {
			r = nil
		}
		return rt.pushBlob(ctx, repo, d, plan.mountFrom[d.Digest], r)
	})
}

// planPush finds the local image r names and what pushing it involves:
// its layers stored uncompressed are compressed with cfg's compression
// (compressPlan) unless r names a manifest digest, which is pushed as it
// is, or the manifest is already in a registry (inRegistry).
func (rt *Runtime) planPush(ctx context.Context, r Reference, cfg *imageConfig) (*pushPlan, error) {
	ix, err := rt.store.ReadIndex()
	if err != nil {
		return nil, err
	}
	rec, err := pushSource(ix, r)
	if err != nil {
		return nil, err
	}
	data, err := rt.store.ReadBlob(rec.Manifest, maxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("image %s: manifest: %w", rec.Manifest, err)
	}
	m, err := manifest.Parse(rec.MediaType, data)
	if err != nil {
		return nil, manifestErr(err)
	}
	plan := &pushPlan{
		local:    rec.Manifest,
		manifest: data,
		desc:     ocispec.Descriptor{MediaType: rec.MediaType, Digest: rec.Manifest, Size: int64(len(data))},
		config:   m.Config,
		layers:   manifest.DistinctLayers(m),
	}
	if r.Digest == "" && !inRegistry(rec) {
		c := cfg.compression
		if c == "" {
			c = CompressionGzip
		}
		if err := rt.compressPlan(ctx, plan, m, c); err != nil {
			return nil, err
		}
	}
	seen := map[digest.Digest]bool{plan.config.Digest: true}
	for _, l := range plan.layers {
		seen[l.Digest] = true
	}
	known, err := rt.store.BlobSources()
	if err != nil {
		known = nil // a hint only
	}
	plan.mountFrom = mountSources(ix, known, r, seen)
	return plan, nil
}

// pushSource finds the local image a push reference names: by tag, or by
// manifest digest. Unlike Image it does not accept image IDs, which would
// turn "abc123" into a push to docker.io/library/abc123.
func pushSource(ix *store.Index, r Reference) (*store.ImageRecord, error) {
	if r.Digest != "" {
		if rec := ix.Images[r.Digest]; rec != nil {
			return rec, nil
		}
		for _, rec := range ix.Images {
			if rec.Index == r.Digest {
				return nil, fmt.Errorf("%w: %s is a multi-platform index of which only one image is stored; push that image by its tag or manifest digest", ErrUnsupported, r.Digest)
			}
		}
		return nil, fmt.Errorf("no local image with manifest digest %s: %w", r.Digest, ErrNotFound)
	}
	if t := ix.Tags[r.tagged()]; t != nil {
		if rec := ix.Images[t.Digest]; rec != nil {
			return rec, nil
		}
	}
	return nil, fmt.Errorf("no local image tagged %s (tag one first): %w", r.Familiar(), ErrNotFound)
}

// mountSources picks, for each blob in want, a repository of r's registry
// other than r's to mount it from (store.Index.MountSources). It returns
// repository paths.
func mountSources(ix *store.Index, known map[digest.Digest][]string, r Reference, want map[digest.Digest]bool) map[digest.Digest]string {
	return ix.MountSources(known, want, func(name string) (string, bool) {
		c, err := ParseReference(name)
		if err != nil || c.Domain != r.Domain || c.Path == r.Path {
			return "", false
		}
		return c.Path, true
	})
}

// pushBlob makes sure the repository has one blob (registry.PushBlob):
// it is left alone if present, mounted from the repository path from if
// given, else uploaded. rep is nil for blobs that are not reported (the
// config).
func (rt *Runtime) pushBlob(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, from string, rep *reporter) error {
	id := shortID(desc.Digest)
	open := func() (io.ReadCloser, error) { return rt.openBlobForPush(desc, rep, id) }
	done, err := registry.PushBlob(ctx, repo, desc, from, open)
	if err != nil {
		return fmt.Errorf("blob %s: %w", desc.Digest, registryError(repo.Reference.Registry, err))
	}
	if rep != nil {
		status := map[registry.Outcome]string{registry.Existed: "Layer already exists", registry.Mounted: "Mounted from " + from, registry.Pushed: "Pushed"}
		rep.send(Progress{ID: id, Status: status[done]})
	}
	return nil
}

// openBlobForPush opens a stored blob to upload it. The file itself is
// returned when nothing is reported, so that net/http can sendfile(2) it.
func (rt *Runtime) openBlobForPush(desc ocispec.Descriptor, rep *reporter, id string) (io.ReadCloser, error) {
	f, err := rt.store.OpenBlobOfSize(desc.Digest, desc.Size)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s is not stored locally: %w", desc.Digest, ErrNotFound)
	}
	if err != nil {
		return nil, alsoIs(err, store.ErrDigestMismatch, ErrInvalidContent)
	}
	if rep == nil || rep.fn == nil {
		return f, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{rep.counter(f, id, desc.Size, "Pushing"), f}, nil
}
