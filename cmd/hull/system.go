package main

import (
	"context"
	"errors"
	"fmt"
)

// systemGroup is docker's "system" group: prune.
func systemGroup() *command {
	return &command{
		name:  "system",
		short: "Manage hull",
		sub:   []*command{systemPruneCmd()},
	}
}

// systemPruneCmd is docker system prune: stopped containers, unused
// networks and dangling images of the root, then what is left on the
// host of hull roots that were deleted (Runtime.Sweep): that part is
// hull's own, and it is here because a user cleaning up after crashed
// tests looks here.
func systemPruneCmd() *command {
	return &command{
		name:  "prune",
		short: "Remove unused data, and what deleted roots left on the host",
		setup: func(fs *flags) action {
			var force bool
			fs.Bool(&force, "f", "force", "Do not prompt for confirmation")
			return func(ctx context.Context, e *env, _ []string) error {
				if !force && !confirm(e, `WARNING! This will remove:
  - all stopped containers
  - all networks not used by at least one container
  - all dangling images
  - the containers (running ones too), cgroups, bridges and rules
    of hull roots that were deleted`) {
					return nil
				}
				return systemPrune(ctx, e)
			}
		},
	}
}

func systemPrune(ctx context.Context, e *env) error {
	rt, err := e.runtime(ctx)
	if err != nil {
		return err
	}
	section := func(title string, items []string) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintln(e.stdout, title)
		for _, it := range items {
			fmt.Fprintln(e.stdout, it)
		}
		fmt.Fprintln(e.stdout)
	}
	var errs []error
	crep, err := rt.PruneContainers(ctx)
	section("Deleted Containers:", crep.ContainersDeleted)
	errs = append(errs, err)
	nrep, err := rt.PruneNetworks(ctx)
	section("Deleted Networks:", nrep.NetworksDeleted)
	errs = append(errs, err)
	irep, err := rt.Prune(ctx)
	var images []string
	for _, d := range irep.ImagesDeleted {
		images = append(images, "deleted: "+d)
	}
	section("Deleted Images:", images)
	errs = append(errs, err)
	srep, err := rt.Sweep(ctx)
	section("Swept Roots (deleted; their host objects removed):", srep.RootsSwept)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Total reclaimed space: %s\n", humanSize(irep.SpaceReclaimed, 4))
	return nil
}
