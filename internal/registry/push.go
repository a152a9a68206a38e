package registry

import (
	"context"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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
