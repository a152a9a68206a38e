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

// WriteTree writes a directory tree as a tar; it needs Linux.
func WriteTree(ctx context.Context, w io.Writer, dir string) error { return errors.ErrUnsupported }

// WriteDiff writes an overlayfs upper directory as a layer tar; it needs Linux.
func WriteDiff(ctx context.Context, w io.Writer, upper string, exclude ...string) error {
	return errors.ErrUnsupported
}

// Changes lists what an overlayfs upper directory changes; it needs Linux.
func Changes(ctx context.Context, upper string, lowers []string, exclude ...string) ([]Change, error) {
	return nil, errors.ErrUnsupported
}

// Resolve resolves a path inside the view; it needs Linux.
func (u Union) Resolve(p string, followLast bool) (string, error) {
	return "", errors.ErrUnsupported
}

// WriteTar writes a subtree of the view as a tar; it needs Linux.
func (u Union) WriteTar(ctx context.Context, w io.Writer, rel, base string) error {
	return errors.ErrUnsupported
}
