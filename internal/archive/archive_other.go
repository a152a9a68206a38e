//go:build !linux

package archive

import (
	"context"
	"errors"
	"io"
)

// Apply unpacks a layer into an overlayfs layer directory; it needs Linux.
func Apply(ctx context.Context, dir string, r io.Reader, opts Options) (Result, error) {
	return Result{}, errors.ErrUnsupported
}

// ResolveLinks creates hardlinks into lower overlayfs layers; it needs Linux.
func ResolveLinks(dir string, links []Link, lowers []string) error {
	return errors.ErrUnsupported
}
