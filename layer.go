package hull

import (
	"context"
	"io"
	"sync"

	"github.com/hullbox/hull/internal/layers"
	"github.com/hullbox/hull/internal/progress"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
)

// Layer describes one layer of an image.
type Layer struct {
	Digest    digest.Digest // digest of the blob as stored in registries
	DiffID    digest.Digest // digest of the uncompressed tar
	ChainID   digest.Digest // identity of this layer together with those below it
	MediaType string        // of the blob: its compression, OCI or Docker
	Size      int64         // blob size in bytes
}

// fetchLayers makes sure every layer's blob and snapshot are stored,
// fetching and unpacking the missing ones concurrently (layers.Puller),
// and returns the image's unpacked size. With a nil repo every blob must
// be stored already (Load): only the snapshots are made.
func (rt *Runtime) fetchLayers(ctx context.Context, repo *remote.Repository, descs []ocispec.Descriptor, diffIDs, chains []digest.Digest, rep *reporter) (int64, error) {
	p := &layers.Puller{
		Store: rt.store, Snaps: rt.snaps, Parallel: rt.cfg.parallel,
		Report: func(d ocispec.Descriptor, status string) { rep.send(Progress{ID: shortID(d.Digest), Status: status}) },
		Count: func(r io.Reader, d ocispec.Descriptor) io.Reader {
			return rep.counter(r, shortID(d.Digest), d.Size, "Downloading")
		},
	}
	if repo != nil {
		p.Fetch = func(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
			rc, err := repo.Fetch(ctx, d)
			return rc, registryError(repo.Reference.Registry, err)
		}
	}
	size, err := p.Ensure(ctx, descs, diffIDs, chains)
	return size, alsoIs(alsoIs(err, layers.ErrInvalidContent, ErrInvalidContent), layers.ErrNotStored, ErrNotFound)
}

func shortID(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		return e[:12]
	}
	return e
}

// reporter serialises progress reports to the user's callback.
type reporter struct {
	mu  sync.Mutex
	fn  func(Progress)
	ref string
}

func newReporter(fn func(Progress), ref string) *reporter { return &reporter{fn: fn, ref: ref} }

func (r *reporter) send(p Progress) {
	if r.fn == nil {
		return
	}
	p.Ref = r.ref
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fn(p)
}

// counter wraps a transfer of total bytes, reporting its advance (with
// status: "Downloading", "Pushing") every 512 KiB and at its end
// (progress.Reader).
func (r *reporter) counter(rd io.Reader, id string, total int64, status string) io.Reader {
	if r.fn == nil {
		return rd
	}
	return progress.Reader(rd, total, func(n int64) {
		r.send(Progress{ID: id, Status: status, Current: n, Total: total})
	})
}
