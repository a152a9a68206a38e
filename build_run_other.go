//go:build !linux

package hull

import "context"

// runContainer returns ErrUnsupported: RUN steps are containers, which
// need Linux.
func (b *builder) runContainer(ctx context.Context, st *stageState, s *step, opts []RunOption, out *lineWriter) (*Image, error) {
	return nil, ErrUnsupported
}
