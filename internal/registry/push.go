package registry

import (
	"cmp"
	"context"
	"io"
	"slices"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/registry/remote"
)

// Outcome is what PushBlob did.
type Outcome int

// PushBlob's outcomes.
const (
	Existed Outcome = iota // the repository had the blob: nothing sent
	Mounted                // mounted from another repository of the registry
	Pushed                 // uploaded
)

// PushBlob makes sure repo has the blob desc: it is left alone if
// present, mounted from the repository path from if given (and the
// registry agrees), else uploaded from what open returns. A mount the
// registry refuses outright (no pull access to from, say) falls back to an
// upload; one it turns into an upload itself reads open too.
func PushBlob(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, from string, open func() (io.ReadCloser, error)) (Outcome, error) {
	ok, err := repo.Blobs().Exists(ctx, desc)
	if err != nil {
		return 0, err
	}
	if ok {
		return Existed, nil
	}
	if from != "" {
		uploaded := false
		err := repo.Mount(ctx, desc, from, func() (io.ReadCloser, error) {
			// The registry declined to mount and opened an upload instead.
			uploaded = true
			return open()
		})
		switch {
		case err == nil && uploaded:
			return Pushed, nil
		case err == nil:
			return Mounted, nil
		case uploaded || ctx.Err() != nil:
			return 0, err
		}
	}
	rc, err := open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	if err := repo.Blobs().Push(ctx, desc, rc); err != nil {
		return 0, err
	}
	return Pushed, nil
}

// Small blobs (a config, thin top layers) cost round trips, not
// bandwidth: PushAll pushes them in their own slots, up to SmallSlots at
// once, so that they never wait behind the big layers.
const (
	SmallBlob  = 1 << 20
	SmallSlots = 8
)

// PushAll calls push once for each blob, concurrently: those under
// SmallBlob in up to SmallSlots slots of their own, the others largest
// first (the order that ends soonest) at most parallel at a time. It
// returns the first error; the ctx push gets ends with it.
func PushAll(ctx context.Context, blobs []ocispec.Descriptor, parallel int, push func(context.Context, ocispec.Descriptor) error) error {
	var big, small []ocispec.Descriptor
	for _, b := range blobs {
		if b.Size < SmallBlob {
			small = append(small, b)
		} else {
			big = append(big, b)
		}
	}
	slices.SortStableFunc(big, func(a, b ocispec.Descriptor) int { return cmp.Compare(b.Size, a.Size) })
	g, gctx := errgroup.WithContext(ctx)
	for _, set := range []struct {
		blobs []ocispec.Descriptor
		slots int
	}{{big, max(parallel, 1)}, {small, SmallSlots}} {
		g.Go(func() error {
			var slots errgroup.Group
			slots.SetLimit(set.slots)
			for _, b := range set.blobs {
				slots.Go(func() error { return push(gctx, b) })
			}
			return slots.Wait()
		})
	}
	return g.Wait()
}
