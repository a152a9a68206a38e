package snapshot

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/hullbox/hull/internal/archive"
	digest "github.com/opencontainers/go-digest"
)

// ErrInvalidLayer marks a layer stream that cannot be unpacked as it is:
// not a (compressed) tar, an unsafe entry, or not the diff ID the image
// config names. Its message is that of hull's ErrInvalidContent, which
// callers map it to.
var ErrInvalidLayer = errors.New("invalid content")

// Unpack decompresses src and unpacks it into a new pending snapshot,
// checking that the uncompressed stream hashes to diffID (when given). It
// returns the pending snapshot (the caller commits or aborts it) and what
// archive.Apply reports, hardlinks into lower layers included.
func (s *Store) Unpack(ctx context.Context, src io.Reader, diffID digest.Digest) (_ *Pending, _ archive.Result, retErr error) {
	var res archive.Result
	p, err := s.Prepare()
	if err != nil {
		return nil, res, err
	}
	defer func() {
		if retErr != nil {
			p.Abort()
		}
	}()
	got, res, err := unpackInto(ctx, p.Dir, src)
	if err != nil {
		return nil, res, err
	}
	if diffID != "" && got != diffID {
		return nil, res, fmt.Errorf("%w: uncompressed layer hashes to %s, config says %s", ErrInvalidLayer, got, diffID)
	}
	return p, res, nil
}

// unpackInto applies the (possibly compressed) layer stream src to dir and
// returns the digest of the uncompressed tar.
func unpackInto(ctx context.Context, dir string, src io.Reader) (digest.Digest, archive.Result, error) {
	var res archive.Result
	dr, err := archive.Decompress(src)
	if err != nil {
		return "", res, fmt.Errorf("%w: %v", ErrInvalidLayer, err)
	}
	defer dr.Close()
	h := sha256.New()
	tr := io.TeeReader(dr, h)
	res, err = archive.Apply(ctx, dir, tr, archive.Options{})
	if err != nil {
		if errors.Is(err, archive.ErrUnsafe) || errors.Is(err, tar.ErrHeader) {
			return "", res, fmt.Errorf("%w: %w", ErrInvalidLayer, err)
		}
		return "", res, err
	}
	if _, err := io.Copy(io.Discard, tr); err != nil {
		return "", res, err
	}
	return digest.NewDigest(digest.SHA256, h), res, nil
}
