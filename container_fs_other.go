//go:build !linux

package hull

import (
	"context"
	"io"
)

// Diff needs Linux.
func (c *Container) Diff(ctx context.Context) ([]Change, error) { return nil, ErrUnsupported }

// Export needs Linux.
func (c *Container) Export(ctx context.Context, w io.Writer) error { return ErrUnsupported }

// CopyFrom needs Linux.
func (c *Container) CopyFrom(ctx context.Context, p string) (io.ReadCloser, error) {
	return nil, ErrUnsupported
}

// CopyTo needs Linux.
func (c *Container) CopyTo(ctx context.Context, dst string, r io.Reader) error {
	return ErrUnsupported
}

func (c *Container) pauseForCommit(ctx context.Context, noPause bool) (func() error, error) {
	return func() error { return nil }, nil
}

func (c *Container) mountPoints() []string { return nil }

// CopyToHost needs Linux.
func (c *Container) CopyToHost(ctx context.Context, src, hostDst string) error {
	return ErrUnsupported
}

// CopyFromHost needs Linux.
func (c *Container) CopyFromHost(ctx context.Context, hostPath, dst string) error {
	return ErrUnsupported
}
