//go:build !linux

package hull

import "context"

// CreateNetwork returns ErrUnsupported: networks need Linux.
func (rt *Runtime) CreateNetwork(ctx context.Context, name string, opts ...NetworkOption) (*Network, error) {
	return nil, ErrUnsupported
}

// Remove returns ErrUnsupported: networks need Linux.
func (n *Network) Remove(ctx context.Context) error { return ErrUnsupported }

// PruneNetworks returns ErrUnsupported: networks need Linux.
func (rt *Runtime) PruneNetworks(ctx context.Context) (NetworkPruneReport, error) {
	return NetworkPruneReport{}, ErrUnsupported
}

// Connect returns ErrUnsupported: networks need Linux.
func (n *Network) Connect(ctx context.Context, c *Container, opts ...EndpointOption) error {
	return ErrUnsupported
}

// Disconnect returns ErrUnsupported: networks need Linux.
func (n *Network) Disconnect(ctx context.Context, c *Container) error { return ErrUnsupported }

func (rt *Runtime) recoverNetworks([]containerState) error { return nil }

func (rt *Runtime) closeNetworks() error { return nil }

func (rt *Runtime) firewallOptions(string, map[string]string) {}
