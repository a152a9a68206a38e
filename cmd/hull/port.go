package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// portCmd is `hull port CONTAINER [PRIVATE_PORT[/PROTO]]`, like docker port:
// the container's published ports, "80/tcp -> 0.0.0.0:32768", or only the
// host addresses of one container port.
func portCmd() *command {
	return &command{
		name: "port", args: "CONTAINER [PRIVATE_PORT[/PROTO]]", minArgs: 1, maxArgs: 2,
		short: "List port mappings or a specific mapping for the container",
		setup: func(*flags) action {
			return func(ctx context.Context, e *env, args []string) error {
				c, err := lookupContainer(ctx, e, args[0])
				if err != nil {
					return err
				}
				in, err := c.Inspect(ctx)
				if err != nil {
					return err
				}
				ports := in.NetworkSettings.Ports
				if len(args) == 1 {
					for _, p := range ports {
						fmt.Fprintln(e.stdout, p)
					}
					return nil
				}
				num, proto, _ := strings.Cut(args[1], "/")
				if proto == "" {
					proto = "tcp"
				}
				n, err := strconv.ParseUint(num, 10, 16)
				if err != nil {
					return usageErrorf("hull port", "invalid port %q", args[1])
				}
				found := false
				for _, p := range ports {
					if p.ContainerPort == uint16(n) && p.Proto == proto {
						fmt.Fprintf(e.stdout, "%s:%d\n", p.HostIP, p.HostPort)
						found = true
					}
				}
				if !found {
					return fmt.Errorf("no public port '%s' published for %s", args[1], args[0])
				}
				return nil
			}
		},
	}
}
