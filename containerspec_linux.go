package hull

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/hullbox/hull/internal/archive"
	"github.com/hullbox/hull/internal/cgroup"
	"github.com/hullbox/hull/internal/spec"
	"github.com/hullbox/hull/internal/store"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// buildSpec makes the container's OCI spec with internal/spec (Docker's
// defaults and precedence). The rootfs exists only in the container's
// mount namespace, so the user is resolved in the image's layers
// (archive.LayerFS). etc holds the container's /etc files to bind in.
func buildSpec(id, rootfs string, img *Image, snaps []string, rc *runConfig, etc map[string]string) (*specs.Spec, error) {
	o := spec.Options{
		ID: id, Hostname: rc.hostname, Image: img.Config(),
		Cmd: rc.cmd, Entrypoint: rc.entrypoint, EntrypointSet: rc.entrySet,
		Env: rc.env, WorkingDir: rc.workdir, User: rc.user,
		Memory: rc.memory, PidsLimit: rc.pidsLimit,
		CgroupsPath: cgroup.Path(id),
		UserFS:      archive.LayerFS(snaps),
	}
	rc.opts.specOptions(&o)
	o.Mounts = append(o.Mounts, rc.specMounts()...)
	o.TTY = rc.stdio.tty
	for _, dst := range slices.Sorted(maps.Keys(etc)) {
		o.Mounts = append(o.Mounts, specs.Mount{Destination: dst, Type: "bind", Source: etc[dst], Options: []string{"rbind", "rprivate"}})
	}
	sp, err := spec.Generate(rootfs, o)
	if errors.Is(err, spec.ErrInvalid) || errors.Is(err, spec.ErrUnknownUser) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return sp, err
}

func holdFor(st *containerState) store.Hold {
	return store.Hold{ID: st.ID, Image: st.ImageDigest, Snapshots: st.ChainIDs}
}
