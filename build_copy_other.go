//go:build !linux

package hull

import "context"

func (b *builder) resolveChown(st *stageState, chown string) (int, int, error) {
	return 0, 0, ErrUnsupported
}

// copyLayer returns ErrUnsupported: layers are unpacked with Linux's
// overlayfs format.
func (b *builder) copyLayer(ctx context.Context, st *stageState, p *copyPlan) (*Image, error) {
	return nil, ErrUnsupported
}

func (b *builder) hasDir(st *stageState, p string) bool { return true }
