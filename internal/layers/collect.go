package layers

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/hullbox/hull/internal/snapshot"
	"github.com/hullbox/hull/internal/store"
	digest "github.com/opencontainers/go-digest"
)

// Collect deletes the blobs and snapshots that no image and no hold
// reference (store.Live, reading manifests of at most maxManifest bytes)
// and returns the bytes freed. With wait false it gives up at once
// (returning 0) if a writer is active.
func Collect(ctx context.Context, st *store.Store, snaps *snapshot.Store, maxManifest int64, wait bool) (int64, error) {
	lctx := ctx
	if !wait {
		c, cancel := context.WithCancel(ctx)
		cancel() // a cancelled context makes the lock a try-lock
		lctx = c
	}
	lock, err := st.Collecting(lctx)
	if err != nil {
		if !wait && ctx.Err() == nil {
			return 0, nil
		}
		return 0, err
	}
	defer lock.Unlock()
	blobs, err := st.Blobs()
	if err != nil {
		return 0, err
	}
	list, err := snaps.List()
	if err != nil {
		return 0, err
	}
	chains := make([]digest.Digest, len(list))
	for i, m := range list {
		chains[i] = m.ChainID
	}
	return sweep(st, snaps, maxManifest, blobs, chains)
}

// discardWait bounds how long Discard waits for writers to finish. A
// short wait, not a try-lock: a fork in any goroutine of the process
// (exec.Cmd) briefly holds a copy of every open lock descriptor, so the
// shared lock of a finished writer can outlive its Unlock by a moment.
const discardWait = 2 * time.Second

// Discard deletes, of blobs and snaps (chain IDs) that a load added,
// those nothing references. It runs only while no writer is adding
// content (a pull may have found one of them and be about to reference
// it); if writers stay busy for discardWait, the content stays,
// unreferenced, for Collect.
func Discard(ctx context.Context, st *store.Store, snaps *snapshot.Store, maxManifest int64, blobs map[digest.Digest]bool, chains []digest.Digest) error {
	if len(blobs) == 0 && len(chains) == 0 {
		return nil
	}
	wait, cancel := context.WithTimeout(context.WithoutCancel(ctx), discardWait)
	defer cancel()
	lock, err := st.Collecting(wait)
	if err != nil {
		return nil
	}
	defer lock.Unlock()
	_, err = sweep(st, snaps, maxManifest, slices.Collect(maps.Keys(blobs)), chains)
	return err
}

// sweep deletes, of blobs and chains, those that no image and no hold
// references, and returns the bytes freed. The caller holds the store's
// collecting lock, so no writer adds a reference meanwhile.
func sweep(st *store.Store, snaps *snapshot.Store, maxManifest int64, blobs, chains []digest.Digest) (int64, error) {
	liveBlobs, liveSnaps, err := st.Live(maxManifest)
	if err != nil {
		return 0, err
	}
	var freed int64
	var errs []error
	for _, d := range blobs {
		if !liveBlobs[d] {
			n, err := st.DeleteBlob(d)
			freed += n
			errs = append(errs, err)
		}
	}
	for _, c := range chains {
		if !liveSnaps[c] {
			n, err := snaps.Remove(c)
			freed += n
			errs = append(errs, err)
		}
	}
	return freed, errors.Join(errs...)
}
