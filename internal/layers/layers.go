// Package layers makes an image's layers present under a root: each
// layer's blob in the store and its unpacked snapshot, fetched (or read
// from the store) and unpacked concurrently, one stream per layer that is
// hashed, decompressed and unpacked as it arrives, with no temp copy. A
// layer another process is making meanwhile is waited for, not made twice.
package layers

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/hullbox/hull/internal/archive"
	"github.com/hullbox/hull/internal/snapshot"
	"github.com/hullbox/hull/internal/store"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// ErrInvalidContent is wrapped by the errors of content that is not what
// the image says: a blob that does not hash to its digest, a tar that does
// not hash to its diff ID, a hostile layer (snapshot.ErrInvalidLayer).
var ErrInvalidContent = errors.New("invalid layer content")

// ErrNotStored is wrapped by the error of a blob missing from the store
// when there is nowhere to fetch it from (Puller.Fetch is nil).
var ErrNotStored = errors.New("blob not stored")

// Puller makes layers present. Store, Snaps and Parallel are required.
type Puller struct {
	Store    *store.Store
	Snaps    *snapshot.Store
	Parallel int // layers made at once
	// Fetch opens a layer blob the store lacks. nil: every blob must be
	// stored already (an archive's load makes only the snapshots).
	Fetch func(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error)
	// Report, if not nil, is told each layer's progress: "Waiting", then
	// "Already exists" or "Pull complete". Calls may be concurrent.
	Report func(desc ocispec.Descriptor, status string)
	// Count, if not nil, wraps each download to report its advance.
	Count func(r io.Reader, desc ocispec.Descriptor) io.Reader
}

// job is one layer of a pull.
type job struct {
	desc    ocispec.Descriptor
	diffID  digest.Digest
	chainID digest.Digest
	parent  digest.Digest
	done    chan struct{} // closed once the snapshot exists
}

// Ensure makes sure every layer's blob and snapshot are stored, fetching
// and unpacking the missing ones concurrently, and returns the image's
// unpacked size. descs, diffIDs and chains (manifest.ChainIDs of
// diffIDs) are the image's layers, bottom first.
func (p *Puller) Ensure(ctx context.Context, descs []ocispec.Descriptor, diffIDs, chains []digest.Digest) (int64, error) {
	jobs := make([]*job, len(descs))
	for i, d := range descs {
		jobs[i] = &job{desc: d, diffID: diffIDs[i], chainID: chains[i], done: make(chan struct{})}
		if i > 0 {
			jobs[i].parent = chains[i-1]
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(p.Parallel, 1))
	// Jobs start in order, so a job waiting for the layers below it only
	// waits for jobs that already hold a slot: no deadlock.
	for _, j := range jobs {
		p.report(j.desc, "Waiting")
	}
	for i := range jobs {
		g.Go(func() error { return p.layer(gctx, jobs, i) })
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	var size int64
	for _, j := range jobs {
		m, err := p.Snaps.Stat(j.chainID)
		if err != nil {
			return 0, fmt.Errorf("layer %s: %w", j.desc.Digest, err)
		}
		size += m.Size
	}
	return size, nil
}

func (p *Puller) report(desc ocispec.Descriptor, status string) {
	if p.Report != nil {
		p.Report(desc, status)
	}
}

func (p *Puller) layer(ctx context.Context, jobs []*job, i int) error {
	j := jobs[i]
	fetched, err := p.ensure(ctx, jobs, i)
	if err != nil {
		return fmt.Errorf("layer %s: %w", j.desc.Digest, err)
	}
	close(j.done)
	if fetched {
		p.report(j.desc, "Pull complete")
	} else {
		p.report(j.desc, "Already exists")
	}
	return nil
}

// ensure stores layer i's blob and snapshot unless both exist; fetched
// reports whether it had anything to do.
func (p *Puller) ensure(ctx context.Context, jobs []*job, i int) (fetched bool, retErr error) {
	j := jobs[i]
	_, haveBlob := p.Store.HasBlob(j.desc.Digest)
	if haveBlob && p.Snaps.Exists(j.chainID) {
		return false, nil
	}
	// One process at a time fetches a given layer; the others wait and
	// then find it done.
	lock, err := p.Store.Lock(ctx, "layer-"+j.chainID.Encoded())
	if err != nil {
		return true, err
	}
	defer lock.Unlock()
	_, haveBlob = p.Store.HasBlob(j.desc.Digest)
	haveSnap := p.Snaps.Exists(j.chainID)
	if haveBlob && haveSnap {
		return false, nil
	}

	var src io.Reader
	var w *store.BlobWriter
	switch {
	case haveBlob:
		f, err := p.Store.OpenBlob(j.desc.Digest)
		if err != nil {
			return true, err
		}
		defer f.Close()
		src = f
	case p.Fetch == nil:
		return true, fmt.Errorf("%w: %s", ErrNotStored, j.desc.Digest)
	default:
		rc, err := p.Fetch(ctx, j.desc)
		if err != nil {
			return true, err
		}
		defer rc.Close()
		if w, err = p.Store.NewWriter(j.desc.Digest, j.desc.Size); err != nil {
			return true, err
		}
		defer w.Abort()
		var r io.Reader = rc
		if p.Count != nil {
			r = p.Count(rc, j.desc)
		}
		src = io.TeeReader(r, w)
	}

	var pending *snapshot.Pending
	var res archive.Result
	if !haveSnap {
		var err error
		pending, res, err = p.Snaps.Unpack(ctx, src, j.diffID)
		if errors.Is(err, snapshot.ErrInvalidLayer) {
			return true, fmt.Errorf("%w: %w", ErrInvalidContent, err)
		}
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
				return true, fmt.Errorf("%w: %w", ErrInvalidContent, err)
			}
			return true, err
		}
	}
	if pending == nil {
		return true, nil
	}
	return true, p.commit(ctx, pending, res, jobs, i)
}

// commit resolves hardlinks into lower layers (waiting for those layers
// to exist) and makes the snapshot visible.
func (p *Puller) commit(ctx context.Context, pending *snapshot.Pending, res archive.Result, jobs []*job, i int) error {
	j := jobs[i]
	if len(res.PendingLinks) > 0 {
		lowers := make([]string, 0, i)
		for k := i - 1; k >= 0; k-- {
			select {
			case <-jobs[k].done:
			case <-ctx.Done():
				return ctx.Err()
			}
			lowers = append(lowers, p.Snaps.Path(jobs[k].chainID))
		}
		if err := archive.ResolveLinks(pending.Dir, res.PendingLinks, lowers); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidContent, err)
		}
	}
	return pending.Commit(snapshot.Meta{ChainID: j.chainID, Parent: j.parent, DiffID: j.diffID, Size: res.Size})
}

// CheckDiffID checks that the stored layer blob d uncompresses to diffID,
// as an image config says: a layer already unpacked is not unpacked again,
// but the archive that names it, not the store, says which blob it is.
// A mismatch, or a blob that does not decompress, is ErrInvalidContent.
func CheckDiffID(ctx context.Context, st *store.Store, d, diffID digest.Digest) error {
	f, err := st.OpenBlob(d)
	if err != nil {
		return err
	}
	defer f.Close()
	dr, err := archive.Decompress(f)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidContent, err)
	}
	defer dr.Close()
	v := diffID.Verifier()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := dr.Read(buf)
		v.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidContent, err)
		}
	}
	if !v.Verified() {
		return fmt.Errorf("%w: uncompressed layer does not hash to %s, as the config says", ErrInvalidContent, diffID)
	}
	return nil
}

// Added is a layer Add stored: its blob, uncompressed, whose digest is its
// diff ID, and the snapshot unpacked from it, pending: the caller commits
// it (with the chain ID the layer has in its image) or aborts it.
type Added struct {
	DiffID  digest.Digest
	Size    int64 // of the blob
	Result  archive.Result
	Pending *snapshot.Pending
}

// Add stores the uncompressed layer tar r as a blob and, from the same
// stream, unpacks it into a pending snapshot. A hostile tar is
// ErrInvalidContent; so, when alone is true (the layer stands on nothing),
// is a hardlink to a file the tar lacks.
func Add(ctx context.Context, st *store.Store, snaps *snapshot.Store, r io.Reader, alone bool) (_ Added, retErr error) {
	w, err := st.NewWriter("", -1)
	if err != nil {
		return Added{}, err
	}
	defer w.Abort()
	pending, res, err := snaps.Unpack(ctx, io.TeeReader(r, w), "")
	if errors.Is(err, snapshot.ErrInvalidLayer) {
		return Added{}, fmt.Errorf("%w: %w", ErrInvalidContent, err)
	}
	if err != nil {
		return Added{}, err
	}
	defer func() {
		if retErr != nil {
			pending.Abort()
		}
	}()
	if err := res.Dangling(); alone && err != nil {
		return Added{}, fmt.Errorf("%w: %w", ErrInvalidContent, err)
	}
	size := w.Written()
	diffID, err := w.Commit()
	if err != nil {
		return Added{}, err
	}
	return Added{DiffID: diffID, Size: size, Result: res, Pending: pending}, nil
}

// AddDiff is Add of the layer tar of an overlayfs upper directory, less
// exclude (archive.WriteDiff).
func AddDiff(ctx context.Context, st *store.Store, snaps *snapshot.Store, upper string, exclude []string) (Added, error) {
	pr, pw := io.Pipe()
	werr := make(chan error, 1)
	go func() {
		err := archive.WriteDiff(ctx, pw, upper, exclude...)
		pw.CloseWithError(err)
		werr <- err
	}()
	a, err := Add(ctx, st, snaps, pr, false)
	pr.CloseWithError(io.ErrClosedPipe) // unblock the writer if Add stopped early
	if e := <-werr; e != nil && err == nil {
		a.Pending.Abort()
		return Added{}, fmt.Errorf("write layer: %w", e)
	}
	return a, err
}
