package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hullbox/hull"
)

// The network commands: hull network create|ls|inspect|rm|connect|
// disconnect|prune, and the --network flag of run and create.

func networkGroup() *command {
	return &command{
		name:  "network",
		short: "Manage networks",
		sub: []*command{
			networkCreateCmd(), networkLsCmd(), networkInspectCmd(), networkRmCmd(),
			networkConnectCmd(), networkDisconnectCmd(), networkPruneCmd(),
		},
	}
}

func networkCreateCmd() *command {
	return &command{
		name:    "create",
		args:    "NETWORK",
		short:   "Create a network",
		minArgs: 1, maxArgs: 1,
		setup: func(fs *flags) action {
			var subnet, gateway, ipRange string
			var internal bool
			var labels []string
			fs.String(&subnet, "", "subnet", "string", "Subnet in CIDR format that represents a network segment")
			fs.String(&gateway, "", "gateway", "string", "IPv4 Gateway for the master subnet")
			fs.String(&ipRange, "", "ip-range", "string", "Allocate container ip from a sub-range")
			fs.Bool(&internal, "", "internal", "Restrict external access to the network")
			fs.Strings(&labels, "", "label", "list", "Set metadata on a network")
			return func(ctx context.Context, e *env, args []string) error {
				var opts []hull.NetworkOption
				if subnet != "" {
					opts = append(opts, hull.WithSubnet(subnet))
				}
				if gateway != "" {
					opts = append(opts, hull.WithGateway(gateway))
				}
				if ipRange != "" {
					opts = append(opts, hull.WithIPRange(ipRange))
				}
				if internal {
					opts = append(opts, hull.WithInternal())
				}
				if len(labels) > 0 {
					m := map[string]string{}
					for _, l := range labels {
						k, v, _ := strings.Cut(l, "=")
						m[k] = v
					}
					opts = append(opts, hull.WithNetworkLabels(m))
				}
				rt, err := e.runtime(ctx)
				if err != nil {
					return err
				}
				n, err := rt.CreateNetwork(ctx, args[0], opts...)
				if err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, n.ID())
				return nil
			}
		},
	}
}

func networkLsCmd() *command {
	return &command{
		name:    "ls",
		aliases: []string{"list"},
		short:   "List networks",
		setup: func(fs *flags) action {
			var quiet, noTrunc bool
			fs.Bool(&quiet, "q", "quiet", "Only display network IDs")
			fs.Bool(&noTrunc, "", "no-trunc", "Do not truncate the output")
			return func(ctx context.Context, e *env, _ []string) error {
				rt, err := e.runtime(ctx)
				if err != nil {
					return err
				}
				nets, err := rt.Networks(ctx)
				if err != nil {
					return err
				}
				if quiet {
					for _, n := range nets {
						fmt.Fprintln(e.stdout, shortID(n.ID(), noTrunc))
					}
					return nil
				}
				tw := newTable(e.stdout, 0, 4)
				fmt.Fprintln(tw, "NETWORK ID\tNAME\tDRIVER\tSCOPE")
				for _, n := range nets {
					in, err := n.Inspect(ctx)
					if errors.Is(err, hull.ErrNotFound) {
						continue // removed meanwhile
					} else if err != nil {
						return err
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", shortID(n.ID(), noTrunc), n.Name(), in.Driver, in.Scope)
				}
				return tw.Flush()
			}
		},
	}
}

func networkInspectCmd() *command {
	return inspectNamedCmd("network", "networks", "Format output using a Go template ('json' function included)",
		func(ctx context.Context, rt *hull.Runtime, name string) (hull.NetworkInspect, error) {
			n, err := rt.Network(ctx, name)
			if err != nil {
				return hull.NetworkInspect{}, err
			}
			return n.Inspect(ctx)
		})
}

func networkRmCmd() *command {
	return &command{
		name:    "rm",
		aliases: []string{"remove"},
		args:    "NETWORK [NETWORK...]",
		short:   "Remove one or more networks",
		minArgs: 1, maxArgs: -1,
		setup: func(fs *flags) action {
			return func(ctx context.Context, e *env, args []string) error {
				rt, err := e.runtime(ctx)
				if err != nil {
					return err
				}
				var errs []string
				for _, name := range args {
					n, err := rt.Network(ctx, name)
					if err == nil {
						err = n.Remove(ctx)
					}
					if err != nil {
						errs = append(errs, "Error response: "+err.Error())
						continue
					}
					fmt.Fprintln(e.stdout, name)
				}
				return reportErrors(e, errs)
			}
		},
	}
}

// networkAndContainer looks up the NETWORK CONTAINER arguments.
func networkAndContainer(ctx context.Context, e *env, args []string) (*hull.Network, *hull.Container, error) {
	rt, err := e.runtime(ctx)
	if err != nil {
		return nil, nil, err
	}
	n, err := rt.Network(ctx, args[0])
	if err != nil {
		return nil, nil, err
	}
	c, err := rt.Container(ctx, args[1])
	if err != nil {
		return nil, nil, err
	}
	return n, c, nil
}

func networkConnectCmd() *command {
	return &command{
		name:    "connect",
		args:    "NETWORK CONTAINER",
		short:   "Connect a container to a network",
		minArgs: 2, maxArgs: 2,
		setup: func(fs *flags) action {
			var aliases []string
			var ip string
			fs.Strings(&aliases, "", "alias", "list", "Add network-scoped alias for the container")
			fs.String(&ip, "", "ip", "string", "IPv4 address (e.g., 172.30.100.104)")
			return func(ctx context.Context, e *env, args []string) error {
				n, c, err := networkAndContainer(ctx, e, args)
				if err != nil {
					return err
				}
				var opts []hull.EndpointOption
				if len(aliases) > 0 {
					opts = append(opts, hull.WithAlias(aliases...))
				}
				if ip != "" {
					opts = append(opts, hull.WithIP(ip))
				}
				return n.Connect(ctx, c, opts...)
			}
		},
	}
}

func networkDisconnectCmd() *command {
	return &command{
		name:    "disconnect",
		args:    "NETWORK CONTAINER",
		short:   "Disconnect a container from a network",
		minArgs: 2, maxArgs: 2,
		setup: func(fs *flags) action {
			return func(ctx context.Context, e *env, args []string) error {
				n, c, err := networkAndContainer(ctx, e, args)
				if err != nil {
					return err
				}
				return n.Disconnect(ctx, c)
			}
		},
	}
}

func networkPruneCmd() *command {
	return &command{
		name:  "prune",
		short: "Remove all unused networks",
		setup: func(fs *flags) action {
			var force bool
			fs.Bool(&force, "f", "force", "Do not prompt for confirmation")
			return func(ctx context.Context, e *env, _ []string) error {
				if !force && !confirm(e, "WARNING! This will remove all custom networks not used by at least one container.") {
					return nil
				}
				rt, err := e.runtime(ctx)
				if err != nil {
					return err
				}
				rep, err := rt.PruneNetworks(ctx)
				if len(rep.NetworksDeleted) > 0 {
					fmt.Fprintln(e.stdout, "Deleted Networks:")
					for _, n := range rep.NetworksDeleted {
						fmt.Fprintln(e.stdout, n)
					}
				}
				return err
			}
		},
	}
}

// networkOptions adds run's --network and --network-alias flags to opts:
// a mode (bridge, none, host, container:X) or networks by name, one per
// --network.
func (f *runFlags) networkOptions(ctx context.Context, e *env, path string, opts []hull.RunOption) ([]hull.RunOption, error) {
	aliases := f.netAliases
	if len(f.networks) == 0 {
		if len(aliases) > 0 {
			return nil, usageErrorf(path, "--network-alias needs a user-defined --network")
		}
		return opts, nil
	}
	for i, name := range f.networks {
		switch mode := hull.NetworkMode(name); {
		case name == "default":
			mode = hull.NetworkModeBridge
			fallthrough
		case mode == hull.NetworkModeBridge || mode == hull.NetworkModeNone || mode == hull.NetworkModeHost || strings.HasPrefix(name, "container:"):
			opts = append(opts, hull.WithNetworkMode(mode))
			continue
		}
		rt, err := e.runtime(ctx)
		if err != nil {
			return nil, err
		}
		n, err := rt.Network(ctx, name)
		if err != nil {
			return nil, err
		}
		var eps []hull.EndpointOption
		if i == 0 && len(aliases) > 0 {
			eps = append(eps, hull.WithAlias(aliases...)) // docker: aliases apply to the first network
		}
		opts = append(opts, hull.WithNetwork(n, eps...))
	}
	return opts, nil
}
