package registry

import (
	"context"
	"errors"
	"fmt"
	"io"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
)

// Limits on metadata read from registries (and archives): anything larger
// is hostile.
const (
	MaxManifestSize = 4 << 20
	MaxConfigSize   = 16 << 20
)

// ErrInvalidContent is wrapped by the errors of content that does not
// match its digest or size, or exceeds its bound.
var ErrInvalidContent = errors.New("invalid registry content")

// FetchManifest fetches a manifest or index by tag or digest (ref), at
// most MaxManifestSize bytes, and checks that it hashes to want, or if
// want is empty, to the digest the registry gave. The descriptor returned
// has the digest and size of the bytes returned.
func FetchManifest(ctx context.Context, repo *remote.Repository, ref string, want digest.Digest) (ocispec.Descriptor, []byte, error) {
	desc, rc, err := repo.FetchReference(ctx, ref)
	if err != nil {
		return desc, nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, MaxManifestSize+1))
	if err != nil {
		return desc, nil, fmt.Errorf("read manifest %s: %w", ref, err)
	}
	if len(data) > MaxManifestSize {
		return desc, nil, fmt.Errorf("%w: manifest %s larger than %d bytes", ErrInvalidContent, ref, MaxManifestSize)
	}
	got := digest.FromBytes(data)
	if want == "" {
		want = desc.Digest
	}
	if want != "" && got != want {
		return desc, nil, fmt.Errorf("%w: manifest %s: content hashes to %s, registry said %s", ErrInvalidContent, ref, got, want)
	}
	desc.Digest, desc.Size = got, int64(len(data))
	return desc, data, nil
}

// FetchSmallBlob fetches a blob (a config) of at most max bytes into
// memory, and checks its size and digest.
func FetchSmallBlob(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, max int64) ([]byte, error) {
	if desc.Size > max || desc.Size < 0 {
		return nil, fmt.Errorf("%w: blob %s: size %d out of bounds", ErrInvalidContent, desc.Digest, desc.Size)
	}
	rc, err := repo.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, desc.Size+1))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", desc.Digest, err)
	}
	if int64(len(data)) != desc.Size || digest.FromBytes(data) != desc.Digest {
		return nil, fmt.Errorf("%w: blob %s: content does not match its digest", ErrInvalidContent, desc.Digest)
	}
	return data, nil
}
