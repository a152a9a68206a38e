package hull

import (
	"context"
	"errors"

	"github.com/hullbox/hull/internal/layers"
)

// runContainer creates and starts the RUN step's container, waits for it,
// and commits its changes as a layer over st's image. The container is
// removed in every case (its anonymous volumes too): a failed or
// cancelled step leaves nothing behind.
func (b *builder) runContainer(ctx context.Context, st *stageState, s *step, opts []RunOption, out *lineWriter) (_ *Image, retErr error) {
	rt := b.rt
	c, err := rt.create(ctx, st.img.ID(), st.img, opts...)
	if err != nil {
		return nil, b.at(s.loc, err)
	}
	defer func() {
		if err := c.Remove(context.WithoutCancel(ctx), WithForce(), WithRemoveVolumes()); err != nil && retErr == nil {
			retErr = err
		}
	}()
	code := 0
	if err := c.Start(ctx); err != nil {
		var se *StartError
		if !errors.As(err, &se) {
			return nil, err
		}
		code = se.ExitCode
		out.line(err.Error())
	} else {
		status, err := c.Wait(ctx)
		if err != nil {
			return nil, err
		}
		code = status.ExitCode
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if code != 0 {
		return nil, &BuildError{File: b.file.Name, Line: stepLine(s), Instruction: s.text, ExitCode: code, Output: out.flush()}
	}
	out.flush()
	added, err := layers.AddDiff(ctx, rt.store, rt.snaps, rt.containerDir(c.id)+"/upper", c.mountPoints())
	if err != nil {
		return nil, alsoIs(err, layers.ErrInvalidContent, ErrInvalidContent)
	}
	return b.writeImage(ctx, st, &added)
}
