//go:build !linux

package hull

import "context"

// Exec returns ErrUnsupported: containers need Linux.
func (c *Container) Exec(ctx context.Context, argv []string, opts ...ExecOption) (ExecResult, error) {
	return ExecResult{}, ErrUnsupported
}

// needCgo: where containers are unsupported, so is nothing more.
func needCgo() error { return nil }

// execBase: there are no execs to keep a config for.
type execBase struct{}
