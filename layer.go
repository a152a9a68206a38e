package hull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hullbox/hull/internal/archive"
	"github.com/hullbox/hull/internal/snapshot"
	"github.com/hullbox/hull/internal/store"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/registry/remote"
)

// Layer describes one layer of an image.
type Layer struct {
	Digest    digest.Digest // digest of the blob as stored in registries
	DiffID    digest.Digest // digest of the uncompressed tar
	ChainID   digest.Digest // identity of this layer together with those below it
	MediaType string
	Size      int64 // blob size in bytes
}

// layerJob is one layer of a pull.
type layerJob struct {
	desc    ocispec.Descriptor
	diffID  digest.Digest
	chainID digest.Digest
	parent  digest.Digest
	done    chan struct{} // closed once the snapshot exists
}

// fetchLayers makes sure every layer's blob and snapshot are stored,
// fetching and unpacking the missing ones concurrently, and returns the
// image's unpacked size. With a nil repo every blob must be stored already
// (Load): only the snapshots are made.
func (rt *Runtime) fetchLayers(ctx context.Context, repo *remote.Repository, descs []ocispec.Descriptor, diffIDs, chains []digest.Digest, rep *reporter) (int64, error) {
	jobs := make([]*layerJob, len(descs))
	for i, d := range descs {
		jobs[i] = &layerJob{desc: d, diffID: diffIDs[i], chainID: chains[i], done: make(chan struct{})}
		if i > 0 {
			jobs[i].parent = chains[i-1]
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(rt.cfg.parallel)
	// Jobs start in order, so a job waiting for the layers below it only
	// waits for jobs that already hold a slot: no deadlock.
	for i := range jobs {
		rep.send(Progress{ID: shortID(jobs[i].desc.Digest), Status: "Waiting"})
	}
	for i := range jobs {
		g.Go(func() error { return rt.fetchLayer(gctx, repo, jobs, i, rep) })
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	var size int64
	for _, j := range jobs {
		m, err := rt.snaps.Stat(j.chainID)
		if err != nil {
			return 0, fmt.Errorf("layer %s: %w", j.desc.Digest, err)
		}
		size += m.Size
	}
	return size, nil
}

func (rt *Runtime) fetchLayer(ctx context.Context, repo *remote.Repository, jobs []*layerJob, i int, rep *reporter) error {
	j := jobs[i]
	id := shortID(j.desc.Digest)
	fetched, err := rt.ensureLayer(ctx, repo, jobs, i, rep)
	if err != nil {
		return fmt.Errorf("layer %s: %w", j.desc.Digest, err)
	}
	close(j.done)
	if fetched {
		rep.send(Progress{ID: id, Status: "Pull complete"})
	} else {
		rep.send(Progress{ID: id, Status: "Already exists"})
	}
	return nil
}

// ensureLayer stores layer i's blob and snapshot unless both exist; fetched
// reports whether it had anything to do.
func (rt *Runtime) ensureLayer(ctx context.Context, repo *remote.Repository, jobs []*layerJob, i int, rep *reporter) (fetched bool, retErr error) {
	j := jobs[i]
	id := shortID(j.desc.Digest)
	_, haveBlob := rt.store.HasBlob(j.desc.Digest)
	if haveBlob && rt.snaps.Exists(j.chainID) {
		return false, nil
	}
	// One process at a time fetches a given layer; the others wait and
	// then find it done.
	lock, err := rt.store.Lock(ctx, "layer-"+j.chainID.Encoded())
	if err != nil {
		return true, err
	}
	defer lock.Unlock()
	_, haveBlob = rt.store.HasBlob(j.desc.Digest)
	haveSnap := rt.snaps.Exists(j.chainID)
	if haveBlob && haveSnap {
		return false, nil
	}

	var src io.Reader
	var w *store.BlobWriter
	if haveBlob {
		f, err := rt.store.OpenBlob(j.desc.Digest)
		if err != nil {
			return true, err
		}
		defer f.Close()
		src = f
	} else if repo == nil {
		// Load unpacks blobs it has stored already; there is nowhere to
		// fetch one from.
		return true, fmt.Errorf("%w: blob %s is not stored", ErrNotFound, j.desc.Digest)
	} else {
		rc, err := repo.Fetch(ctx, j.desc)
		if err != nil {
			return true, registryError(repo.Reference.Registry, err)
		}
		defer rc.Close()
		if w, err = rt.store.NewWriter(j.desc.Digest, j.desc.Size); err != nil {
			return true, err
		}
		defer w.Abort()
		src = io.TeeReader(rep.counter(rc, id, j.desc.Size, "Downloading"), w)
	}

	var pending *snapshot.Pending
	var res archive.Result
	if !haveSnap {
		var err error
		pending, res, err = rt.unpack(ctx, src, j.diffID)
		if err != nil {
			return true, err
		}
		defer pending.Abort()
	}
	// Hash what the unpacker left unread (gzip trailer, padding).
	if _, err := io.Copy(io.Discard, src); err != nil {
		return true, fmt.Errorf("download: %w", err)
	}
	if w != nil {
		if _, err := w.Commit(); err != nil {
			if errors.Is(err, store.ErrDigestMismatch) {
				return true, fmt.Errorf("%w: %v", ErrInvalidContent, err)
			}
			return true, err
		}
	}
	if pending == nil {
		return true, nil
	}
	return true, rt.commitSnapshot(ctx, pending, res, jobs, i)
}

// commitSnapshot resolves hardlinks into lower layers (waiting for those
// layers to exist) and makes the snapshot visible.
func (rt *Runtime) commitSnapshot(ctx context.Context, p *snapshot.Pending, res archive.Result, jobs []*layerJob, i int) error {
	j := jobs[i]
	if len(res.PendingLinks) > 0 {
		lowers := make([]string, 0, i)
		for k := i - 1; k >= 0; k-- {
			select {
			case <-jobs[k].done:
			case <-ctx.Done():
				return ctx.Err()
			}
			lowers = append(lowers, rt.snaps.Path(jobs[k].chainID))
		}
		if err := archive.ResolveLinks(p.Dir, res.PendingLinks, lowers); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidContent, err)
		}
	}
	return p.Commit(snapshot.Meta{ChainID: j.chainID, Parent: j.parent, DiffID: j.diffID, Size: res.Size})
}

// unpack is snapshot.Store.Unpack with its refusals mapped to
// ErrInvalidContent.
func (rt *Runtime) unpack(ctx context.Context, src io.Reader, diffID digest.Digest) (*snapshot.Pending, archive.Result, error) {
	p, res, err := rt.snaps.Unpack(ctx, src, diffID)
	return p, res, alsoIs(err, snapshot.ErrInvalidLayer, ErrInvalidContent)
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
// status: "Downloading", "Pushing") at most every 512 KiB, and at its end.
func (r *reporter) counter(rd io.Reader, id string, total int64, status string) io.Reader {
	if r.fn == nil {
		return rd
	}
	return &countingReader{r: rd, rep: r, id: id, total: total, status: status}
}

type countingReader struct {
	r           io.Reader
	rep         *reporter
	id, status  string
	n, last     int64
	total       int64
	reportedEnd bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	// net/http stops reading an upload at its length, before EOF.
	end := err == io.EOF || c.n == c.total
	if c.n-c.last >= 512<<10 || (end && !c.reportedEnd) {
		c.last = c.n
		c.reportedEnd = end
		c.rep.send(Progress{ID: c.id, Status: c.status, Current: c.n, Total: c.total})
	}
	return n, err
}
