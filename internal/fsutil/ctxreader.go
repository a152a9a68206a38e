package fsutil

import (
	"context"
	"io"
)

// ContextReader returns r, but reading fails with ctx's error once ctx
// has ended: a long copy (a blob into an archive, a layer into a
// compressor) stops at its next read.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
